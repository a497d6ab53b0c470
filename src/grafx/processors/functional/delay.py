r"""Multitap delay: an impulse response assembled from surrogate delay taps, one segment each.

The IR of ``S`` segments of ``segment_len`` samples holds ``T`` taps per segment and channel; tap
``t`` of segment ``s`` is a (soft or one-hot) impulse at ``s * segment_len + d`` with
``0 <= d < segment_len``, optionally coloured by its own zero-phase FIR.
"""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.processors.core.convolution import fast_fft_len
from grafx.processors.core.fft import rfft


def assemble_multitap_ir(
    tap_irs: Tensor,
    num_channels: int,
    num_segments: int,
    tap_firs: Tensor | None = None,
    pre_delay: int = 0,
) -> Tensor:
    r"""Sum each segment's taps and lay the segments end to end.

    .. math:: h_c[s L_s + n] = \sum_t (g_{c,s,t} * \delta_{c,s,t})[n], \quad 0 \le n < L_s

    where :math:`*` is a zero-phase convolution cropped to the segment (``"zerophase"`` mode of
    :func:`~grafx.processors.core.convolution.convolve`).

    Args:
        tap_irs: per-tap delay IRs, ``(B, D, L_s)`` with ``D = C * S * T`` ordered channel, then
            segment, then tap.
        num_channels: ``C``.
        num_segments: ``S``.
        tap_firs: optional zero-phase FIR per tap, ``(B, D, N)``, ``N`` odd.
        pre_delay: leading zeros (samples) before the first segment.

    Returns:
        IRs, ``(B, C, pre_delay + S * L_s)``.
    """
    if tap_firs is not None:
        tap_irs = _zero_phase_filter(tap_irs, tap_firs.to(tap_irs.dtype))
    batch, num_taps, segment_len = tap_irs.shape
    taps_per_segment = num_taps // (num_channels * num_segments)
    grouped = tap_irs.reshape(batch, num_channels, num_segments, taps_per_segment, segment_len)
    ir = grouped.sum(3).reshape(batch, num_channels, num_segments * segment_len)
    if pre_delay > 0:
        ir = torch.cat([ir.new_zeros(batch, num_channels, pre_delay), ir], dim=-1)
    return ir


def _zero_phase_filter(signals: Tensor, firs: Tensor) -> Tensor:
    """Zero-phase linear convolution, cropped to the signal length, always through FFTs.

    Equals ``convolve(signals, firs, "zerophase")``; the FFT path is forced because the direct
    path (a grouped ``conv1d`` with one group per tap) has a very slow backward on CPU for the
    hundreds of groups a multitap delay has (3.4 s against 0.05 s at batch 8, 40 taps).
    """
    signal_len, fir_len = signals.shape[-1], firs.shape[-1]
    n_fft = fast_fft_len(signal_len + fir_len - 1)
    # each spectrum's one consumer is the product, whose backward makes a fresh gradient
    spectrum = rfft(signals, n=n_fft, overwrite_grad=True)
    response = rfft(firs, n=n_fft, overwrite_grad=True)
    needs_grad = torch.is_grad_enabled() and (signals.requires_grad or firs.requires_grad)
    if needs_grad or spectrum.shape != response.shape:
        spectrum = spectrum * response
    else:  # no backward to keep the operands for: the same product, in place
        spectrum.mul_(response)
    del response
    full = torch.fft.irfft(spectrum, n=n_fft)
    start = fir_len // 2
    return full[..., start : start + signal_len]
