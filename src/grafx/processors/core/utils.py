r"""Small helpers shared by several processor families: loudness difference, IR normalisation."""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.errors import AudioError


def rms_difference(input_signals: Tensor, output_signals: Tensor, eps: float = 1e-7) -> Tensor:
    r"""Summed absolute log-energy difference between two batches of signals.

    .. math:: r = \sum_b \left| \log\!\big(\overline{x_b^2} + \epsilon\big)
              - \log\!\big(\overline{y_b^2} + \epsilon\big) \right|

    where the bars are means over channels and samples. Used as a gain-staging regulariser.

    Args:
        input_signals: signals before a processor, ``(B, C, L)``.
        output_signals: signals after it, ``(B, C', L)``.
        eps: floor added to each mean energy so silence gives a finite log.

    Returns:
        A scalar, summed over the batch.
    """
    if input_signals.ndim < 2 or output_signals.ndim < 2:
        raise AudioError(
            "rms_difference: signals must be (B, C, L) or (B, L), got shapes "
            f"{tuple(input_signals.shape)} and {tuple(output_signals.shape)}"
        )
    dims_x = tuple(range(1, input_signals.ndim))
    dims_y = tuple(range(1, output_signals.ndim))
    log_energy_x = torch.log(input_signals.square().mean(dims_x) + eps)
    log_energy_y = torch.log(output_signals.square().mean(dims_y) + eps)
    return (log_energy_x - log_energy_y).abs().sum()


def normalize_impulse(ir: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Scale impulse responses to unit energy (averaged over channels).

    .. math:: \hat h_c[n] = h_c[n] \Big/ \sqrt{\tfrac{1}{C}\sum_{c}\sum_n h_c[n]^2 + \epsilon}

    Args:
        ir: impulse responses, ``(B, C, N)``.
        eps: floor inside the square root, so an all-zero IR stays zero instead of NaN.

    Returns:
        The normalised impulse responses, ``(B, C, N)``.
    """
    if ir.ndim != 3:
        raise AudioError(f"normalize_impulse: ir must be (B, C, N), got shape {tuple(ir.shape)}")
    energy = ir.square().sum(-1).mean(-1)
    return ir / torch.sqrt(energy + eps)[:, None, None]
