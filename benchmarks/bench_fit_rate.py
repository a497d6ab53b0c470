"""Does the recipe's 30 kHz working rate speed the fit without hurting the result?

Synthesises 5 stems at 44.1 kHz and a target mixed at 44.1 kHz by effects that are not grafx's
(pedalboard: EQ filters in Hz, compressor, delay, reverb, gain, constant-power pan; a target
rendered by grafx's own console would favour the rate it was rendered at, since the console's
reverb, delay and envelope lengths are counted in samples), then fits a neutral console twice
with the same wall-clock budget: at 44.1 kHz, and on the stems
and target resampled once to 30 kHz (what ``grafx fit`` does). Both fitted mixes are scored
at 30 kHz against the target resampled to 30 kHz (the 44.1 kHz fit's mix resampled too), with
``MixLoss(30000)``, so the two are measured on the same band; the 44.1 kHz fit's own
``MixLoss(44100)`` is printed for reference. The two fits alternate in one run.

    PYTHONPATH=src python benchmarks/bench_fit_rate.py [--minutes 1.5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as grafx's command line; before torch

import torch  # noqa: E402
from bench_fit_step import setup  # noqa: E402


def pedalboard_mix(stems: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """A stereo mix of ``(K, 2, L)`` stems through fixed pedalboard chains, ``(2, L)``."""
    import math

    import pedalboard as pb

    chains = [
        (pb.Pedalboard([pb.PeakFilter(700, -4, 1.0), pb.Compressor(-24, 4, 5, 80)]), -1, 0.0),
        (pb.Pedalboard([pb.HighShelfFilter(4000, -6), pb.Compressor(-20, 3, 10, 120)]), -4, 0.1),
        (pb.Pedalboard([pb.LowShelfFilter(150, -3), pb.Reverb(0.6, wet_level=0.3)]), -9, -0.6),
        (pb.Pedalboard([pb.PeakFilter(3000, 4, 1.0), pb.Delay(0.25, 0.3, 0.25)]), -5, 0.5),
        (pb.Pedalboard([pb.HighpassFilter(300), pb.Reverb(0.3, wet_level=0.2)]), -14, -0.3),
    ]
    mix = 0
    for stem, (board, gain_db, pan) in zip(stems.numpy(), chains, strict=False):
        wet = board(stem, sample_rate, reset=True)
        theta = math.pi / 4 * (pan + 1)
        pan_gains = [[math.sqrt(2) * math.cos(theta)], [math.sqrt(2) * math.sin(theta)]]
        mix = mix + wet * 10 ** (gain_db / 20) * torch.tensor(pan_gains).numpy()
    return torch.from_numpy(mix).float()


def fit_and_score(case: dict, minutes: float, seed: int) -> tuple[object, torch.Tensor]:
    from grafx.fit import GraphRenderer, fit_parameters

    result = fit_parameters(
        case["G"],
        case["processors"],
        case["parameters"],
        case["stems"],
        case["target"],
        case["loss"],
        case["config"],
        type_sequence=case["type_sequence"],
        penalties=case["penalties"],
        minutes=minutes,
        steps=100000,
        seed=seed,
    )
    renderer = GraphRenderer(case["G"], case["processors"], case["type_sequence"])
    with torch.no_grad():
        mix = renderer(case["stems"], result.parameters)[0]
    return result, mix


def main() -> None:
    from grafx.fit.recipe import recipe_config, recipe_loss
    from grafx.io.audio import resample
    from grafx.presets import console_parameters

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="budget per fit")
    parser.add_argument("--seconds", type=float, default=13.0, help="length of the stems")
    parser.add_argument("--repeats", type=int, default=1, help="fits per rate (alternating)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    high = setup(44100, args.seconds)
    high["target"] = pedalboard_mix(high["stems"], 44100)
    low = dict(high)
    low["stems"] = resample(high["stems"], 44100, 30000)
    low["target"] = resample(high["target"], 44100, 30000)
    low["parameters"] = console_parameters(high["G"], high["processors"], 30000)
    low["loss"] = recipe_loss(30000)
    low["config"] = recipe_config(30000, progress=False)
    score = recipe_loss(30000)
    print(
        f"fit rate: 5 stems of {args.seconds:g} s, {args.minutes:g} min per fit, "
        f"{args.threads} threads, load average {os.getloadavg()[0]:.2f}"
    )
    print()
    print("| rate Hz | run | steps | steps/s | MixLoss at 30 kHz | own-rate MixLoss | load |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in range(args.repeats):
        for rate, case in ((30000, low), (44100, high)):
            result, mix = fit_and_score(case, args.minutes, seed=run)
            own = float(case["loss"](mix.double(), case["target"].double()))
            at_30k = mix if rate == 30000 else resample(mix, 44100, 30000)
            common = float(score(at_30k.double(), low["target"].double()))
            print(
                f"| {rate} | {run} | {result.steps} | {result.steps / result.elapsed:.2f} | "
                f"**{common:.4f}** | {own:.4f} | {os.getloadavg()[0]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
