r"""Modulated delays (chorus, flanger) as pure functions, differentiable in rate and depth.

A sinusoidal LFO moves a delay line between :math:`d_0` and :math:`d_0 + \Delta` samples,

.. math::
    d_c[n] = d_0 + \tfrac{\Delta}{2}\big(1 - \cos(2\pi r n / f_s + \phi_c)\big), \qquad
    y_c[n] = (1 - w)\, x_c[n] + w\, x_c[n - d_c[n]],

with rate :math:`r` (Hz), depth :math:`\Delta`, wet mix :math:`w`, and the LFO phase
:math:`\phi_c` of channel :math:`c` (0 on the left, ``stereo_phase`` on the right). The
fractional read :math:`x[n - d]` interpolates linearly between the two neighbouring samples,
which is differentiable in :math:`d` (hence in :math:`r` and :math:`\Delta`) except on integer
delays; before the signal starts it reads zeros.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def fractional_delay_read(input_signals: Tensor, delay: Tensor, max_delay: int) -> Tensor:
    """``x[n - d[n]]`` with linear interpolation: ``(B, C, L)`` audio, ``(B, C, L)`` delays in
    samples in ``[0, max_delay]``."""
    length = input_signals.shape[-1]
    pad = max_delay + 1
    padded = F.pad(input_signals, (pad, 0))
    position = torch.arange(length, dtype=delay.dtype, device=delay.device) + pad - delay
    base = torch.floor(position).detach()
    index = base.long().clamp(0, length + pad - 2)
    # The fraction is taken from the clamped index: at a delay of 0 the last position is the
    # last sample, read as the right neighbour with a fraction of 1 (not the left one with 0).
    frac = position - index.to(position.dtype)
    left = torch.gather(padded, -1, index)
    right = torch.gather(padded, -1, index + 1)
    return left + frac * (right - left)


def modulated_delay(
    input_signals: Tensor,
    rate: Tensor,
    depth: Tensor,
    mix: Tensor,
    base_delay: float,
    max_delay: int,
    sample_rate: float,
    stereo_phase: float = 0.0,
) -> Tensor:
    r"""Chorus/flanger core (see the module's equation).

    Args:
        input_signals: ``(B, C, L)``.
        rate: LFO rate :math:`r` in Hz, ``(B, 1)``.
        depth: :math:`\Delta` in samples, ``(B, 1)``.
        mix: :math:`w`, ``(B, 1)``.
        base_delay: :math:`d_0` in samples.
        max_delay: an integer bound of :math:`d_0 + \Delta`.
        sample_rate: :math:`f_s` in Hz.
        stereo_phase: :math:`\phi` of the second channel, radians.

    Returns:
        ``(B, C, L)``.
    """
    C, L = input_signals.shape[1:]
    n = torch.arange(L, dtype=rate.dtype, device=rate.device)
    phase = torch.zeros(C, dtype=rate.dtype, device=rate.device)
    if C == 2:
        phase[1] = stereo_phase
    lfo = 0.5 * (1 - torch.cos(2 * math.pi * rate[:, :, None] * n / sample_rate + phase[:, None]))
    delay = base_delay + depth[:, :, None] * lfo  # (B, C, L)
    wet = fractional_delay_read(input_signals, delay, max_delay)
    w = mix[:, :, None]
    return (1 - w) * input_signals + w * wet
