"""Filtered-noise reverb IR synthesis: the fused function against the whole-envelope autograd.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_reverb_ir.py [--batch 10] [--repeats 7] \
        [--threads 2]

``filtered_noise_shaping_ir`` as ``FilteredNoiseShapingReverb`` calls it (2 channels, 12 bands,
60000-sample IRs, 44.1 kHz), forward+backward and forward only, against the same IRs built
the former way: the whole ``(B, C, K, N)`` envelope from ``exponential_envelope``, times the
noise, summed, differentiated by autograd. Alternated A B A B after a warm-up, median;
``torch.set_num_threads(--threads)``; also the peak of the process's resident set after each way
(first the old, then the new, so a lower second figure is the new one's).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

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


def fused(noise, *params):
    return filtered_noise_shaping_ir(noise, params[0], params[1], SR, FAST, SLOW, *params[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--ir-len", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fade-in", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    noise = 2 * torch.rand(2, 12, args.ir_len, generator=gen) - 1
    params = [
        torch.randn(args.batch, 2, 12, generator=gen, requires_grad=True)
        for _ in range(4 if args.fade_in else 2)
    ]

    def run(fn, backward):
        def call():
            if backward:
                fn(noise, *params).square().sum().backward()
            else:
                with torch.no_grad():
                    fn(noise, *params)

        return call

    peaks = {}
    for name, fn in (("whole envelope", whole_envelope), ("fused", fused)):
        run(fn, True)()
        peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"B={args.batch}, C=2, K=12, N={args.ir_len}, fade-in {args.fade_in}, "
        f"{args.threads} thread(s); peak RSS after the "
        f"whole envelope {peaks['whole envelope']:.0f} MiB, after the fused "
        f"{peaks['fused']:.0f} MiB\n"
    )
    print("| pass | whole envelope ms | fused ms | ratio |")
    print("| --- | --- | --- | --- |")
    for label, backward in (("forward+backward", True), ("forward", False)):
        old, new = run(whole_envelope, backward), run(fused, backward)
        old(), new()
        times_old, times_new = [], []
        for _ in range(args.repeats):
            for fn, times in ((old, times_old), (new, times_new)):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        a, b = statistics.median(times_old), statistics.median(times_new)
        print(f"| {label} | {1e3 * a:.1f} | {1e3 * b:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
