"""Does a master strip (EQ, bus compression, limiter) close the gap on mastered mixes?

Targets: the stems of ``fit_quality.py`` (:func:`fit_quality.make_target`, each stem through
its random pedalboard chain), summed, normalised to a 0 dBFS peak, then through a random
pedalboard master chain: low shelf and high shelf EQ, a compressor (threshold -18 to -12 dB,
ratio 3 to 4) and a limiter (-3 to -1 dB). For each target, ``grafx fit`` fits the default
console and the console with ``--master eq,compressor,limiter`` with the same time budget
(the order alternates from target to target), and the script prints per fit the STFT
distance over the least-squares gain mix's, the third-octave band rms and max error, the
loudness error (:func:`grafx.metrics.descriptor_errors`) and the fit's steps. ``--keep DIR`` keeps the fits (their ``settings.txt`` shows what the
master strip learned).

    PYTHONPATH=src python benchmarks/master_bus.py [--mixes 3] [--minutes 3] [--seconds 8]

Needs the ``bench`` extra (pedalboard). Writes ``benchmarks/results/master_bus.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_quality import RESULTS, listener_row, make_target  # noqa: E402

MASTER = "eq,compressor,limiter"


def draw_master(rng: np.random.Generator) -> dict:
    """Random settings of the master chain, in pedalboard's units."""
    return {
        "low_shelf": {"hz": rng.uniform(80, 200), "db": rng.uniform(-4, 4)},
        "high_shelf": {"hz": rng.uniform(5000, 10000), "db": rng.uniform(-4, 4)},
        "compressor": {
            "threshold_db": rng.uniform(-18, -12),
            "ratio": rng.uniform(3, 4),
            "attack_ms": rng.uniform(5, 30),
            "release_ms": rng.uniform(100, 300),
        },
        "limiter": {"threshold_db": rng.uniform(-3, -1), "release_ms": 100.0},
    }


def master_target(mix: torch.Tensor, settings: dict, sample_rate: int) -> torch.Tensor:
    """The summed mix ``(2, L)``, peak-normalised to 0 dBFS, through the master chain."""
    import pedalboard as pb

    audio = (mix / mix.abs().max().clamp_min(1e-9)).numpy().astype(np.float32)
    s = settings
    board = pb.Pedalboard(
        [
            pb.LowShelfFilter(s["low_shelf"]["hz"], s["low_shelf"]["db"]),
            pb.HighShelfFilter(s["high_shelf"]["hz"], s["high_shelf"]["db"]),
            pb.Compressor(**s["compressor"]),
            pb.Limiter(**s["limiter"]),
        ]
    )
    return torch.from_numpy(board(audio, sample_rate).astype(np.float32))


def run_fit(folder: Path, names: list[str], out: str, master: str | None, args) -> dict:
    """``grafx fit`` (in a subprocess) into ``folder/out``; its metrics.json and wall time."""
    command = [
        sys.executable, "-m", "grafx", "--threads", str(args.threads), "fit",
        "--stems", *(str(folder / f"{n}.wav") for n in names),
        "--target", str(folder / "target.wav"), "--out", str(folder / out),
        "--minutes", str(args.minutes), "--seed", "0", "--quiet", "--restart",
    ]  # fmt: skip
    if master:
        command += ["--master", master]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"master_bus: grafx fit failed:\n{done.stderr}")
    summary = json.loads((folder / out / "metrics.json").read_text())
    return {"summary": summary, "wall_s": time.perf_counter() - began}


def measure(index: int, args, folder: Path) -> dict:
    from grafx.baseline import least_squares_gain_mix
    from grafx.io.audio import read_audio, write_audio
    from grafx.metrics import mix_metrics

    rate = args.sample_rate
    stems, names, mix, _ = make_target(index, rate, args.seconds, args.seed)
    settings = draw_master(np.random.default_rng(50_000 + args.seed * 1000 + index))
    target = master_target(mix, settings, rate)
    for name, stem in zip(names, stems, strict=True):
        write_audio(folder / f"{name}.wav", stem, rate)
    write_audio(folder / "target.wav", target, rate)
    gain_distance = mix_metrics(least_squares_gain_mix(stems, target).mix, target, rate)[
        "stft_distance"
    ]
    runs = [
        (label, m) for label, m in (("default", None), ("master", MASTER)) if label in args.only
    ]
    if index % 2:
        runs.reverse()  # alternate which console fits first
    rows = {}
    for label, master in runs:
        fit = run_fit(folder, names, label, master, args)
        fitted, _ = read_audio(folder / label / "fitted.wav")
        row = listener_row(fitted, target, rate, gain_distance)
        row.update(steps=fit["summary"]["steps"], wall_s=fit["wall_s"])
        rows[label] = row
    return {"mix": index, "master_settings": settings, "fits": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixes", type=int, default=3)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default="master_bus.json", help="file name in benchmarks/results")
    p.add_argument("--keep", default=None, help="keep the fits' folders here (default: removed)")
    p.add_argument("--only", nargs="+", default=["default", "master"], help="consoles to fit")
    p.add_argument("--first", type=int, default=0, help="index of the first target")
    args = p.parse_args()
    results = []
    print(
        "| mix | console | STFT dist. / gain mix's | band rms dB | band max dB | loudness LU | steps |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            tmp = args.keep
        for index in range(args.first, args.first + args.mixes):
            folder = Path(tmp) / f"mix{index}"
            folder.mkdir(parents=True, exist_ok=True)
            result = measure(index, args, folder)
            results.append(result)
            for label in result["fits"]:
                r = result["fits"][label]
                print(
                    f"| {index} | {label} | {r['stft_ratio']:.3f} | {r['band_rms_db']:.2f} | "
                    f"{r['band_max_db']:.2f} | {r['loudness_diff_lu']:+.2f} | {r['steps']} |",
                    flush=True,
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.json).write_text(
        json.dumps({"args": vars(args), "results": results}, indent=1, default=float)
    )


if __name__ == "__main__":
    main()
