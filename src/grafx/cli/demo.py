"""``grafx demo``: the main job on built-in, synthesised data."""

from __future__ import annotations

import argparse

from grafx.cli import bounds
from grafx.cli.common import (
    add_device_options,
    device_options,
    non_negative_int,
    output_dir,
    positive_float,
    positive_int,
)
from grafx.cli.logs import add_log_options

EXAMPLES = """examples:
  grafx demo                         # writes demo-output/
  grafx demo --out my-demo --steps 300
  grafx demo --buses 2 --duration 4  # a console with two subgroup buses, 4 s of audio
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="synthesise a multitrack, mix it with hidden settings, fit a console to the mix",
        description=(
            "Synthesise a 4-track loop (drums, bass, chords, lead), render a target mix through "
            "a mixing console with hidden settings, fit a fresh console to it, and write "
            "target.wav, initial.wav, fitted.wav, graph.json, stems/*.wav and report.png. "
            "It runs on one CPU thread unless grafx --threads N is given."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--steps", type=positive_int, default=150, help="fit steps (default: 150)")
    p.add_argument(
        "--lr",
        type=bounds.learning_rate,
        default=None,
        help="learning rate (default: the recipe's)",
    )
    p.add_argument(
        "--duration", type=positive_float, default=6.0, help="seconds of audio (default: 6)"
    )
    p.add_argument(
        "--sample-rate", type=bounds.sample_rate, default=30000, help="sample rate (default: 30000)"
    )
    p.add_argument("--buses", type=non_negative_int, default=0, help="subgroup buses (default: 0)")
    p.add_argument("--seed", type=bounds.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)
    add_log_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from grafx.demo import run_demo

    if args.threads is None:
        # Many small operations: a second thread gains little on a free machine and costs
        # several times the run time when the cores are shared (OpenMP threads spin-wait).
        torch.set_num_threads(1)

    device, dtype = device_options(args)
    out = output_dir(args.out)
    run_demo(
        out,
        steps=args.steps,
        duration=args.duration,
        sample_rate=args.sample_rate,
        num_buses=args.buses,
        lr=args.lr,
        seed=args.seed,
        progress=not args.quiet,
        device=device,
        dtype=dtype,
    )
    return 0
