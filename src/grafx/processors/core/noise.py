r"""Reproducible noise for the noise-based reverbs: uniform noise and band-split (filtered) noise.

Every function takes a ``seed`` or a :class:`torch.Generator`, so the same arguments give the same
noise on every run (the original library drew from numpy's unseeded global generator).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import torch
from torch import Tensor

from grafx.errors import ConfigError

NOISE_SCALES = ("log", "linear")


def make_generator(
    seed: int | None = 0, generator: torch.Generator | None = None
) -> torch.Generator:
    """A CPU generator: ``generator`` itself when given, else a new one seeded with ``seed``.

    ``seed=None`` (and no generator) seeds from the operating system, i.e. fresh noise per run.
    """
    if generator is not None:
        return generator
    new = torch.Generator()
    if seed is None:
        new.seed()
    else:
        new.manual_seed(int(seed))
    return new


def uniform_noise(
    shape: tuple[int, ...],
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Uniform noise in ``[-1, 1)`` of the given shape, drawn on the CPU from ``generator``.

    Drawing on the CPU keeps the values identical whatever ``device`` the result goes to.
    """
    noise = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1
    return noise.to(dtype=dtype, device=device)


def crossover_frequencies(
    num_bands: int, f_min: float, f_max: float, scale: str = "log"
) -> np.ndarray:
    r"""The ``num_bands - 1`` crossover frequencies between ``num_bands`` bands.

    The band edges are ``num_bands + 1`` points evenly spaced on ``scale`` from ``f_min`` to
    ``f_max`` (``"log"``: geometrically, ``"linear"``: in hertz); the crossovers are the interior
    edges, so the lowest band also covers everything below ``f_min`` and the highest everything
    above ``f_max``.
    """
    if scale not in NOISE_SCALES:
        raise ConfigError(f"filtered noise: unknown scale {scale!r}; use one of {NOISE_SCALES}")
    if num_bands < 1:
        raise ConfigError(f"filtered noise: num_bands must be >= 1, got {num_bands}")
    if not 0 < f_min < f_max:
        raise ConfigError(f"filtered noise: need 0 < f_min < f_max, got {f_min} and {f_max}")
    positions = np.linspace(0.0, 1.0, num_bands + 1)[1:-1]
    if scale == "log":
        return f_min * (f_max / f_min) ** positions
    return f_min + (f_max - f_min) * positions


def band_split(
    signals: np.ndarray,
    num_bands: int = 2,
    f_min: float = 40.0,
    f_max: float | None = None,
    scale: str = "log",
    sr: float = 44100,
    zerophase: bool = True,
    order: int = 2,
) -> np.ndarray:
    r"""Split signals into adjacent frequency bands with a chain of Butterworth crossovers.

    At each crossover frequency (ascending), the remaining signal is split into a low part, which
    becomes the next band, and a high part, which goes on to the next crossover; the last high part
    is the top band. With ``zerophase`` each filter runs forwards and backwards
    (``scipy.signal.sosfiltfilt``: squared magnitude, no phase, a Linkwitz-Riley-like split).

    Args:
        signals: ``(..., L)`` array.
        num_bands: number of bands ``K``.
        f_min, f_max: lowest and highest band edge in Hz (``f_max`` defaults to ``sr / 2``).
        scale: spacing of the crossovers, ``"log"`` or ``"linear"``.
        sr: sample rate in Hz.
        zerophase: filter forwards and backwards.
        order: Butterworth order of each low/high-pass.

    Returns:
        ``(..., K, L)`` array, lowest band first.
    """
    if f_max is None:
        f_max = sr / 2
    if f_max > sr / 2:
        raise ConfigError(f"filtered noise: f_max={f_max} is above sr/2={sr / 2}")
    filt = scipy.signal.sosfiltfilt if zerophase else scipy.signal.sosfilt
    remaining = np.asarray(signals, dtype=np.float64)
    bands = []
    for fc in crossover_frequencies(num_bands, f_min, f_max, scale):
        low = scipy.signal.butter(order, fc, btype="lowpass", fs=sr, output="sos")
        high = scipy.signal.butter(order, fc, btype="highpass", fs=sr, output="sos")
        bands.append(filt(low, remaining, axis=-1))
        remaining = filt(high, remaining, axis=-1)
    bands.append(remaining)
    return np.stack(bands, axis=-2)


def filtered_noise(
    noise_len: int,
    num_channels: int = 1,
    num_bands: int = 12,
    f_min: float = 31.5,
    f_max: float = 16000.0,
    scale: str = "log",
    sr: float = 44100,
    zerophase: bool = True,
    order: int = 2,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform noise split into frequency bands (see :func:`band_split`), ``(C, K, noise_len)``.

    The noise is drawn from ``generator`` (or a generator seeded with ``seed``), so it is
    reproducible. Returned in float64; cast it where it is used.
    """
    gen = make_generator(seed, generator)
    noise = uniform_noise((num_channels, noise_len), gen, dtype=torch.float64)
    bands = band_split(noise.numpy(), num_bands, f_min, f_max, scale, sr, zerophase, order)
    return torch.from_numpy(np.ascontiguousarray(bands))


def decay_rate_from_ms(decay_ms: float | Tensor, sr: float) -> float | Tensor:
    r"""Per-sample log-amplitude slope of an envelope that falls 60 dB in ``decay_ms``.

    .. math:: r = \ln(10^{-3}) / (t_{60} \cdot f_s / 1000)
    """
    return math.log(1e-3) / (decay_ms * sr / 1000.0)
