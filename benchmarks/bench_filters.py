"""Time the filter and EQ processors and the exact biquad backends (CPU, float32).

Every processor runs on a batch of 8 nodes, stereo, 2**17 samples, with torch limited to 2
threads; each figure is the median of ``--repeats`` runs after one warm-up. Comparisons
(ours against ``scipy.signal.sosfilt`` on the same data, and the alternatives) alternate
A B A B so both sides see the same machine load.

    .venv/bin/python benchmarks/bench_filters.py [--repeats 5] [--json PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.signal
import torch

from grafx.processors import eq
from grafx.processors import filter as filters
from grafx.processors.core.biquad import sosfilt

BATCH, CHANNELS, LENGTH = 8, 2, 2**17


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median times of several functions measured in turn, A B A B, after a warm-up each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def processors() -> dict[str, torch.nn.Module]:
    return {
        "BiquadFilter": filters.BiquadFilter(),
        "PoleZeroFilter": filters.PoleZeroFilter(),
        "StateVariableFilter": filters.StateVariableFilter(),
        "LowPassFilter": filters.LowPassFilter(),
        "HighPassFilter": filters.HighPassFilter(),
        "BandPassFilter": filters.BandPassFilter(),
        "BandRejectFilter": filters.BandRejectFilter(),
        "AllPassFilter": filters.AllPassFilter(),
        "PeakingFilter": filters.PeakingFilter(),
        "LowShelf": filters.LowShelf(),
        "HighShelf": filters.HighShelf(),
        "FIRFilter": filters.FIRFilter(),
        "ZeroPhaseFIREqualizer": eq.ZeroPhaseFIREqualizer(),
        "NewZeroPhaseFIREqualizer": eq.NewZeroPhaseFIREqualizer(),
        "GraphicEqualizer": eq.GraphicEqualizer(),
        "ParametricEqualizer": eq.ParametricEqualizer(),
        "PeakingFilter(lfilter)": filters.PeakingFilter(backend="lfilter"),
        "PeakingFilter(ssm)": filters.PeakingFilter(backend="ssm"),
        "ParametricEqualizer(lfilter)": eq.ParametricEqualizer(backend="lfilter"),
        "GraphicEqualizer(lfilter)": eq.GraphicEqualizer(backend="lfilter"),
    }


def random_params(processor: torch.nn.Module, requires_grad: bool) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = {}
    for key, size in processor.parameter_size().items():
        shape = (BATCH, *((size,) if isinstance(size, int) else size))
        params[key] = (0.1 * torch.randn(shape, generator=gen)).requires_grad_(requires_grad)
    return params


def time_processors(repeats: int, names: list[str] | None) -> list[dict]:
    x = torch.randn(BATCH, CHANNELS, LENGTH)
    rows = []
    for name, processor in processors().items():
        if names and name not in names:
            continue
        params = random_params(processor, False)
        grad_params = random_params(processor, True)
        x_grad = x.clone().requires_grad_()

        def forward(processor=processor, params=params):
            with torch.no_grad():
                processor(x, **params)

        def forward_backward(processor=processor, params=grad_params, x_grad=x_grad):
            processor(x_grad, **params).square().mean().backward()

        rows.append(
            {
                "processor": name,
                "forward_s": median_time(forward, repeats),
                "forward_backward_s": median_time(forward_backward, repeats),
            }
        )
        print(
            f"{name:30s} {rows[-1]['forward_s'] * 1e3:9.1f} ms {rows[-1]['forward_backward_s'] * 1e3:11.1f} ms"
        )
    return rows


def peaking_sections(num_sections: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    b, a = [], []
    for _ in range(rows * num_sections):
        w0 = 2 * math.pi * rng.uniform(50, 15000) / 44100
        alpha = math.sin(w0) / (2 * rng.uniform(0.5, 4))
        amp = 10 ** (rng.uniform(-12, 12) / 40)
        a0 = 1 + alpha / amp
        b.append(np.array([1 + alpha * amp, -2 * math.cos(w0), 1 - alpha * amp]) / a0)
        a.append(np.array([-2 * math.cos(w0), 1 - alpha / amp]) / a0)
    shape = (rows, num_sections)
    return np.reshape(b, (*shape, 3)), np.reshape(a, (*shape, 2))


def time_exact_backends(repeats: int) -> list[dict]:
    """Exact biquad cascades, forward (and ours forward+backward), against scipy.signal.sosfilt."""
    results = []
    rows = BATCH * CHANNELS
    x_np = np.random.default_rng(1).standard_normal((rows, LENGTH)).astype(np.float32)
    x = torch.from_numpy(x_np)
    for num_sections in (1, 10):
        b_np, a_np = peaking_sections(num_sections, rows)
        b, a = torch.from_numpy(b_np).float(), torch.from_numpy(a_np).float()
        sos = np.concatenate([b_np, np.ones((rows, num_sections, 1)), a_np], -1).astype(np.float32)

        def scipy_rows(sos=sos):
            for r in range(rows):
                scipy.signal.sosfilt(sos[r], x_np[r])

        def ours_scipy(b=b, a=a):
            with torch.no_grad():
                sosfilt(x, b, a, "scipy")

        def ours_scan(b=b, a=a):
            with torch.no_grad():
                sosfilt(x, b, a, "scan")

        def grad_call(method, b=b, a=a):
            xg, bg, ag = (
                x.clone().requires_grad_(),
                b.clone().requires_grad_(),
                a.clone().requires_grad_(),
            )
            sosfilt(xg, bg, ag, method).square().mean().backward()

        # The pure-torch scan (the "ssm" backend, meant for GPUs) is timed for one section only,
        # to keep the default run short.
        forward_fns = {"scipy.signal.sosfilt": scipy_rows, "lfilter": ours_scipy}
        both_fns = {"lfilter": lambda: grad_call("scipy")}
        if num_sections == 1:
            forward_fns["ssm"] = ours_scan
            both_fns["ssm"] = lambda: grad_call("scan")
        forward = alternate(forward_fns, repeats)
        both = alternate(both_fns, repeats)
        reference = forward["scipy.signal.sosfilt"]
        for name in forward:
            row = {
                "method": name,
                "sections": num_sections,
                "forward_s": forward[name],
                "ratio_to_sosfilt": forward[name] / reference,
                "forward_backward_s": both.get(name),
            }
            results.append(row)
            fb = (
                f"{row['forward_backward_s'] * 1e3:11.1f} ms"
                if row["forward_backward_s"]
                else " " * 14
            )
            print(
                f"K={num_sections:<3d} {name:22s} {row['forward_s'] * 1e3:9.1f} ms  x{row['ratio_to_sosfilt']:5.2f} {fb}"
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--json", type=str, default=None, help="write the figures to this JSON file"
    )
    parser.add_argument("--only", nargs="*", default=None, help="processor names to time")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(
        f"batch {BATCH}, {CHANNELS} channels, {LENGTH} samples, float32, 2 threads, median of {args.repeats}"
    )
    print(f"{'processor':30s} {'forward':>12s} {'fwd+bwd':>14s}")
    table = time_processors(args.repeats, args.only)
    print(
        f"\nexact biquad cascades on {BATCH * CHANNELS} rows of {LENGTH} samples (forward, ratio to sosfilt, fwd+bwd)"
    )
    exact = time_exact_backends(args.repeats)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"processors": table, "exact_biquad": exact, "torch": torch.__version__},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
