"""The mix predictor on targets it never saw: one-pass quality, and fits warm-started from it.

Targets of two kinds, none from the training songs (those are cut from the demo loops of seeds
1000 and up, :func:`grafx.nn.train.stem_bank`):

- ``pedalboard``: the mixes of ``fit_quality.py`` (the demo's stems with seeds 0, 1, ...,
  each stem through pedalboard's EQ, compressor, gain, pan, delay and reverb);
- ``console``: songs drawn like training songs (:func:`grafx.nn.train.draw_song`) from the
  demo loops of seeds 5000 and up, rendered by the console with settings in the training
  ranges.

For each target it prints (a) the STFT distance (:func:`grafx.metrics.mix_metrics`) and the
band error (mean absolute difference in dB of the mid and side levels in the predictor's
:data:`~grafx.nn.features.NUM_BANDS` bands, over the whole song) of the one-pass prediction,
of the least-squares gain mix (:mod:`grafx.baseline`) and of the neutral console (what an
untrained predictor gives) and of the prediction as a fit's start (``start``), the predicted /
gain-mix ratio, and the prediction's
wall time (features, neutral console and the network; not the render); (b) with
``--cold-minutes M``, a cold fit (the recipe from the neutral console, ``M`` minutes) and a
warm fit (the same recipe from the prediction, the same crops, same budget): the cold fit's
final quality (mean crop loss of its last 10 steps) and the steps, seconds and CPU seconds the
warm fit took to reach it (its running 10-step mean at or below it), and their ratios (cold /
warm). ``--fit-steps N`` budgets both fits in steps instead (the learning-rate schedule then runs
over the steps; the step ratio does not depend on the machine's load). The warm fit starts
where ``grafx fit --init`` starts (``MixPredictor.predict(..., start=True)``; ``--warm-from
prediction``: from the one-pass prediction itself).

    PYTHONPATH=src python benchmarks/predictor.py [--model console] [--mixes 4] [--songs 4]
        [--seconds 10] [--sample-rate 30000] [--cold-minutes 10 | --fit-steps N]
        [--warm-from start|prediction] [--fit-targets N] [--threads 2]

Needs the ``bench`` extra (pedalboard) for the pedalboard targets (``--mixes 0`` skips them).
Writes ``benchmarks/results/predictor.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WINDOW = 10


def band_error_db(estimate: torch.Tensor, target: torch.Tensor, sample_rate: int) -> float:
    """Mean absolute dB difference of the mid and side band levels of two mixes ``(2, L)``."""
    from grafx.nn.features import band_powers

    powers = band_powers(torch.stack([estimate, target]).double(), sample_rate).mean(-1)
    levels = 10 * torch.log10(powers.clamp_min(1e-10))
    return float((levels[0] - levels[1]).abs().mean())


def pedalboard_targets(args):
    sys.path.insert(0, str(HERE))
    from fit_quality import make_target

    for index in range(args.mixes):
        stems, names, target, _ = make_target(index, args.sample_rate, args.seconds, 0)
        yield f"pedalboard{index}", stems, target


def console_targets(args):
    from grafx.demo import synthesize_multitrack
    from grafx.nn.train import draw_song
    from grafx.presets import console_processors

    processors = console_processors()
    for index in range(args.songs):
        rng = np.random.default_rng(5000 + index)
        loops = [
            synthesize_multitrack(args.sample_rate, args.seconds + 1.0, seed=5000 + 2 * index + i)[
                0
            ]
            for i in range(2)
        ]  # unseen loops: training cuts from seeds 1000-1063
        song = draw_song(
            rng,
            processors,
            args.sample_rate,
            args.seconds,
            int(rng.integers(3, 6)),
            0,
            None,
            torch.cat(loops),
        )
        yield f"console{index}", song.stems, song.target


def predict(model, stems, target, rate):
    from grafx.presets import build_mixing_console, console_parameters, console_processors
    from grafx.render.renderer import render_mix

    G, sequence = build_mixing_console(stems.shape[0])
    processors = console_processors()
    began = time.perf_counter()
    parameters = model.predict(G, processors, stems, target, rate)
    seconds = time.perf_counter() - began
    start = model.predict(G, processors, stems, target, rate, start=True)
    mix = render_mix(G, processors, parameters, stems, sequence)
    neutral = render_mix(G, processors, console_parameters(G, processors, rate), stems, sequence)
    start_mix = render_mix(G, processors, start, stems, sequence)
    return G, sequence, processors, parameters, start, mix, neutral, start_mix, seconds


def fit_curve(G, sequence, processors, stems, target, rate, parameters, minutes, seed, steps=None):
    """``[(seconds, step, loss, cpu_seconds)]`` of a recipe fit from ``parameters`` (None:
    neutral), for ``minutes`` or, with ``steps``, that many steps (the learning rate's schedule
    then runs over the steps)."""
    from grafx.fit.job import fit_job, prepare_job
    from grafx.fit.recipe import CROP_SECONDS

    crop = CROP_SECONDS if stems.shape[-1] / rate > CROP_SECONDS else None
    job = prepare_job(
        "unused",
        G,
        processors,
        stems,
        target,
        rate,
        parameters=parameters,
        type_sequence=sequence,
        crop_seconds=crop,
        log=None,
        steps=100000 if steps is None else steps,
        minutes=None if steps is not None else minutes,
        seed=seed,
        progress=False,
    )
    began, cpu, curve = time.perf_counter(), time.process_time(), []

    def record(step, loss):
        curve.append((time.perf_counter() - began, step, loss, time.process_time() - cpu))

    fit_job(job, record)
    return curve


def reach(curve, level):
    """First ``(seconds, step, cpu_seconds)`` where the running WINDOW-step mean is at or below
    ``level`` (``(None, None, None)``: never)."""
    losses = [point[2] for point in curve]
    for i in range(len(curve)):
        window = losses[max(0, i - WINDOW + 1) : i + 1]
        if len(window) == min(WINDOW, i + 1) and sum(window) / len(window) <= level:
            return curve[i][0], curve[i][1], curve[i][3]
    return None, None, None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="console", help="model file or shipped model name")
    p.add_argument("--mixes", type=int, default=4, help="pedalboard targets (default: 4)")
    p.add_argument("--songs", type=int, default=4, help="console targets (default: 4)")
    p.add_argument("--seconds", type=float, default=10.0, help="song length (default: 10)")
    p.add_argument("--sample-rate", type=int, default=30000, help="rate (default: 30000)")
    p.add_argument("--cold-minutes", type=float, default=0.0, help="cold/warm fit budget; 0: off")
    p.add_argument(
        "--fit-steps",
        type=int,
        default=0,
        help="cold/warm fit budget in steps instead of minutes (load-independent); 0: off",
    )
    p.add_argument(
        "--warm-from",
        choices=("start", "prediction"),
        default="start",
        help="the warm fit's start: the prediction as a fit's start (what grafx fit --init "
        "uses, default) or the one-pass prediction as it is",
    )
    p.add_argument(
        "--fit-targets", type=int, default=None, help="fit only the first N targets of each kind"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--out", default=str(RESULTS / "predictor.json"), help="JSON results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from grafx.baseline import least_squares_gain_mix
    from grafx.metrics import mix_metrics
    from grafx.nn.predictor import load_predictor

    model = load_predictor(args.model)
    rate = args.sample_rate
    print(
        f"predictor: model {args.model}, {args.mixes} pedalboard + {args.songs} console targets "
        f"of {args.seconds:g} s at {rate} Hz, {args.threads} threads, fits "
        f"{f'{args.fit_steps} steps' if args.fit_steps else f'{args.cold_minutes:g} min'}, warm "
        f"from the {args.warm_from}; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    targets = list(pedalboard_targets(args)) if args.mixes else []
    targets += list(console_targets(args))
    print("| target | mix | STFT dist. | band err. dB | predict s |")
    print("| --- | --- | --- | --- | --- |")
    for name, stems, target in targets:
        G, sequence, processors, parameters, start, mix, neutral, start_mix, seconds = predict(
            model, stems, target, rate
        )
        gain = least_squares_gain_mix(stems, target).mix
        row = {"target": name, "predict_s": seconds}
        mixes = (("predicted", mix), ("ls_gain", gain), ("neutral", neutral), ("start", start_mix))
        for label, audio in mixes:
            row[label] = {
                "stft_distance": mix_metrics(audio, target, rate)["stft_distance"],
                "band_error_db": band_error_db(audio, target, rate),
            }
        row["ratio"] = row["predicted"]["stft_distance"] / row["ls_gain"]["stft_distance"]
        for label in ("predicted", "ls_gain", "neutral", "start"):
            m = row[label]
            extra = f"{seconds:.2f}" if label == "predicted" else ""
            print(
                f"| {name} | {label} | {m['stft_distance']:.3f} | {m['band_error_db']:.2f} | "
                f"{extra} |",
                flush=True,
            )
        kind_index = int(name.removeprefix("pedalboard").removeprefix("console"))
        fits = args.cold_minutes > 0 or args.fit_steps > 0
        if fits and (args.fit_targets is None or kind_index < args.fit_targets):
            budget = (args.cold_minutes, 0, args.fit_steps or None)
            warm_from = start if args.warm_from == "start" else parameters
            cold = fit_curve(G, sequence, processors, stems, target, rate, None, *budget)
            warm = fit_curve(G, sequence, processors, stems, target, rate, warm_from, *budget)
            level = sum(point[2] for point in cold[-WINDOW:]) / len(cold[-WINDOW:])
            cold_s, cold_step, cold_cpu = reach(cold, level)
            warm_s, warm_step, warm_cpu = reach(warm, level)
            never = warm_s is None
            row["fit"] = {
                "warm_from": args.warm_from,
                "cold_level": level,
                "cold_steps": len(cold),
                "cold_seconds": cold[-1][0],
                "cold_reach_s": cold_s,
                "cold_reach_step": cold_step,
                "cold_reach_cpu_s": cold_cpu,
                "warm_reach_s": warm_s,
                "warm_reach_step": warm_step,
                "warm_reach_cpu_s": warm_cpu,
                "warm_steps": len(warm),
                "warm_level": sum(point[2] for point in warm[-WINDOW:]) / len(warm[-WINDOW:]),
                "speedup": None if never else cold_s / max(warm_s, 1e-9),
                "speedup_steps": None if never else (cold_step + 1) / (warm_step + 1),
                "speedup_cpu": None if never else cold_cpu / max(warm_cpu, 1e-9),
            }
            f = row["fit"]
            shown = {k: None if f[k] is None else round(f[k], 2) for k in f if "speedup" in k}
            print(
                f"  fit ({args.warm_from}): cold reaches {level:.4f} at step {cold_step} "
                f"({cold_s:.0f} s, {cold_cpu:.0f} CPU s); warm at step {warm_step} "
                f"({warm_s if never else round(warm_s)} s, "
                f"{warm_cpu if never else round(warm_cpu)} CPU s), its own end "
                f"{f['warm_level']:.4f}; speed-up steps {shown['speedup_steps']}, "
                f"seconds {shown['speedup']}, CPU {shown['speedup_cpu']}",
                flush=True,
            )
        rows.append(row)
    print()
    for kind in ("pedalboard", "console"):
        chosen = [r for r in rows if r["target"].startswith(kind)]
        if chosen:
            ratios = [r["ratio"] for r in chosen]
            times = [r["predict_s"] for r in chosen]
            print(
                f"{kind}: median predicted / gain-mix STFT distance {statistics.median(ratios):.3f} "
                f"(target <= 0.8); median predict time {statistics.median(times):.2f} s"
            )
            for key in ("speedup_steps", "speedup", "speedup_cpu"):
                ups = [r["fit"][key] or 0.0 for r in chosen if "fit" in r]
                if ups:
                    print(
                        f"{kind}: median warm-start {key} {statistics.median(ups):.2f}x (target "
                        ">= 3; 0 = the warm fit never reached the cold fit's quality)"
                    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"args": vars(args), "rows": rows, "load": os.getloadavg()}, indent=1, default=str
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
