"""Fit quality on mixes that grafx did not make: targets mixed by pedalboard's JUCE effects.

For each of ``--mixes`` multitracks (the demo's synthesised drums/bass/chords/lead with a
different seed and loop offset per mix; ``--source sonic-pi`` for CC0/MIT loops from the
Debian package ``sonic-pi-samples`` when it is installed; ``--source soundfont`` for five stems
of sampled General MIDI instruments played by FluidSynth, see ``sampled_stems.py``), every stem goes through a pedalboard
chain with settings drawn at random (seeded): low shelf, peak and high shelf EQ, compressor,
gain, constant-power pan, sometimes a delay, and a reverb; the stems are summed into the
target. Then ``grafx fit`` (the command itself, in a subprocess: the same code and defaults a
user gets) fits its console to the target with a time budget, and the script prints per mix
the metrics (:func:`grafx.metrics.mix_metrics`) of

- the fitted mix (``fitted.wav`` of the fit),
- the least-squares gain mix (:func:`grafx.baseline.least_squares_gain_mix`),
- the plain sum of the stems,

with the fit's steps, wall time and CPU time (both torch threads), and the ratio of the fitted
mix's STFT distance to the gain mix's. Issue 10's target: at most 0.5 on every mix, with a
10-minute budget per mix on 2 CPU threads (``--minutes 10``, the default).

A second table gives per target what a listener reads (:func:`grafx.metrics.descriptor_errors`)
for the fitted mix and, with ``--prune``, for ``grafx prune``'s mix of the fit (tau 0.01,
``--prune-rounds`` rounds of ``--prune-steps`` fine-tuning steps, the descriptor tolerances at
their defaults): STFT distance ratio to the gain mix, rms and largest mid third-octave band
error from 40 Hz to 16 kHz (or the top band the rate holds), loudness error, rms width error,
and the pruned graph's rho. ``--loss`` picks the fit's objective (``grafx fit --loss``),
``--console`` its console (``grafx fit --console``).

    PYTHONPATH=src python benchmarks/fit_quality.py [--mixes 4] [--minutes 10] [--seconds 10]
        [--effects eq,compressor,gain,pan,delay,reverb] [--source synth|sonic-pi|soundfont]
        [--loss band|paper] [--console peak|paper] [--prune] [--prune-rounds 12]
        [--prune-steps 500]
        [--work DIR] [--prune-name pruned]

``--work DIR`` keeps each mix's stems, target, fit and pruned graph in ``DIR/mixN`` and reuses
a fit already there, so that two versions of ``grafx prune`` (``PYTHONPATH`` of each) can be
compared on the same fits, each into its own ``--prune-name`` folder.

``--effects`` keeps only some of the effects (to find which ones the console cannot reach).
Needs the ``bench`` extra (pedalboard). Writes ``benchmarks/results/fit_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

EFFECTS = ("eq", "compressor", "gain", "pan", "delay", "reverb")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
RESULTS = Path(__file__).resolve().parent / "results"


def draw_settings(rng: np.random.Generator) -> dict:
    """Random settings of one stem's chain, in pedalboard's units."""
    return {
        "low_shelf": {"hz": rng.uniform(80, 250), "db": rng.uniform(-6, 6)},
        "peak": {"hz": rng.uniform(300, 4000), "db": rng.uniform(-8, 8), "q": rng.uniform(0.7, 2)},
        "high_shelf": {"hz": rng.uniform(4000, 10000), "db": rng.uniform(-6, 6)},
        "compressor": {
            "threshold_db": rng.uniform(-30, -10),
            "ratio": rng.uniform(2, 8),
            "attack_ms": rng.uniform(1, 30),
            "release_ms": rng.uniform(50, 300),
        },
        "gain_db": rng.uniform(-12, 3),
        "pan": rng.uniform(-0.8, 0.8),
        "delay": (
            {
                "seconds": rng.uniform(0.1, 0.5),
                "feedback": rng.uniform(0, 0.4),
                "mix": rng.uniform(0.1, 0.3),
            }
            if rng.random() < 0.5
            else None
        ),
        "reverb": {
            "room_size": rng.uniform(0.2, 0.9),
            "damping": rng.uniform(0.2, 0.8),
            "wet_level": rng.uniform(0.05, 0.35),
            "dry_level": rng.uniform(0.8, 1.0),
            "width": rng.uniform(0.5, 1.0),
        },
    }


def process_stem(stem: np.ndarray, settings: dict, sample_rate: int, effects) -> np.ndarray:
    """One stem ``(2, L)`` through its pedalboard chain (only the ``effects`` named)."""
    import pedalboard as pb

    def board(plugins):
        return pb.Pedalboard(plugins)(stem_now, sample_rate)

    stem_now = stem.astype(np.float32)
    before = []
    if "eq" in effects:
        s = settings
        before += [
            pb.LowShelfFilter(s["low_shelf"]["hz"], s["low_shelf"]["db"]),
            pb.PeakFilter(s["peak"]["hz"], s["peak"]["db"], s["peak"]["q"]),
            pb.HighShelfFilter(s["high_shelf"]["hz"], s["high_shelf"]["db"]),
        ]
    if "compressor" in effects:
        before.append(pb.Compressor(**settings["compressor"]))
    if "gain" in effects:
        before.append(pb.Gain(settings["gain_db"]))
    if before:
        stem_now = board(before)
    if "pan" in effects:  # constant power, unity in the centre (as grafx's StereoGain)
        angle = (settings["pan"] + 1) * math.pi / 4
        stem_now = stem_now * (np.sqrt(2) * np.array([[math.cos(angle)], [math.sin(angle)]]))
        stem_now = stem_now.astype(np.float32)
    after = []
    if "delay" in effects and settings["delay"] is not None:
        d = settings["delay"]
        after.append(pb.Delay(d["seconds"], d["feedback"], d["mix"]))
    if "reverb" in effects:
        after.append(pb.Reverb(**settings["reverb"]))
    if after:
        stem_now = board(after)
    return stem_now


def synth_stems(index: int, sample_rate: int, seconds: float) -> tuple[torch.Tensor, list[str]]:
    """The demo's four-stem loop, seeded by ``index`` and started at a different beat."""
    from grafx.demo import synthesize_multitrack

    stems, names = synthesize_multitrack(sample_rate, seconds + 8.0, seed=index)
    offset = int(round((index % 16) * 0.5 * sample_rate))
    return stems[..., offset : offset + int(round(seconds * sample_rate))], names


