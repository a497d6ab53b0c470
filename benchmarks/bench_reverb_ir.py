"""Filtered-noise reverb IR synthesis: the fused function against the whole-envelope autograd.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_reverb_ir.py [--batch 10] [--repeats 7] \
        [--threads 2] [--fade-in] [--compare-src /path/to/other/src]

``filtered_noise_shaping_ir`` as ``FilteredNoiseShapingReverb`` calls it (2 channels, 12 bands,
60000-sample IRs, 44.1 kHz), forward+backward and forward only, against the same IRs built
the plain way: the whole ``(B, C, K, N)`` envelope from ``exponential_envelope``, times the
noise, summed, differentiated by autograd. ``--compare-src DIR`` adds a third variant, the
``filtered_noise_shaping_ir`` of another checkout's ``src`` (e.g. the main branch), loaded
from its file. Alternated A B (C) after a warm-up, median of ``--repeats``; wall and process
CPU seconds (user + system, all threads); ``torch.set_num_threads(--threads)``; also the peak
of the process's resident set after one forward+backward of each way, in the order listed
(a figure that does not grow is no higher than the one before it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from grafx.processors.core.noise import decay_rate_from_ms
from grafx.processors.functional.reverb import (
    band_decay_rate,
    exponential_envelope,
    filtered_noise_shaping_ir,
)

SR, FAST, SLOW = 44100, 50, 2000


def whole_envelope(noise, log_decay, log_gain, log_fade=None, z_gain=None):
    rate = band_decay_rate(log_decay, SR, FAST, SLOW)
    envelope = exponential_envelope(rate, log_gain, noise.shape[-1])
    if log_fade is not None:
        fade_rate = rate + torch.sigmoid(log_fade) * (decay_rate_from_ms(FAST, SR) - rate)
        envelope = envelope - exponential_envelope(
            fade_rate, log_gain - F.softplus(-z_gain), noise.shape[-1]
        )
    return (envelope * noise).sum(-2)


def fused_from(function: Callable) -> Callable:
    def fused(noise, *params):
        return function(noise, params[0], params[1], SR, FAST, SLOW, *params[2:])

    return fused


def other_checkout(src: Path) -> Callable:
    path = src / "grafx" / "processors" / "functional" / "reverb.py"
    spec = importlib.util.spec_from_file_location("other_reverb", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return fused_from(module.filtered_noise_shaping_ir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--ir-len", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fade-in", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare-src", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    noise = 2 * torch.rand(2, 12, args.ir_len, generator=gen) - 1
    params = [
        torch.randn(args.batch, 2, 12, generator=gen, requires_grad=True)
        for _ in range(4 if args.fade_in else 2)
    ]
    ways = {"whole envelope": whole_envelope}
    if args.compare_src is not None:
        ways["other"] = other_checkout(args.compare_src)
    ways["fused"] = fused_from(filtered_noise_shaping_ir)

    def run(fn, backward):
        def call():
            if backward:
                fn(noise, *params).square().sum().backward()
            else:
                with torch.no_grad():
                    fn(noise, *params)

        return call

    peaks = {}
    for name, fn in ways.items():
        run(fn, True)()
        peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"B={args.batch}, C=2, K=12, N={args.ir_len}, fade-in {args.fade_in}, "
        f"{args.threads} thread(s), load {os.getloadavg()[0]:.1f}; peak RSS after "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in peaks.items())
        + "\n"
    )
    names = list(ways)
    print(
        "| pass | "
        + " | ".join(f"{n} ms (CPU ms)" for n in names)
        + " | "
        + " | ".join(f"{n} / whole envelope, wall (CPU)" for n in names[1:])
        + " |"
    )
    print("| --- " * (2 * len(names)) + "|")
    for label, backward in (("forward+backward", True), ("forward", False)):
        calls = {n: run(fn, backward) for n, fn in ways.items()}
        for call in calls.values():
            call()
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for n, call in calls.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                call()
                wall[n].append(time.perf_counter() - start)
                cpu[n].append(time.process_time() - start_cpu)
        w = {n: statistics.median(v) for n, v in wall.items()}
        c = {n: statistics.median(v) for n, v in cpu.items()}
        base = names[0]
        cells = [f"{1e3 * w[n]:.1f} ({1e3 * c[n]:.0f})" for n in names]
        ratios = [f"{w[n] / w[base]:.2f} ({c[n] / c[base]:.2f})" for n in names[1:]]
        print(f"| {label} | " + " | ".join(cells + ratios) + " |")
    print(f"\nload after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
