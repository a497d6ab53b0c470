r"""Equaliser designs: parametric EQ biquads and zero-phase FIR filtering."""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.processors.core.convolution import convolve
from grafx.processors.functional.filter import rbj_biquad


def parametric_eq_biquads(
    w0: Tensor, q_inv: Tensor, log_gain: Tensor, use_shelving_filters: bool = True
) -> tuple[Tensor, Tensor]:
    """Biquads of a parametric EQ: RBJ peaking bands, optionally framed by two shelves.

    With ``use_shelving_filters`` band 0 is a low shelf, band ``K - 1`` a high shelf and the
    bands between are peaking; otherwise all are peaking (see
    :func:`grafx.processors.functional.filter.rbj_biquad` for the activations).

    Args:
        w0: pre-sigmoid centre frequencies, ``(..., K)``.
        q_inv: log inverse Q, ``(..., K)``.
        log_gain: log amplitudes, ``(..., K)``.
        use_shelving_filters: shelves at both ends (needs ``K >= 2``).

    Returns:
        ``Bs, As``, each ``(..., K, 3)``.
    """
    if not use_shelving_filters:
        return rbj_biquad("peaking", w0, q_inv, log_gain)
    parts = [
        rbj_biquad("lowshelf", w0[..., :1], q_inv[..., :1], log_gain[..., :1]),
        rbj_biquad("peaking", w0[..., 1:-1], q_inv[..., 1:-1], log_gain[..., 1:-1]),
        rbj_biquad("highshelf", w0[..., -1:], q_inv[..., -1:], log_gain[..., -1:]),
    ]
    Bs = torch.cat([p[0] for p in parts], dim=-2)
    As = torch.cat([p[1] for p in parts], dim=-2)
    return Bs, As


def zero_phase_fir_filter(input_signals: Tensor, fir: Tensor) -> Tensor:
    """Apply centred odd-length FIRs ``fir (B, C_f, N)`` to ``(B, C, L)`` with no delay.

    Returns:
        ``(B, max(C, C_f), L)``; a symmetric filter and a symmetric input give a symmetric
        output.
    """
    return convolve(input_signals, fir, mode="zerophase")