def sonic_pi_stems(
    index: int, sample_rate: int, seconds: float, num_stems: int
) -> tuple[torch.Tensor, list[str]]:
    """``num_stems`` loops of sonic-pi-samples, tiled to ``seconds``, chosen by ``index``."""
    from grafx.io.audio import read_audio, to_stereo

    loops = sorted(SONIC_PI.glob("loop_*.flac")) + sorted(SONIC_PI.glob("ambi_*.flac"))
    if len(loops) < num_stems:
        sys.exit(f"fit_quality: --source sonic-pi needs the sonic-pi-samples package in {SONIC_PI}")
    rng = np.random.default_rng(1000 + index)
    picks = rng.choice(len(loops), num_stems, replace=False)
    length = int(round(seconds * sample_rate))
    stems = []
    for i in picks:
        audio = to_stereo(read_audio(loops[i], sample_rate)[0], str(loops[i]))
        reps = -(-length // audio.shape[-1])
        audio = audio.repeat(1, reps)[:, :length]
        stems.append(0.5 * audio / audio.abs().max().clamp_min(1e-9))
    return torch.stack(stems), [loops[i].stem for i in picks]


def make_target(
    index: int,
    sample_rate: int,
    seconds: float,
    seed: int = 0,
    effects=EFFECTS,
    source: str = "synth",
    num_stems: int = 5,
    keep: float = 1.0,
) -> tuple[torch.Tensor, list[str], torch.Tensor, list[dict]]:
    """Mix ``index`` of the benchmark: ``(stems (K, 2, L), names, target (2, L), settings)``.

    The stems (``source`` "synth", "sonic-pi" or "soundfont": :mod:`sampled_stems`), each through its pedalboard chain with
    settings drawn from ``seed * 1000 + index``, summed. With ``keep < 1`` each stem keeps its
    fader (gain, pan) and each other effect only with probability ``keep`` (drawn from
    ``10_000 + seed * 1000 + index``, so the settings stay those of the full mix).
    ``settings[k]["effects"]`` names the effects stem ``k`` went through. ``bench_prune.py``
    imports it.
    """
    if source == "sonic-pi":
        stems, names = sonic_pi_stems(index, sample_rate, seconds, num_stems)
    elif source == "soundfont":
        from sampled_stems import soundfont_stems

        stems, names = soundfont_stems(index, sample_rate, seconds)
    else:
        stems, names = synth_stems(index, sample_rate, seconds)
    rng = np.random.default_rng(seed * 1000 + index)
    settings = [draw_settings(rng) for _ in names]
    draw = np.random.default_rng(10_000 + seed * 1000 + index)
    for stem_settings in settings:
        chain = [e for e in effects if e in ("gain", "pan") or draw.random() < keep]
        if stem_settings["delay"] is None and "delay" in chain:
            chain.remove("delay")
        stem_settings["effects"] = chain
    wet = [
        process_stem(s.numpy(), st, sample_rate, st["effects"])
        for s, st in zip(stems, settings, strict=True)
    ]
    target = torch.from_numpy(np.sum(wet, axis=0).astype(np.float32))
    return stems, names, target, settings


def run_fit(folder: Path, names, args) -> dict:
    """``grafx fit`` on the written files; its metrics.json plus wall and CPU seconds."""
    command = [
        sys.executable,
        "-m",
        "grafx",
        "--threads",
        str(args.threads),
        "fit",
        "--stems",
        *(str(folder / f"{n}.wav") for n in names),
        "--target",
        str(folder / "target.wav"),
        "--out",
        str(folder / "fit"),
        "--minutes",
        str(args.minutes),
        "--steps",
        str(args.steps),
        "--seed",
        "0",
        "--loss",
        args.loss,
        "--console",
        args.console,
        "--quiet",
        "--restart",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"fit_quality: grafx fit failed:\n{done.stderr}")
    summary = json.loads((folder / "fit" / "metrics.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"summary": summary, "wall_s": wall, "cpu_s": cpu, "log": done.stdout}


def run_prune(folder: Path, args) -> dict:
    """``grafx prune`` (tau 0.01) on the fit's folder; its metrics.json plus wall seconds."""
    command = [
        sys.executable, "-m", "grafx", "--threads", str(args.threads), "prune",
        str(folder / "fit"), "--out", str(folder / args.prune_name), "--tolerance", "0.01",
        "--rounds", str(args.prune_rounds), "--finetune-steps", str(args.prune_steps),
        "--quiet", "--restart",
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"fit_quality: grafx prune failed:\n{done.stderr}")
    summary = json.loads((folder / args.prune_name / "metrics.json").read_text())
    return {"summary": summary, "wall_s": time.perf_counter() - began}


def listener_row(mix, target, rate, gain_distance: float) -> dict:
    """The per-target figures of the second table for one mix."""
    from grafx.metrics import descriptor_errors, mix_metrics

    errors = descriptor_errors(mix, target, rate)
    distance = mix_metrics(mix, target, rate)["stft_distance"]
    return {
        "stft_ratio": distance / gain_distance,
        "band_rms_db": errors["band_rms_db"],
        "band_max_db": errors["band_max_db"],
        "loudness_diff_lu": errors["loudness_diff_lu"],
        "width_rms_db": errors["width_rms_db"],
        "band_range_hz": errors["band_range_hz"],
    }


def measure_mix(index: int, args, folder: Path) -> dict:
    from grafx.baseline import least_squares_gain_mix
    from grafx.io.audio import read_audio, write_audio
    from grafx.metrics import mix_metrics

    rate, effects = args.sample_rate, args.effects
    stems, names, target, settings = make_target(
        index, rate, args.seconds, args.seed, effects, args.source, args.stems
    )
    for name, stem in zip(names, stems, strict=True):
        write_audio(folder / f"{name}.wav", stem, rate)
    write_audio(folder / "target.wav", target, rate)

    fit_metrics = folder / "fit" / "metrics.json"
    if args.work and fit_metrics.exists():  # reuse the fit kept in --work
        fit = {
            "summary": json.loads(fit_metrics.read_text()),
            "wall_s": math.nan,
            "cpu_s": math.nan,
        }
    else:
        fit = run_fit(folder, names, args)
    fitted, fitted_rate = read_audio(folder / "fit" / "fitted.wav")
    if fitted_rate != rate:
        sys.exit(f"fit_quality: fitted.wav is at {fitted_rate} Hz, the target at {rate} Hz")
    gain_mix = least_squares_gain_mix(stems, target)
    rows = {
        "fitted": mix_metrics(fitted, target, rate),
        "ls_gain": mix_metrics(gain_mix.mix, target, rate),
        "sum": mix_metrics(stems.sum(0), target, rate),
    }
    summary = fit["summary"]
    gain_distance = rows["ls_gain"]["stft_distance"]
    listener = {"fitted": listener_row(fitted, target, rate, gain_distance)}
    if args.prune:
        pruned = run_prune(folder, args)
        pruned_mix, _ = read_audio(folder / args.prune_name / "pruned.wav")
        listener["pruned"] = listener_row(pruned_mix, target, rate, gain_distance)
        listener["pruned"]["rho"] = pruned["summary"]["rho"]
        listener["pruned"]["wall_s"] = pruned["wall_s"]
    return {
        "listener": listener,
        "mix": index,
        "stems": names,
        "effects": list(effects),
        "settings": settings,
        "metrics": rows,
        "ls_gains": gain_mix.gains.tolist(),
        "steps": summary["steps"],
        "stop_reason": summary["stop_reason"],
        "loss_start": summary["loss_start"],
        "loss_end": summary["loss_end"],
        "fit_wall_s": fit["wall_s"],
        "fit_loop_s": summary["seconds"],
        "fit_cpu_s": fit["cpu_s"],
        "ratio": rows["fitted"]["stft_distance"] / rows["ls_gain"]["stft_distance"],
        "load": os.getloadavg(),
    }


def print_table(results: list[dict]) -> None:
    print(
        "| mix | mix of | mix loss | STFT dist. | SNR dB | loudness diff LU | steps | "
        "wall s | CPU s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    labels = {"fitted": "fitted console", "ls_gain": "least-squares gains", "sum": "plain sum"}
    for r in results:
        for key, label in labels.items():
            m = r["metrics"][key]
            fit_cols = (
                f"{r['steps']} | {r['fit_wall_s']:.0f} | {r['fit_cpu_s']:.0f}"
                if key == "fitted"
                else " | | "
            )
            print(
                f"| {r['mix']} | {label} | {m['mix_loss']:.3f} | {m['stft_distance']:.3f} | "
                f"{m['snr_db']:.2f} | {m['loudness_diff_lu']:+.2f} | {fit_cols} |"
            )
    print()
    print("| mix | fitted / least-squares STFT distance | target <= 0.5 |")
    print("| --- | --- | --- |")
    for r in results:
        print(f"| {r['mix']} | {r['ratio']:.3f} | {'met' if r['ratio'] <= 0.5 else 'NOT met'} |")
    print()
    print(
        "| mix | mix of | STFT dist. / gain mix's | band rms dB | band max dB | loudness LU | "
        "width rms dB | rho |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        for key, row in r["listener"].items():
            rho = f"{row['rho']:.2f}" if "rho" in row else ""
            print(
                f"| {r['mix']} | {key} | {row['stft_ratio']:.3f} | {row['band_rms_db']:.2f} | "
                f"{row['band_max_db']:.2f} | {row['loudness_diff_lu']:+.2f} | "
                f"{row['width_rms_db']:.2f} | {rho} |"
            )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mixes", type=int, default=4, help="multitracks (default: 4)")
    p.add_argument("--minutes", type=float, default=10.0, help="fit budget per mix (default: 10)")
    p.add_argument("--steps", type=int, default=12000, help="step cap per fit (default: 12000)")
    p.add_argument("--seconds", type=float, default=10.0, help="song length (default: 10)")
    p.add_argument("--sample-rate", type=int, default=30000, help="rate of everything (30 kHz)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the fit (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the effect settings")
    p.add_argument("--first", type=int, default=0, help="index of the first mix (default: 0)")
    p.add_argument(
        "--effects",
        type=lambda t: tuple(t.split(",")) if t else (),
        default=EFFECTS,
        help=f"comma-separated subset of {','.join(EFFECTS)} (default: all)",
    )
    p.add_argument("--source", choices=("synth", "sonic-pi", "soundfont"), default="synth")
    p.add_argument("--stems", type=int, default=5, help="stems per mix with --source sonic-pi")
    p.add_argument("--loss", choices=("band", "paper"), default="band", help="the fit's loss")
    p.add_argument(
        "--console", choices=("peak", "paper"), default="peak", help="grafx fit --console"
    )
    p.add_argument("--prune", action="store_true", help="also prune each fit (tau 0.01)")
    p.add_argument("--prune-rounds", type=int, default=12, help="prune rounds (default: 12)")
    p.add_argument(
        "--prune-steps", type=int, default=500, help="fine-tuning steps a round (default: 500)"
    )
    p.add_argument("--out", default=str(RESULTS / "fit_quality.json"), help="JSON results")
    p.add_argument(
        "--work",
        default="",
        help="keep each mix's files and fit in WORK/mixN (default: a temporary folder); a fit "
        "already there is reused, so that two pruning searches can be compared on the same fits",
    )
    p.add_argument(
        "--prune-name", default="pruned", help="the pruned output's folder in the mix's folder"
    )
    args = p.parse_args(argv)
    unknown = set(args.effects) - set(EFFECTS)
    if unknown:
        p.error(f"unknown effects {sorted(unknown)}; choose from {','.join(EFFECTS)}")
    torch.set_num_threads(args.threads)

    print(
        f"fit_quality: {args.mixes} mixes of {args.seconds:g} s at {args.sample_rate} Hz "
        f"({args.source}), effects {','.join(args.effects) or 'none'}, budget "
        f"{args.minutes:g} min or {args.steps} steps per fit, {args.threads} threads; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="fit_quality_") as tmp:
        for index in range(args.first, args.first + args.mixes):
            folder = Path(args.work or tmp) / f"mix{index}"
            folder.mkdir(parents=True, exist_ok=True)
            results.append(measure_mix(index, args, folder))
            r = results[-1]
            print(
                f"mix {index}: ratio {r['ratio']:.3f} after {r['steps']} steps "
                f"({r['fit_wall_s']:.0f} s wall, {r['fit_cpu_s']:.0f} s CPU, load "
                f"{r['load'][0]:.1f})",
                flush=True,
            )
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print()
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
