"""Rendering only (no gradients): the 8-track console against pedalboard rendering a fixed chain.

A user who only wants to render a fixed mix would reach for pedalboard (JUCE effects in C++).
This measures, alternating in one process, the wall time of

- ``grafx``: :func:`grafx.render.render_mix` of the default mixing console (EQ, compressor, noise
  gate, imager, gain/pan, delay, reverb per track) under ``torch.inference_mode`` with
  ``--threads`` torch threads, the path ``grafx render`` takes;
- ``pedalboard x1``: per track a ``Pedalboard`` of low shelf, two peaks, high shelf, compressor,
  noise gate, gain, delay and reverb, then a constant-power pan, the tracks one after another;
- ``pedalboard pool``: the same chains on a thread pool of ``--threads`` workers (pedalboard
  releases the GIL while it processes).

The algorithms differ (pedalboard's reverb is Freeverb, grafx's a noise-shaped IR by FFT
convolution), so this compares what each costs for a mix of the same shape, not the same sound.

The process first applies the allocator settings of the ``grafx`` command
(:func:`grafx.cli.allocator.tune_allocator`: large blocks stay on glibc's heap), as ``grafx
render`` does; ``--malloc default`` keeps glibc's defaults (every signal-sized temporary is then
a fresh ``mmap``, page-faulted in again).

    PYTHONPATH=src python benchmarks/bench_render_only.py [--tracks 8] [--seconds 30] [--repeats 5]
        [--malloc grafx|default]

Needs the ``bench`` extra (pedalboard).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def make_stems(tracks: int, seconds: float, sample_rate: int) -> torch.Tensor:
    """``tracks`` stereo stems ``(K, 2, L)`` from the demo synthesiser (seeds 0, 1, ...)."""
    from grafx.synth import synthesize_multitrack

    stems = []
    seed = 0
    while len(stems) < tracks:
        song, _ = synthesize_multitrack(sample_rate, seconds, seed=seed)
        stems.extend(song)
        seed += 1
    return torch.stack(stems[:tracks])


def grafx_renderer(tracks: int, sample_rate: int):
    from grafx.presets import build_mixing_console, console_parameters, console_processors
    from grafx.render import render_mix

    G, type_sequence = build_mixing_console(tracks)
    processors = console_processors(sample_rate=sample_rate)
    parameters = console_parameters(G, processors)

    def render(stems: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return render_mix(G, processors, parameters, stems, type_sequence)

    return render


def pedalboard_chains(tracks: int, sample_rate: int):
    import pedalboard as pb

    rng = np.random.default_rng(0)
    boards, pans = [], []
    for _ in range(tracks):
        boards.append(
            pb.Pedalboard(
                [
                    pb.LowShelfFilter(cutoff_frequency_hz=120, gain_db=float(rng.uniform(-3, 3))),
                    pb.PeakFilter(cutoff_frequency_hz=700, gain_db=float(rng.uniform(-3, 3))),
                    pb.PeakFilter(cutoff_frequency_hz=3000, gain_db=float(rng.uniform(-3, 3))),
                    pb.HighShelfFilter(cutoff_frequency_hz=8000, gain_db=float(rng.uniform(-3, 3))),
                    pb.Compressor(threshold_db=-20, ratio=3),
                    pb.NoiseGate(threshold_db=-60),
                    pb.Gain(gain_db=float(rng.uniform(-6, 0))),
                    pb.Delay(delay_seconds=0.25, feedback=0.3, mix=0.1),
                    pb.Reverb(room_size=0.5, wet_level=0.15, dry_level=0.85),
                ]
            )
        )
        pans.append(float(rng.uniform(-1, 1)))

    def one(k: int, stem: np.ndarray) -> np.ndarray:
        wet = boards[k](stem, sample_rate, reset=True)
        angle = (pans[k] + 1) * np.pi / 4
        return wet * np.array([[np.cos(angle)], [np.sin(angle)]], dtype=np.float32)

    def serial(stems: np.ndarray) -> np.ndarray:
        return sum(one(k, s) for k, s in enumerate(stems))

    def pooled(stems: np.ndarray, pool: ThreadPoolExecutor) -> np.ndarray:
        return sum(pool.map(one, range(len(stems)), stems))

    return serial, pooled


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracks", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--malloc",
        choices=("grafx", "default"),
        default="grafx",
        help="allocator settings: the grafx command's (default) or glibc's defaults",
    )
    args = p.parse_args(argv)
    heap = False
    if args.malloc == "grafx":
        from grafx.cli.allocator import tune_allocator

        heap = tune_allocator()
    torch.set_num_threads(args.threads)
    stems = make_stems(args.tracks, args.seconds, args.sample_rate)
    stems_np = np.ascontiguousarray(stems.numpy())
    render = grafx_renderer(args.tracks, args.sample_rate)
    serial, pooled = pedalboard_chains(args.tracks, args.sample_rate)
    times: dict[str, list[float]] = {"grafx": [], "pedalboard x1": [], "pedalboard pool": []}
    with ThreadPoolExecutor(args.threads) as pool:
        render(stems)  # warm-up: first-call costs are measured by cold_start.py
        serial(stems_np)
        for _ in range(args.repeats):
            for name, call in (
                ("grafx", lambda: render(stems)),
                ("pedalboard x1", lambda: serial(stems_np)),
                ("pedalboard pool", lambda: pooled(stems_np, pool)),
            ):
                began = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - began)
    load = os.getloadavg()[0]
    print(
        f"render only: {args.tracks} tracks, {args.seconds:g} s at {args.sample_rate} Hz, "
        f"{args.threads} threads, median of {args.repeats} alternating runs, load {load:.1f}, "
        f"allocator {'grafx (heap only)' if heap else 'glibc defaults'}"
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        ratio = median / medians["pedalboard pool"]
        print(f"  {name:16s} {median:7.3f} s  ({ratio:.2f}x the pedalboard pool)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
