r"""Stereo processing as pure functions: gain/pan, side gain, and mid/side conversion.

Channels live on dim -2 of ``(B, C, L)`` signals. The module classes in
:mod:`grafx.processors.stereo` check shapes and parameters, then call these.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.processors.functional.panner import CENTER_LOG_GAIN, pan_law_log_gains


def stereo_gain(input_signals: Tensor, log_gain: Tensor) -> Tensor:
    r"""Scale the left and right channels by learnable gains (panning and level).

    .. math:: y_c[n] = \exp(g_c)\, u_c[n], \quad c \in \{\mathrm{l}, \mathrm{r}\}

    Args:
        input_signals: audio, ``(B, C, L)`` with ``C`` 1 or 2; ``C = 1`` is broadcast to stereo.
        log_gain: natural-log gain per output channel, ``(B, 2)``, or per channel and sample,
            ``(B, 2, L)`` (automation).

    Returns:
        Stereo audio, ``(B, 2, L)``.
    """
    gain = torch.exp(log_gain)
    return input_signals * (gain if gain.ndim == 3 else gain[..., None])


def side_gain(input_signals: Tensor, log_gain: Tensor) -> Tensor:
    r"""Widen or narrow a stereo image by scaling its side signal.

    .. math::
        m = l + r, \quad s = e^{g}(l - r), \quad
        l' = \tfrac{1}{2}(m + s), \quad r' = \tfrac{1}{2}(m - s)

    so ``log_gain = 0`` is the identity, ``-inf`` collapses to mono.

    Args:
        input_signals: stereo audio, ``(B, 2, L)``.
        log_gain: natural-log side gain, ``(B, 1)``.

    Returns:
        Stereo audio, ``(B, 2, L)``.
    """
    # as a 2x2 mixing matrix [[p, q], [q, p]], p = (1 + g)/2, q = (1 - g)/2: a single pass
    # over the audio instead of mid/side arithmetic
    g = torch.exp(log_gain[:, 0])
    p, q = 0.5 + 0.5 * g, 0.5 - 0.5 * g
    mixing = torch.stack([torch.stack([p, q], -1), torch.stack([q, p], -1)], -2)
    return torch.matmul(mixing, input_signals)


def mono_to_stereo(input_signals: Tensor) -> Tensor:
    """Duplicate a mono channel: ``(B, 1, L)`` to ``(B, 2, L)``."""
    return input_signals.expand(-1, 2, -1).clone()


def stereo_to_midside(input_signals: Tensor, normalize: bool = True) -> list[Tensor]:
    r"""Split stereo audio into mid and side signals.

    .. math:: m = c\,(l + r), \quad s = c\,(l - r), \quad
              c = 1/\sqrt{2} \text{ if normalize else } 1

    Args:
        input_signals: stereo audio, ``(B, 2, L)``.
        normalize: use the energy-preserving scale :math:`1/\sqrt{2}`.

    Returns:
        ``[mid, side]``, each ``(B, 1, L)``.
    """
    scale = 1 / math.sqrt(2) if normalize else 1.0
    left, right = input_signals.split(1, dim=-2)
    return [scale * (left + right), scale * (left - right)]


def midside_to_stereo(mid: Tensor, side: Tensor, normalize: bool = True) -> Tensor:
    r"""Join mid and side signals into stereo, the exact inverse of :func:`stereo_to_midside`.

    .. math:: l = c\,(m + s), \quad r = c\,(m - s), \quad
              c = 1/\sqrt{2} \text{ if normalize else } 1/2

    Args:
        mid: mid signal, ``(B, 1, L)``.
        side: side signal, ``(B, 1, L)``.
        normalize: the mid/side pair was made with ``normalize=True``.

    Returns:
        Stereo audio, ``(B, 2, L)``.
    """
    scale = 1 / math.sqrt(2) if normalize else 0.5
    return torch.cat([scale * (mid + side), scale * (mid - side)], dim=-2)


_LN10 = math.log(10.0)


def stereo_log_gain(gain_db: Tensor | float, pan: Tensor | float) -> Tensor:
    r"""StereoGain ``log_gain`` from a gain in dB and a pan position in [-1, 1].

    Constant-power pan law normalised to unity in the centre:
    :math:`g_l = 10^{G/20}\sqrt{2}\cos\theta`, :math:`g_r = 10^{G/20}\sqrt{2}\sin\theta`,
    :math:`\theta = \tfrac{\pi}{4}(p + 1)`. Pan is clamped to ``[-0.999, 0.999]`` (a hard pan
    has a zero gain, whose log is :math:`-\infty`).

    Returns:
        ``(..., 2)`` natural-log gains (left, right), float64.
    """
    gain_db = torch.as_tensor(gain_db, dtype=torch.float64)
    pan = torch.as_tensor(pan, dtype=torch.float64).clamp(-0.999, 0.999)
    # The Panner's constant-power law, normalised to unity in the centre.
    base = gain_db * _LN10 / 20 - CENTER_LOG_GAIN["constant_power"]
    return base[..., None] + pan_law_log_gains(pan, "constant_power")


def gain_pan_from_log_gain(log_gain: Tensor) -> tuple[Tensor, Tensor]:
    """Inverse of :func:`stereo_log_gain`: ``(gain_db, pan)`` from ``(..., 2)`` log-gains."""
    left, right = torch.exp(log_gain[..., 0]), torch.exp(log_gain[..., 1])
    gain_db = 20 * torch.log10(torch.sqrt((left**2 + right**2) / 2))
    pan = torch.atan2(right, left) * 4 / math.pi - 1
    return gain_db, pan
