"""The demo's fitted graph rendered at 30, 44.1 and 48 kHz: does it make the same mix?

Runs ``grafx demo`` (``grafx.demo.run_demo``: stems synthesised at 30 kHz, the console fitted
at 30 kHz), then renders its ``graph.json`` with ``grafx.io.load(path, sample_rate=R)`` (the
processors rebuilt for R, see ``grafx.processors.core.rate``) from the stems resampled to R,
for R = 30, 44.1 and 48 kHz. Each render is resampled to 30 kHz (the stems hold nothing above
15 kHz) and compared with the 30 kHz render: the largest difference of third-octave band levels
(mid channel, 40 Hz to 14 kHz), and ``grafx.metrics``' multi-resolution STFT distance. With
``--as-saved`` the processors are used as saved at every rate (what grafx did before graph
files recorded their rate), for comparison.

    python benchmarks/bench_rates.py [--steps 60] [--as-saved]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from grafx.demo import run_demo
from grafx.io import load
from grafx.io.audio import read_stems, resample
from grafx.losses import MultiResolutionSTFTLoss
from grafx.metrics import STFT_DISTANCE_SETTINGS
from grafx.render.renderer import render_mix

RATES = (30000, 44100, 48000)
BAND_HZ = (40.0, 14000.0)


def third_octave_levels(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres and levels (dB) of the mid signal's third-octave bands within :data:`BAND_HZ`."""
    mid = audio.mean(0)
    power = np.abs(np.fft.rfft(mid)) ** 2
    freqs = np.fft.rfftfreq(mid.shape[-1], 1 / sample_rate)
    low = math.ceil(3 * math.log2(BAND_HZ[0] / 1000))
    high = math.floor(3 * math.log2(BAND_HZ[1] / 1000))
    centres = 1000 * 2.0 ** (np.arange(low, high + 1) / 3)
    levels = [
        10 * np.log10(power[(freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))].sum() + 1e-30)
        for c in centres
    ]
    return centres, np.array(levels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="demo fit steps (default 60)")
    parser.add_argument("--as-saved", action="store_true", help="do not rebuild the processors")
    parser.add_argument("--out", default=None, help="demo folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-rates-"))
    began = time.perf_counter()
    run_demo(out, steps=args.steps, progress=False, report=False, log=lambda line: None)
    fit_seconds = time.perf_counter() - began
    inputs = json.loads((out / "metrics.json").read_text())["inputs"]
    base, base_rate = read_stems(inputs["stems"])
    distance = MultiResolutionSTFTLoss(**STFT_DISTANCE_SETTINGS)
    renders = {}
    for rate in RATES:
        model = load(out / "graph.json", sample_rate=None if args.as_saved else rate)
        stems = resample(base, base_rate, rate)
        started = time.perf_counter()
        mix = render_mix(model.graph, model.processors, model.parameters, stems)
        seconds = time.perf_counter() - started
        renders[rate] = (resample(mix, rate, base_rate)[..., : base.shape[-1]].double(), seconds)
    reference = renders[base_rate][0]
    _, ref_levels = third_octave_levels(reference.numpy(), base_rate)
    mode = "as saved" if args.as_saved else "rebuilt for each rate"
    print(f"demo fit: {args.steps} steps at {base_rate} Hz in {fit_seconds:.0f} s; processors {mode}")
    print()
    print("| render rate | max band-level difference (dB, 40 Hz-14 kHz) | STFT distance | render s |")
    print("| --- | --- | --- | --- |")
    for rate in RATES:
        mix, seconds = renders[rate]
        centres, levels = third_octave_levels(mix.numpy(), base_rate)
        worst = int(np.argmax(np.abs(levels - ref_levels)))
        with torch.no_grad():
            d = float(distance(mix, reference))
        print(
            f"| {rate} Hz | {abs(levels - ref_levels)[worst]:.3f} (at {centres[worst]:.0f} Hz) "
            f"| {d:.4f} | {seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
