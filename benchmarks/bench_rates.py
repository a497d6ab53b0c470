"""The demo's fitted graph rendered at 30, 44.1 and 48 kHz: does it make the same mix?

Runs ``grafx demo`` (``grafx.demo.run_demo``: stems synthesised at 30 kHz, the console fitted
at 30 kHz), then renders its ``graph.json`` with ``grafx.io.load(path, sample_rate=R)`` (the
processors rebuilt for R, see ``grafx.processors.core.rate``) from the stems resampled to R,
for R = 30, 44.1 and 48 kHz. Each render is resampled to 30 kHz (the stems hold nothing above
15 kHz), limited to 14 kHz by an FFT brick wall (the resampler's anti-alias filter already
rolls off between 14 and 15 kHz, where the 30 kHz render is untouched, so the band above is
left out of every render alike), and compared with the 30 kHz render: the largest difference
of third-octave band levels (mid channel, 40 Hz to 14 kHz), and ``grafx.metrics``'
multi-resolution STFT distance (``STFT_DISTANCE_SETTINGS``). With
``--as-saved`` the processors are used as saved at every rate (what grafx did before graph
files recorded their rate), for comparison.

    python benchmarks/bench_rates.py [--steps 60] [--as-saved] [--out DIR]
    python benchmarks/bench_rates.py --fit-check

``--fit-check`` instead runs ``grafx fit`` (3 steps, default 30 kHz working rate) on two 44.1 kHz
stems with partials at 440 Hz, 5 kHz and 19 kHz and prints ``fitted.wav``'s rate and its level
against the target's in bands around each partial.

``--out DIR`` keeps the demo there; a DIR that already holds a demo's ``graph.json`` is reused
(no new fit), so both modes can be compared on one fit.
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


def brick_wall(audio: torch.Tensor, sample_rate: float, top: float = BAND_HZ[1]) -> torch.Tensor:
    """``audio (..., L)`` with every FFT bin above ``top`` Hz set to zero."""
    spectrum = torch.fft.rfft(audio)
    spectrum[..., torch.fft.rfftfreq(audio.shape[-1], 1 / sample_rate) > top] = 0
    return torch.fft.irfft(spectrum, n=audio.shape[-1])


def third_octave_levels(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres and levels (dB) of the mid signal's third-octave bands within :data:`BAND_HZ`."""
    mid = audio.mean(0)
    power = np.abs(np.fft.rfft(mid)) ** 2
    freqs = np.fft.rfftfreq(mid.shape[-1], 1 / sample_rate)
    low = math.ceil(3 * math.log2(BAND_HZ[0] / 1000))
    high = math.floor(3 * math.log2(BAND_HZ[1] / 1000))
    centres = 1000 * 2.0 ** (np.arange(low, high + 1) / 3)
    levels = [
        10
        * np.log10(power[(freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))].sum() + 1e-30)
        for c in centres
    ]
    return centres, np.array(levels)


def fit_check() -> None:
    """``grafx fit`` on 44.1 kHz stems: is ``fitted.wav`` at 44.1 kHz with its 19 kHz partial?"""
    import soundfile as sf

    from grafx.cli import main as grafx

    rate, seconds = 44100, 1.5
    root = Path(tempfile.mkdtemp(prefix="bench-rates-fit-"))
    t = np.arange(int(rate * seconds)) / rate
    partials = (440.0, 5000.0, 19000.0)
    stems = [0.2 * np.sin(2 * np.pi * f * t) for f in partials[:2]]
    stems[1] = stems[1] + 0.1 * np.sin(2 * np.pi * partials[2] * t)
    for i, stem in enumerate(stems):
        sf.write(root / f"s{i}.wav", np.stack([stem, stem], 1), rate, subtype="FLOAT")
    target = 0.8 * stems[0] + 0.6 * stems[1]
    sf.write(root / "mix.wav", np.stack([target, target], 1), rate, subtype="FLOAT")
    stem_files = [str(root / f"s{i}.wav") for i in range(len(stems))]
    grafx(
        ["fit", "--stems", *stem_files, "--target", str(root / "mix.wav"), "--steps", "3",
         "--quiet", "--out", str(root / "fit")]
    )  # fmt: skip
    fitted, fitted_rate = sf.read(root / "fit" / "fitted.wav", always_2d=True)
    working = json.loads((root / "fit" / "graph.json").read_text())["sample_rate"]
    print(
        f"grafx fit on {rate} Hz stems, working rate {working:g} Hz: fitted.wav at {fitted_rate} Hz"
    )
    print()
    print("| partial | fitted.wav level - target level (dB) |")
    print("| --- | --- |")
    spectrum = np.abs(np.fft.rfft(fitted[:, 0]))
    reference = np.abs(np.fft.rfft(target[: fitted.shape[0]]))
    freqs = np.fft.rfftfreq(fitted.shape[0], 1 / fitted_rate)
    for f in partials:
        band = (freqs > f * 0.97) & (freqs < f * 1.03)
        level = 20 * np.log10(spectrum[band].max() / reference[band].max())
        print(f"| {f:g} Hz | {level:+.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="demo fit steps (default 60)")
    parser.add_argument("--as-saved", action="store_true", help="do not rebuild the processors")
    parser.add_argument("--out", default=None, help="demo folder (default: a temporary one)")
    parser.add_argument("--fit-check", action="store_true", help="the grafx fit check instead")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fit_check:
        fit_check()
        return
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-rates-"))
    began = time.perf_counter()
    reused = (out / "graph.json").exists() and (out / "metrics.json").exists()
    if not reused:
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
        back = resample(mix, rate, base_rate)[..., : base.shape[-1]].double()
        renders[rate] = (brick_wall(back, base_rate), seconds)
    reference = renders[base_rate][0]
    _, ref_levels = third_octave_levels(reference.numpy(), base_rate)
    mode = "as saved" if args.as_saved else "rebuilt for each rate"
    fit = f"reused from {out}" if reused else f"{args.steps} steps in {fit_seconds:.0f} s"
    print(f"demo fit at {base_rate} Hz: {fit}; processors {mode}")
    print()
    print(
        "| render rate | max band-level difference (dB, 40 Hz-14 kHz) | STFT distance | render s |"
    )
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
