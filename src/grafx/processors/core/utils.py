r"""Small helpers shared by several processor families: loudness difference, IR normalisation,
the dtype filter coefficients are designed in."""

from __future__ import annotations

from typing import overload

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


def broadcast_shapes(*shapes: tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """The shape that ``shapes`` broadcast to, by numpy's rules, in plain Python.

    Same result as :func:`torch.broadcast_shapes`, whose first call imports ``torch.fx`` and
    sympy (about a second and 34 MiB in a fresh process), which the render path does not need.

    Raises:
        AudioError: the shapes do not broadcast.

    Example:
        >>> broadcast_shapes((4, 1), (2,), (1, 1, 2))
        (1, 4, 2)
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, start=ndim - len(shape)):
            if size != 1:
                if out[i] not in (1, size):
                    raise AudioError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
                out[i] = size
    return tuple(out)


def design_dtype(like: Tensor) -> torch.dtype:
    r"""The dtype filter coefficients are designed in: float64, except where the device has none.

    Designing in the parameters' float32 loses the digits of :math:`1 - \cos\omega_0` at low
    frequencies, so a low, narrow filter would be far from scipy's float64 design of the same
    float32 parameters; designed (and kept) in float64 it matches it to float32 rounding
    (``tests/processors/test_filter.py::test_float32_design_matches_float64_reference``). Apple's
    MPS has no float64, so there the design stays in float32.
    """
    return torch.float32 if like.device.type == "mps" else torch.float64


@overload
def to_design_dtype(t0: Tensor, /) -> tuple[Tensor]: ...
@overload
def to_design_dtype(t0: Tensor, t1: Tensor, /) -> tuple[Tensor, Tensor]: ...
@overload
def to_design_dtype(t0: Tensor, t1: Tensor, t2: Tensor, /) -> tuple[Tensor, Tensor, Tensor]: ...
@overload
def to_design_dtype(*tensors: Tensor) -> tuple[Tensor, ...]: ...
@overload
def to_design_dtype(*tensors: Tensor | None) -> tuple[Tensor | None, ...]: ...
def to_design_dtype(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Cast ``tensors`` (``None`` kept) to :func:`design_dtype` of the first one given."""
    first = next(t for t in tensors if t is not None)
    dtype = design_dtype(first)
    return tuple(None if t is None else t.to(dtype) for t in tensors)
