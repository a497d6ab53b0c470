"""Time the filter and EQ processors and the exact biquad backends (CPU, float32).

Every processor runs on a batch of 8 nodes, stereo, 2**17 samples, with torch limited to 2
threads; each figure is the median of ``--repeats`` runs after one warm-up. Comparisons
alternate A B A B so both sides see the same machine load:

* per class, grafx against the original library (0.6.0, in ``.venv-original``; see
  ``setup_original.sh``), each in its own worker process, same class and constructor
  arguments (the original's CPU FFT convolution is wrong for even lengths: timing only);
* the exact biquad backends against ``scipy.signal.sosfilt`` on the same rows.

    .venv/bin/python benchmarks/bench_filters.py [--repeats 5] [--json PATH] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.signal
import torch
from workers import OURS, THEIRS, time_call
from workers import Worker as BaseWorker

BATCH, CHANNELS, LENGTH = 8, 2, 2**17

#: (label, class name, constructor keywords), timed in both libraries.
CASES = [
    ("BiquadFilter", "BiquadFilter", {}),
    ("PoleZeroFilter", "PoleZeroFilter", {}),
    ("StateVariableFilter", "StateVariableFilter", {}),
    ("LowPassFilter", "LowPassFilter", {}),
    ("HighPassFilter", "HighPassFilter", {}),
    ("BandPassFilter", "BandPassFilter", {}),
    ("BandRejectFilter", "BandRejectFilter", {}),
    ("AllPassFilter", "AllPassFilter", {}),
    ("PeakingFilter", "PeakingFilter", {}),
    ("LowShelf", "LowShelf", {}),
    ("HighShelf", "HighShelf", {}),
    ("FIRFilter", "FIRFilter", {}),
    ("ZeroPhaseFIREqualizer", "ZeroPhaseFIREqualizer", {}),
    ("NewZeroPhaseFIREqualizer", "NewZeroPhaseFIREqualizer", {}),
    ("GraphicEqualizer", "GraphicEqualizer", {}),
    ("ParametricEqualizer", "ParametricEqualizer", {}),
    ("PeakingFilter(lfilter)", "PeakingFilter", {"backend": "lfilter"}),
    ("PeakingFilter(ssm)", "PeakingFilter", {"backend": "ssm"}),
    ("ParametricEqualizer(lfilter)", "ParametricEqualizer", {"backend": "lfilter"}),
    ("GraphicEqualizer(lfilter)", "GraphicEqualizer", {"backend": "lfilter"}),
]


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


def random_params(processor: torch.nn.Module, requires_grad: bool) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    params = {}
    for key, size in processor.parameter_size().items():
        shape = (BATCH, *((size,) if isinstance(size, int) else size))
        params[key] = (0.1 * torch.randn(shape, generator=gen)).requires_grad_(requires_grad)
    return params


def worker(threads: int) -> None:
    """Serve timing requests on stdin, one JSON line each: build, warm, time one call."""
    import warnings

    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    import grafx.processors as processors_module

    cache: dict[str, torch.nn.Module] = {}
    x = torch.randn(BATCH, CHANNELS, LENGTH)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            key = json.dumps([request["cls"], request["kwargs"]])
            if key not in cache:
                cache[key] = getattr(processors_module, request["cls"])(**request["kwargs"])
            processor = cache[key]
            grad = request["mode"] == "fwd+bwd"
            params = random_params(processor, grad)
            signal = x.clone().requires_grad_(grad)
            reply = {"seconds": time_call(processor, [signal], params, grad)}
        except Exception as error:  # report and keep serving
            reply = {"error": f"{type(error).__name__}: {str(error)[:200]}"}
        print(json.dumps(reply), flush=True)


class Worker(BaseWorker):
    """A timing worker running one library's Python; ``ask`` gives seconds, or None on error."""

    def __init__(self, python: Path, original: bool, threads: int):
        super().__init__(
            python, original, Path(__file__).resolve(), ["--worker", str(threads)], threads
        )

    def ask(self, **request) -> float | None:
        return self.request(**request).get("seconds")


def time_processors(repeats: int, names: list[str] | None, threads: int) -> list[dict]:
    ours = Worker(OURS, False, threads)
    theirs = Worker(THEIRS, True, threads) if THEIRS.exists() else None
    rows = []
    print(f"{'processor':30s} {'mode':>8s} {'ours ms':>9s} {'orig ms':>9s} {'ratio':>6s}")
    for label, cls, kwargs in CASES:
        if names and label not in names:
            continue
        for mode in ("forward", "fwd+bwd"):
            request = {"cls": cls, "kwargs": kwargs, "mode": mode}
            ours.ask(**request)
            if theirs is not None and theirs.ask(**request) is None:
                theirs_ok = False
            else:
                theirs_ok = theirs is not None
            a, b = [], []
            for _ in range(repeats):
                a.append(ours.ask(**request))
                if theirs_ok:
                    b.append(theirs.ask(**request))
            row = {"processor": label, "mode": mode, "ours_s": statistics.median(a)}
            text = f"{'-':>9s} {'-':>6s}"
            if theirs_ok and None not in b:
                row["original_s"] = statistics.median(b)
                row["ratio"] = row["ours_s"] / row["original_s"]
                text = f"{row['original_s'] * 1e3:9.1f} {row['ratio']:6.2f}"
            rows.append(row)
            print(f"{label:30s} {mode:>8s} {row['ours_s'] * 1e3:9.1f} {text}", flush=True)
    ours.close()
    if theirs is not None:
        theirs.close()
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
    from grafx.processors.core.biquad import sosfilt

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

        # grafx's exact backends use method "scipy" on CPU; the pure-torch scan (their path on
        # other devices) is timed for one section only, to keep the default run short.
        forward_fns = {"scipy.signal.sosfilt": scipy_rows, "grafx scipy": ours_scipy}
        both_fns = {"grafx scipy": lambda: grad_call("scipy")}
        if num_sections == 1:
            forward_fns["grafx scan"] = ours_scan
            both_fns["grafx scan"] = lambda: grad_call("scan")
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
    parser.add_argument("--only", nargs="*", default=None, help="processor labels to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-exact", action="store_true", help="skip the sosfilt comparison")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    torch.set_num_threads(args.threads)
    print(
        f"batch {BATCH}, {CHANNELS} channels, {LENGTH} samples, float32, 2 threads, median of {args.repeats}"
    )
    table = time_processors(args.repeats, args.only, args.threads)
    print(
        f"\nexact biquad cascades on {BATCH * CHANNELS} rows of {LENGTH} samples (forward, ratio to sosfilt, fwd+bwd)"
    )
    exact = [] if args.skip_exact else time_exact_backends(args.repeats)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"processors": table, "exact_biquad": exact, "torch": torch.__version__},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
