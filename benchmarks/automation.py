"""Automation on moves grafx did not make: static against automated consoles, same budget.

Each target mixes the demo's synthesised stems (a different seed per target) through pedalboard
EQ and compression with random settings (``fit_quality.draw_settings``); on *moving* targets
numpy then applies the moves an engineer makes:

- a fader ride on every stem (a piecewise-linear dB envelope: two moves of 3-9 dB, up or down,
  each over 0.3-1 s, at random times),
- a pan sweep on one stem (from one side towards the other over 1-2 s),
- a send swell on one stem (its pedalboard reverb, wet only, rising from -30 dB to -8 dB),

and every stem's static reverb send; *static* targets keep every setting constant. The same
console (EQ, compressor, gain/pan, reverb per track) is fitted twice with the recipe and the
same number of steps: static, and with the faders (gain/pan) and the reverb sends (its gate)
automated, knots every ``--knots-every`` seconds and the total-variation penalty
(:class:`grafx.automation.smoothness.CurveSmoothness`, weight ``--smoothness``).

Per target it prints the STFT distance (:func:`grafx.metrics.mix_metrics`) of the static fit,
the automated fit and the least-squares gain mix, the ratio automated / static, the CPU seconds
of each fit, and on moving targets the rms error in dB of each recovered fader curve against
the true ride where the stem is audible (within 40 dB of its loudest second), after removing
the constant offset between them (the level a static processor of the strip takes). Then the
forward render time of the automated console against the static one (alternating, median
of 7), once with the faders, sends and compressor thresholds automated and once with every
parameter that can move (the EQ too). Goals (issue 31): moving targets 0.5x, faders 1.5 dB
rms, static 1.05x, render 1.3x.

    PYTHONPATH=src python benchmarks/automation.py [--targets 4] [--static 2] [--seconds 8]
        [--sample-rate 22050] [--steps 300]

Needs pedalboard (the ``bench`` extra). Writes ``benchmarks/results/automation.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_quality import draw_settings, synth_stems  # noqa: E402

from grafx.automation import Timeline, automate_parameters, curve_keys  # noqa: E402
from grafx.automation.smoothness import CurveSmoothness  # noqa: E402
from grafx.baseline import least_squares_gain_mix  # noqa: E402
from grafx.fit import GraphRenderer, fit_parameters  # noqa: E402
from grafx.fit.recipe import recipe_config, recipe_loss, recipe_penalties  # noqa: E402
from grafx.metrics import mix_metrics  # noqa: E402
from grafx.presets import build_mixing_console, console_parameters, console_processors  # noqa: E402

CHAIN = ("eq", "compressor", "gain_pan", "reverb")
AUTOMATED = ("gain_pan", "reverb")
RESULTS = Path(__file__).resolve().parent / "results"
LN10 = math.log(10)


def fader_ride(rng: np.random.Generator, seconds: float) -> tuple[list[float], list[float]]:
    """Knot times and dB values of a ride: two moves of 3-9 dB at random times."""
    times, values, level = [0.0], [0.0], 0.0
    for start in sorted(rng.uniform(0.5, seconds - 1.5, size=2)):
        if start <= times[-1] + 0.05:
            continue
        level += rng.choice([-1, 1]) * rng.uniform(3, 9)
        end = min(start + rng.uniform(0.3, 1.0), seconds - 0.1)
        times += [start, end]
        values += [values[-1], level]
    return times + [seconds], values + [values[-1]]


def make_target(index: int, moving: bool, sample_rate: int, seconds: float):
    """``(stems (K, 2, L), names, target (2, L), rides {stem: (times, dB)})``."""
    import pedalboard as pb

    stems, names = synth_stems(index, sample_rate, seconds)
    rng = np.random.default_rng(5000 + index)
    t = np.arange(stems.shape[-1]) / sample_rate
    pan_stem, send_stem = rng.choice(len(names), 2, replace=False)
    mix = np.zeros((2, stems.shape[-1]))
    rides = {}
    for k, stem in enumerate(stems.numpy()):
        s = draw_settings(rng)
        board = pb.Pedalboard(
            [
                pb.LowShelfFilter(s["low_shelf"]["hz"], s["low_shelf"]["db"]),
                pb.PeakFilter(s["peak"]["hz"], s["peak"]["db"], s["peak"]["q"]),
                pb.HighShelfFilter(s["high_shelf"]["hz"], s["high_shelf"]["db"]),
                pb.Compressor(**s["compressor"]),
                pb.Gain(s["gain_db"]),
            ]
        )
        dry = board(stem.astype(np.float32), sample_rate).astype(np.float64)
        ride_t, ride_db = fader_ride(rng, seconds) if moving else ([0.0, seconds], [0.0, 0.0])
        rides[names[k]] = (ride_t, ride_db)
        fader = 10 ** (np.interp(t, ride_t, ride_db) / 20)
        pan = np.full_like(t, s["pan"])
        if moving and k == pan_stem:
            start = rng.uniform(0.5, seconds - 2.5)
            side = rng.choice([-1, 1])
            pan = np.interp(t, [start, start + rng.uniform(1, 2)], [-0.7 * side, 0.7 * side])
        angle = (pan + 1) * math.pi / 4
        strip = dry * fader * np.sqrt(2) * np.stack([np.cos(angle), np.sin(angle)])
        reverb = pb.Reverb(room_size=0.6, damping=0.4, wet_level=1.0, dry_level=0.0)
        wet = reverb(strip.astype(np.float32), sample_rate).astype(np.float64)
        send_db = np.full_like(t, -18.0)
        if moving and k == send_stem:
            start = rng.uniform(0.5, seconds - 2.5)
            send_db = np.interp(t, [start, start + 1.5], [-30.0, -8.0])
        mix += strip + wet * 10 ** (send_db / 20)
    return stems, names, torch.from_numpy(mix.astype(np.float32)), rides


def fit(stems, target, sample_rate, steps, automated, args):
    G, sequence = build_mixing_console(len(stems), chain=CHAIN)
    processors = console_processors(CHAIN)
    params = console_parameters(G, processors, sample_rate)
    config = recipe_config(sample_rate, steps=steps, progress=False)
    penalties = recipe_penalties(node_types=CHAIN)
    timeline = None
    if automated:
        seconds = stems.shape[-1] / sample_rate
        timeline = Timeline.uniform(seconds, args.knots_every, sample_rate)
        params = automate_parameters(params, processors, AUTOMATED, timeline)
        names = curve_keys(params, processors)
        penalties["smoothness"] = CurveSmoothness(args.smoothness, names)
    began = time.process_time()
    result = fit_parameters(
        G,
        processors,
        params,
        stems,
        target,
        recipe_loss(sample_rate),
        config,
        type_sequence=sequence,
        penalties=penalties,
        timeline=timeline,
    )
    cpu = time.process_time() - began
    renderer = GraphRenderer(G, processors, sequence)
    with torch.no_grad():
        mix = renderer(stems, result.parameters, timeline)[0]
    return mix, result, cpu, timeline, (renderer, params)


def fader_errors(result, timeline, stems, rides, names, sample_rate) -> list[float]:
    """rms dB error of each fitted fader curve against its true ride, offset removed."""
    gains = result.parameters["gain_pan"]["log_gain"]  # (K, 2, knots), node order = track order
    knots = np.array(timeline.knot_times)
    errors = []
    for k, name in enumerate(names):
        fitted_db = gains[k].mean(0).numpy() * 20 / LN10
        true_db = np.interp(knots, *rides[name])
        window = int(0.5 * sample_rate)
        energy = np.convolve(stems[k].square().mean(0).numpy(), np.ones(window) / window, "same")
        level = 10 * np.log10(energy + 1e-20)
        at_knots = np.interp(knots * sample_rate, np.arange(len(level)), level)
        audible = at_knots > level.max() - 40
        diff = (fitted_db - true_db)[audible]
        errors.append(float(np.sqrt(np.mean((diff - diff.mean()) ** 2))))
    return errors


def render_overhead(stems, sample_rate, args, types) -> float:
    """Median forward time of the console with ``types`` automated over the static one
    (alternating, after a warm-up pair)."""
    G, sequence = build_mixing_console(len(stems), chain=CHAIN)
    processors = console_processors(CHAIN)
    renderer = GraphRenderer(G, processors, sequence)
    static = console_parameters(G, processors, sample_rate)
    timeline = Timeline.uniform(stems.shape[-1] / sample_rate, args.knots_every, sample_rate)
    moving = automate_parameters(static, processors, list(types), timeline)
    times = {"static": [], "automated": []}
    with torch.no_grad():
        for repeat in range(8):
            for name, params, tl in (("static", static, None), ("automated", moving, timeline)):
                began = time.perf_counter()
                renderer(stems, params, tl)
                if repeat:  # the first pair warms up
                    times[name].append(time.perf_counter() - began)
    return float(np.median(times["automated"]) / np.median(times["static"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=4, help="moving targets")
    parser.add_argument("--static", type=int, default=2, help="static targets")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--knots-every", type=float, default=0.25)
    parser.add_argument("--smoothness", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    kinds = [("moving", i) for i in range(args.targets)]
    kinds += [("static", 100 + i) for i in range(args.static)]
    print("target     static  automated  gain-mix  ratio  cpu-s(st/au)  fader-dB-rms")
    for kind, index in kinds:
        stems, names, target, rides = make_target(
            index, kind == "moving", args.sample_rate, args.seconds
        )
        gain_mix = least_squares_gain_mix(stems, target).mix
        base = mix_metrics(gain_mix, target, args.sample_rate)["stft_distance"]
        st_mix, _, st_cpu, _, _ = fit(stems, target, args.sample_rate, args.steps, False, args)
        au_mix, au, au_cpu, timeline, _ = fit(
            stems, target, args.sample_rate, args.steps, True, args
        )
        st = mix_metrics(st_mix, target, args.sample_rate)["stft_distance"]
        auto = mix_metrics(au_mix, target, args.sample_rate)["stft_distance"]
        faders = fader_errors(au, timeline, stems, rides, names, args.sample_rate)
        row = {
            "target": f"{kind}{index}",
            "static": st,
            "automated": auto,
            "gain_mix": base,
            "ratio": auto / st,
            "cpu_static": st_cpu,
            "cpu_automated": au_cpu,
            "fader_rms_db": faders,
        }
        rows.append(row)
        print(
            f"{row['target']:<10} {st:6.3f}  {auto:9.3f}  {base:8.3f}  {auto / st:5.2f}  "
            f"{st_cpu:5.0f}/{au_cpu:<5.0f}   " + " ".join(f"{e:.1f}" for e in faders),
            flush=True,
        )
    stems = make_target(0, True, args.sample_rate, args.seconds)[0]
    overhead = {
        "faders, sends, thresholds": render_overhead(
            stems, args.sample_rate, args, ("compressor", "gain_pan", "reverb")
        ),
        "everything (EQ too)": render_overhead(stems, args.sample_rate, args, CHAIN),
    }
    for what, ratio in overhead.items():
        print(f"forward render, {what} automated / static: {ratio:.2f}x")
    RESULTS.mkdir(exist_ok=True)
    report = {"args": vars(args), "rows": rows, "render_overhead": overhead}
    (RESULTS / "automation.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
