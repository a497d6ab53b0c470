r"""Frequency scales: Hz to and from Bark, mel and log, for spacing filter banks.

Each conversion is a pure function of its argument (never modified in place) and accepts a
float or a tensor. The Bark formulas follow Traunmüller (1990), Schroeder et al. (1979) and
Wang et al. (1992); the mel formulas follow HTK and Slaney's Auditory Toolbox (as in
torchaudio).

Unlike the original library, :func:`bark_to_hz` applies *both* of Traunmüller's range
corrections (below 2 Bark and above 20.1 Bark), so it is the exact inverse of
:func:`hz_to_bark` everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.errors import ConfigError

SCALES = (
    "bark_traunmuller",
    "bark_schroeder",
    "bark_wang",
    "mel_htk",
    "mel_slaney",
    "linear",
    "log",
)

_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def _as_tensor(x: Tensor | float) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return torch.as_tensor(x, dtype=torch.float64)


def hz_to_bark(freqs: Tensor | float, bark_scale: str = "traunmuller") -> Tensor:
    r"""Hz to Bark.

    Traunmüller: :math:`z = 26.81 f / (1960 + f) - 0.53`, then :math:`z + 0.15(2 - z)` below
    2 Bark and :math:`z + 0.22(z - 20.1)` above 20.1 Bark. Schroeder:
    :math:`z = 7\,\operatorname{asinh}(f / 650)`. Wang: :math:`z = 6\,\operatorname{asinh}(f/600)`.

    Args:
        freqs: frequencies in Hz, any shape.
        bark_scale: ``"traunmuller"``, ``"schroeder"`` or ``"wang"``.

    Returns:
        Bark values, same shape.
    """
    f = _as_tensor(freqs)
    if bark_scale == "traunmuller":
        z = 26.81 * f / (1960.0 + f) - 0.53
        z = torch.where(z < 2.0, z + 0.15 * (2.0 - z), z)
        return torch.where(z > 20.1, z + 0.22 * (z - 20.1), z)
    if bark_scale == "schroeder":
        return 7.0 * torch.asinh(f / 650.0)
    if bark_scale == "wang":
        return 6.0 * torch.asinh(f / 600.0)
    raise ConfigError(f"hz_to_bark: unknown bark_scale {bark_scale!r}")


def bark_to_hz(barks: Tensor | float, bark_scale: str = "traunmuller") -> Tensor:
    """Bark to Hz, the exact inverse of :func:`hz_to_bark` (both corrections undone).

    Args:
        barks: Bark values, any shape.
        bark_scale: ``"traunmuller"``, ``"schroeder"`` or ``"wang"``.

    Returns:
        Frequencies in Hz, same shape.
    """
    z = _as_tensor(barks)
    if bark_scale == "traunmuller":
        # The corrections map (-inf, 2) and (20.1, inf) onto themselves, so they invert separately.
        z = torch.where(z < 2.0, (z - 0.3) / 0.85, z)
        z = torch.where(z > 20.1, (z + 0.22 * 20.1) / 1.22, z)
        return 1960.0 * (z + 0.53) / (26.28 - z)
    if bark_scale == "schroeder":
        return 650.0 * torch.sinh(z / 7.0)
    if bark_scale == "wang":
        return 600.0 * torch.sinh(z / 6.0)
    raise ConfigError(f"bark_to_hz: unknown bark_scale {bark_scale!r}")


def hz_to_mel(freqs: Tensor | float, mel_scale: str = "htk") -> Tensor:
    r"""Hz to mel: HTK :math:`2595 \log_{10}(1 + f/700)`, or Slaney (linear below 1 kHz, log above).

    Args:
        freqs: frequencies in Hz, any shape.
        mel_scale: ``"htk"`` or ``"slaney"``.

    Returns:
        Mel values, same shape.
    """
    f = _as_tensor(freqs)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    if mel_scale == "slaney":
        linear = f / _SLANEY_F_SP
        safe = torch.clamp(f, min=_SLANEY_MIN_LOG_HZ)
        logpart = _SLANEY_MIN_LOG_MEL + torch.log(safe / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
        return torch.where(f >= _SLANEY_MIN_LOG_HZ, logpart, linear)
    raise ConfigError(f"hz_to_mel: unknown mel_scale {mel_scale!r}")


def mel_to_hz(mels: Tensor | float, mel_scale: str = "htk") -> Tensor:
    """Mel to Hz, the inverse of :func:`hz_to_mel`.

    Args:
        mels: mel values, any shape.
        mel_scale: ``"htk"`` or ``"slaney"``.

    Returns:
        Frequencies in Hz, same shape.
    """
    m = _as_tensor(mels)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale == "slaney":
        linear = _SLANEY_F_SP * m
        logpart = _SLANEY_MIN_LOG_HZ * torch.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
        return torch.where(m >= _SLANEY_MIN_LOG_MEL, logpart, linear)
    raise ConfigError(f"mel_to_hz: unknown mel_scale {mel_scale!r}")


def hz_to_log(freqs: Tensor | float) -> Tensor:
    """Hz to natural log-frequency, :math:`\\ln f` (needs ``f > 0``)."""
    return torch.log(_as_tensor(freqs))


def log_to_hz(log_freqs: Tensor | float) -> Tensor:
    """Natural log-frequency to Hz, :math:`e^{x}`."""
    return torch.exp(_as_tensor(log_freqs))


def to_scale(freqs: Tensor | float, scale: str) -> Tensor:
    """Map Hz onto one of :data:`SCALES`.

    Args:
        freqs: frequencies in Hz, any shape.
        scale: a name from :data:`SCALES`.

    Returns:
        Values on that scale, same shape.
    """
    if scale.startswith("bark_"):
        return hz_to_bark(freqs, scale[len("bark_") :])
    if scale.startswith("mel_"):
        return hz_to_mel(freqs, scale[len("mel_") :])
    if scale == "linear":
        return _as_tensor(freqs).clone()
    if scale == "log":
        return hz_to_log(freqs)
    raise ConfigError(f"to_scale: unknown scale {scale!r}; use one of {SCALES}")


def from_scale(values: Tensor | float, scale: str) -> Tensor:
    """Map values on one of :data:`SCALES` back to Hz (inverse of :func:`to_scale`)."""
    if scale.startswith("bark_"):
        return bark_to_hz(values, scale[len("bark_") :])
    if scale.startswith("mel_"):
        return mel_to_hz(values, scale[len("mel_") :])
    if scale == "linear":
        return _as_tensor(values).clone()
    if scale == "log":
        return log_to_hz(values)
    raise ConfigError(f"from_scale: unknown scale {scale!r}; use one of {SCALES}")
