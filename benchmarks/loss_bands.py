"""What each objective charges for a band error: +3 dB in one third-octave band, per band.

The target is 4 s of stereo pink noise at 44.1 kHz (power falling 3 dB an octave: about equal
power per band); each estimate is the target with one third-octave band
``[fc 10^-1/20, fc 10^1/20)`` raised by the boost (an ideal band filter in the frequency
domain), or the whole target raised by 1 dB. Prints a markdown table: band, boost, the default
``BandLoss`` and the paper's ``MixLoss``.

    PYTHONPATH=src python benchmarks/loss_bands.py [--seconds 4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from grafx.losses import BandLoss, MixLoss

RATE = 44100
CENTRES = (40, 63, 100, 160, 250, 500, 1000, 2000, 4000, 8000, 12500, 16000)


def pink(seconds: float, seed: int = 0) -> np.ndarray:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal((2, n)))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[:, 1:] /= np.sqrt(freqs[1:])
    spectrum[:, 0] = 0
    audio = np.fft.irfft(spectrum, n)
    return audio / np.abs(audio).max() / 2


def band_boost(audio: np.ndarray, centre: float, gain_db: float) -> np.ndarray:
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / RATE)
    inside = (freqs >= centre * 10**-0.05) & (freqs < centre * 10**0.05)
    spectrum[:, inside] *= 10 ** (gain_db / 20)
    return np.fft.irfft(spectrum, audio.shape[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    target = pink(args.seconds)
    losses = {"BandLoss (default)": BandLoss(RATE), "MixLoss (paper)": MixLoss(RATE)}
    t = torch.from_numpy(target)
    cases = [(f"{fc}", 3.0, band_boost(target, fc, 3.0)) for fc in CENTRES]
    cases.append(("100", 10.0, band_boost(target, 100, 10.0)))
    cases.append(("whole mix", 1.0, target * 10 ** (1 / 20)))
    print("| band (Hz) | boost | " + " | ".join(losses) + " |")
    print("| ---: | ---: |" + " ---: |" * len(losses))
    for band, gain, estimate in cases:
        x = torch.from_numpy(estimate)
        values = " | ".join(f"{float(loss(x, t)):.4f}" for loss in losses.values())
        print(f"| {band} | +{gain:g} dB | {values} |")


if __name__ == "__main__":
    main()
