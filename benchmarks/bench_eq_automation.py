"""Render cost of an automated parametric EQ against the static one (issue: EQ automation).

A 10-band stereo ``ParametricEqualizer`` on ``--seconds`` of stereo noise at 44.1 kHz, batch
``--batch``: static parameters on the default ``fsm`` backend and on the exact ``lfilter``
backend, against every band's gain, frequency and Q moving as curves (knots every 0.5 s,
control block 256 samples; the time-varying path is exact whatever the backend). Forward
only, and forward+backward; A B C alternating after a warm-up, median of ``--repeats``,
2 threads, float32 (BENCHMARKS.md).

    PYTHONPATH=src python benchmarks/bench_eq_automation.py --seconds 30 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from grafx.automation import Timeline
from grafx.automation.expand import expand_curves
from grafx.processors import ParametricEqualizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sr, length = 44100, int(args.seconds * 44100)
    x = torch.randn(args.batch, 2, length)
    fsm = ParametricEqualizer(num_filters=10, processor_channel="stereo")
    exact = ParametricEqualizer(num_filters=10, processor_channel="stereo", backend="lfilter")
    static = {
        k: (0.3 * torch.randn(args.batch, 2, 10)).requires_grad_(args.backward)
        for k in ("w0", "q_inv", "log_gain")
    }
    timeline = Timeline.uniform(args.seconds, 0.5, sr)
    curves = {
        k: (v.detach()[..., None] + 0.1 * torch.randn(*v.shape, timeline.num_knots)).requires_grad_(
            args.backward
        )
        for k, v in static.items()
    }

    def run(eq, params, moving):
        start = time.perf_counter()
        if moving:
            params = expand_curves("eq", eq, params, timeline, length, gated=False)
        y = eq(x, **params)
        if args.backward:
            y.square().mean().backward()
        return time.perf_counter() - start

    cases = {
        "static fsm": lambda: run(fsm, static, False),
        "static lfilter": lambda: run(exact, static, False),
        "automated": lambda: run(fsm, curves, True),
    }
    for case in cases.values():
        case()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            times[name].append(case())
    base = statistics.median(times["static fsm"])
    mode = "forward+backward" if args.backward else "forward"
    print(f"{mode}, {args.seconds:g} s stereo x {args.batch}, 10 bands, median of {args.repeats}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:15s} {median:7.3f} s  ({median / base:.2f}x static fsm)")


if __name__ == "__main__":
    main()
