"""Peak memory of the full-length work of ``grafx fit`` and ``grafx evaluate`` on a long song.

Makes (or reuses) a synthetic song in ``--dir``: three stereo float32 stems of ``--seconds``
seconds at 44.1 kHz and a target (a filtered gain mix of them), then, in this one process,
runs each full-length phase of a fit's start and end with the peak RSS reset before it
(``/proc/self/clear_refs``; Linux only) and prints each phase's peak RSS and wall time:

- ``render`` phases: the console's mix of 2 stems at the working rate (30 kHz) and at the
  stems' rate, whole (:func:`grafx.render.render_mix`) and in chunks
  (:func:`grafx.render.stream.render_chunked`);
- ``loss``: the recipe's full-length loss (``BandLoss``), whole and by blocks
  (:func:`grafx.metrics.blockwise_loss`);
- ``summary``: :func:`grafx.metrics.mix_summary` of a full mix and the least-squares gain mix.

``grafx evaluate`` itself is measured by ``/usr/bin/time -v`` (see benchmarks/README.md).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_memory.py --seconds 300
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from pathlib import Path

import numpy as np


def make_song(folder: Path, seconds: float, rate: int = 44100) -> None:
    import soundfile as sf
    from scipy.signal import lfilter

    if (folder / "mix.wav").exists() and sf.info(str(folder / "mix.wav")).duration == seconds:
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    length = int(seconds * rate)
    t = np.arange(length) / rate
    drums = rng.standard_normal((2, length)) * (np.sin(2 * np.pi * 2 * t) > 0.6) * 0.2
    bass = np.stack([0.3 * np.sin(2 * np.pi * 55 * t * (1 + 0.01 * np.sin(t)))] * 2)
    pad = lfilter([0.05], [1, -0.95], rng.standard_normal((2, length)), axis=-1) * 0.3
    for name, x in (("drums", drums), ("bass", bass), ("pad", pad)):
        sf.write(folder / f"{name}.wav", x.T.astype(np.float32), rate, subtype="FLOAT")
    mix = 0.8 * drums + np.stack([0.9 * bass[0], 0.6 * bass[1]]) + 0.5 * pad
    mix = lfilter([1, -0.5], [1, -0.3], mix, axis=-1)
    sf.write(folder / "mix.wav", mix.T.astype(np.float32), rate, subtype="FLOAT")
    noisy = 0.9 * mix + 0.01 * rng.standard_normal(mix.shape)
    sf.write(folder / "est.wav", noisy.T.astype(np.float32), rate, subtype="FLOAT")


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def reset_peak() -> None:
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def phase(name: str, rows: list, function, *args, **kwargs):
    reset_peak()
    began = time.perf_counter()
    result = function(*args, **kwargs)
    rows.append((name, peak_mb(), time.perf_counter() - began))
    print(f"{name:<44} peak RSS {rows[-1][1]:8.0f} MB   {rows[-1][2]:7.1f} s", flush=True)
    return result


def whole_loss(loss, estimate, target) -> float:
    import torch

    with torch.no_grad():
        return float(loss(estimate, target))


def measure_rate(folder: Path, rate: int, working: bool, whole: bool, rows: list) -> None:
    """The phases at one rate (the loss and metrics only at the working rate)."""
    from grafx.baseline import least_squares_gain_mix
    from grafx.io.audio import read_audio, read_stems
    from grafx.losses import make_loss
    from grafx.metrics import blockwise_loss, mix_summary
    from grafx.presets import build_mixing_console, console_parameters, console_processors
    from grafx.render.renderer import render_mix
    from grafx.render.stream import render_mix_chunked

    stems, _ = read_stems([folder / "drums.wav", folder / "bass.wav"], rate)
    G, sequence = build_mixing_console(2)
    processors = console_processors(sample_rate=rate)
    parameters = console_parameters(G, processors, rate)
    arguments = (G, processors, parameters, stems, sequence)
    if whole:
        mix = phase(f"render whole at {rate} Hz", rows, render_mix, *arguments)
        del mix
    mix = phase(
        f"render chunked at {rate} Hz", rows, render_mix_chunked, *arguments, sample_rate=rate
    )
    if not working:
        return
    target, _ = read_audio(folder / "mix.wav", rate)
    loss = make_loss("band", rate)
    if whole:
        value = phase(f"BandLoss whole at {rate} Hz", rows, whole_loss, loss, mix, target)
        print(f"  loss {value:.8f}")
    value = phase(f"BandLoss by blocks at {rate} Hz", rows, blockwise_loss, loss, mix, target)
    print(f"  loss {value:.8f}")
    phase(f"mix_summary at {rate} Hz", rows, mix_summary, mix, target, rate)
    phase(f"least-squares gain mix at {rate} Hz", rows, least_squares_gain_mix, stems, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--dir", default="/tmp/grafx-bench-memory")
    parser.add_argument("--working-rate", type=int, default=30000)
    parser.add_argument("--skip-whole", action="store_true", help="only the chunked phases")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    folder = Path(args.dir)
    make_song(folder, args.seconds)
    rows: list = []
    print(f"{args.seconds:g} s song, 2 stems, torch threads 2", flush=True)
    measure_rate(folder, args.working_rate, True, not args.skip_whole, rows)
    measure_rate(folder, 44100, False, not args.skip_whole, rows)
    print()
    print("| phase | peak RSS (MB) | wall (s) |")
    print("| --- | ---: | ---: |")
    for name, peak, seconds in rows:
        print(f"| {name} | {peak:.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
