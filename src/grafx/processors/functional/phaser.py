r"""A phaser as a pure function: a swept chain of first-order all-passes, frame by frame.

:math:`K` first-order all-passes :math:`A(z) = (a + z^{-1}) / (1 + a z^{-1})`, with
:math:`a = (\tan(\pi f / f_s) - 1) / (\tan(\pi f / f_s) + 1)` (phase :math:`-\pi/2` at
:math:`f`), are mixed with the dry signal, :math:`Y = (1 - w) X + w A^K X`: notches where the
chain's phase is an odd multiple of :math:`\pi`. The break frequency is swept by an LFO,

.. math:: f(t) = f_c\, e^{\delta \sin(2\pi r t)},

with rate :math:`r` and depth :math:`\delta` (:math:`f` moves between :math:`f_c e^{-\delta}`
and :math:`f_c e^{\delta}`). The time-varying filter is applied frame by
frame in an STFT (Hann window, hop a quarter of the FFT length, so overlap-add is exact for a
constant filter): each frame is multiplied by the chain's frequency response at its centre
time. This is an approximation of a sample-by-sample time-varying all-pass, exact when the
sweep is slow compared with a frame, and differentiable in :math:`r`, :math:`\delta` and
:math:`w`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def allpass_chain_response(
    frequency: Tensor, num_stages: int, n_fft: int, sample_rate: float
) -> Tensor:
    """Response of ``num_stages`` first-order all-passes with break ``frequency (B, T)`` Hz at
    the ``n_fft // 2 + 1`` bins: ``(B, F, T)`` complex."""
    t = torch.tan(math.pi * frequency / sample_rate)
    a = ((t - 1) / (t + 1))[:, None, :]  # (B, 1, T)
    omega = torch.linspace(
        0, math.pi, n_fft // 2 + 1, dtype=frequency.dtype, device=frequency.device
    )
    z_inv = torch.polar(torch.ones_like(omega), -omega)[None, :, None]
    return ((a + z_inv) / (1 + a * z_inv)) ** num_stages


def phaser(
    input_signals: Tensor,
    rate: Tensor,
    depth: Tensor,
    mix: Tensor,
    center_hz: float,
    num_stages: int,
    sample_rate: float,
    n_fft: int = 1024,
) -> Tensor:
    r"""Apply the phaser (see the module's equation).

    Args:
        input_signals: ``(B, C, L)``.
        rate: :math:`r` Hz, ``(B, 1)``.
        depth: :math:`\delta`, ``(B, 1)``.
        mix: :math:`w`, ``(B, 1)``.
        center_hz: :math:`f_c`.
        num_stages: :math:`K`.
        sample_rate: :math:`f_s`.
        n_fft: STFT length (hop ``n_fft // 4``).

    Returns:
        ``(B, C, L)``.
    """
    B, C, L = input_signals.shape
    hop = n_fft // 4
    window = torch.hann_window(n_fft, dtype=input_signals.dtype, device=input_signals.device)
    flat = input_signals.reshape(B * C, L)
    spectrum = torch.stft(
        flat, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True
    )
    frames = spectrum.shape[-1]
    times = torch.arange(frames, dtype=rate.dtype, device=rate.device) * hop / sample_rate
    frequency = center_hz * torch.exp(depth * torch.sin(2 * math.pi * rate * times))
    frequency = frequency.clamp(max=0.49 * sample_rate)
    response = allpass_chain_response(frequency, num_stages, n_fft, sample_rate)  # (B, F, T)
    w = mix[:, :, None]
    gain = (1 - w) + w * response
    out = spectrum.reshape(B, C, *spectrum.shape[1:]) * gain[:, None].to(spectrum.dtype)
    y = torch.istft(
        out.reshape(B * C, *out.shape[2:]), n_fft, hop, window=window, center=True, length=L
    )
    return y.reshape(B, C, L)
