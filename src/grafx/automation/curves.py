r"""Interpolation of parameter curves given at knots: linear and monotone cubic.

A curve is a tensor ``(..., K)`` of values at ``K`` knot times :math:`t_0 < \dots < t_{K-1}`
(seconds). :func:`interpolate_curve` evaluates it at any times ``(T,)``:

* ``"linear"``: :math:`v(t) = v_k + (v_{k+1} - v_k)\,(t - t_k) / (t_{k+1} - t_k)` on
  :math:`[t_k, t_{k+1}]`, as ``numpy.interp``;
* ``"cubic"``: the monotone piecewise-cubic Hermite interpolant of Fritsch and Carlson (1980)
  with the slope rule of scipy's ``PchipInterpolator`` (weighted harmonic mean of the two
  secants inside, a shape-preserving three-point formula at the ends): it never overshoots
  the knot values, so a fader curve does not ring past its moves.

Before the first knot and after the last the curve holds its end value. Every operation is a
torch operation on the values, so gradients reach every knot; the knot times are data (no
gradient). A constant curve evaluates to exactly its value, bit for bit, in both methods, an
infinite one included (a gate closed at every knot stays closed); a curve that steps between
an infinite and a finite knot is NaN on that segment.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from grafx.errors import ParameterError

__all__ = ["INTERPOLATIONS", "curve_segments", "interpolate_curve", "pchip_slopes"]

#: Interpolation methods of :func:`interpolate_curve`.
INTERPOLATIONS = ("linear", "cubic")


def curve_segments(
    knot_times: Tensor, times: Tensor, increasing: bool = False
) -> tuple[Tensor, Tensor]:
    """Left knot index ``(T,)`` of each time and its position ``(T,)`` in ``[0, 1]`` (at least
    two knots); :func:`interpolate_curve` takes them to skip the search for every curve.

    With ``increasing=True`` (``times`` sorted, as a render's sample times) the ``K - 2`` inner
    knots are searched among the times instead of every time among the knots, and the indices
    are counted up from where each knot falls: the same indices, without a search per time.
    """
    num_knots = knot_times.shape[0]
    if increasing and num_knots > 2:
        # index[n] = number of inner knots at or before times[n]: the searchsorted(right=True)
        # index of times[n] among all knots, less one, clamped to [0, K - 2].
        first = torch.searchsorted(times, knot_times[1:-1])
        steps = torch.zeros(times.shape[0] + 1, dtype=torch.long, device=times.device)
        steps.index_add_(0, first, torch.ones_like(first))
        index = steps[:-1].cumsum(0)
    else:
        index = torch.searchsorted(knot_times, times, right=True) - 1
        index = index.clamp(0, num_knots - 2)
    left, right = knot_times[index], knot_times[index + 1]
    position = ((times - left) / (right - left)).clamp(0.0, 1.0)
    return index, position


def pchip_slopes(values: Tensor, knot_times: Tensor) -> Tensor:
    r"""Knot slopes ``(..., K)`` of the monotone cubic interpolant of ``values (..., K)``.

    Inside, :math:`d_k = 0` where the secants :math:`\delta_{k-1}, \delta_k` differ in sign or
    either is zero, else the weighted harmonic mean
    :math:`(w_1 + w_2) / (w_1/\delta_{k-1} + w_2/\delta_k)` with :math:`w_1 = 2h_k + h_{k-1}`,
    :math:`w_2 = h_k + 2h_{k-1}`. At the ends, the three-point estimate
    :math:`((2h_0 + h_1)\delta_0 - h_0\delta_1)/(h_0 + h_1)`, set to zero when its sign differs
    from :math:`\delta_0` and to :math:`3\delta_0` when the secants differ in sign and it
    exceeds that. Two knots give the straight line.
    """
    h = knot_times[1:] - knot_times[:-1]
    delta = knot_steps(values) / h
    if values.shape[-1] == 2:
        return torch.cat([delta, delta], -1)
    d0, d1 = delta[..., :-1], delta[..., 1:]
    h0, h1 = h[:-1], h[1:]
    w1, w2 = 2 * h1 + h0, h1 + 2 * h0
    same = (d0 * d1) > 0
    # The harmonic mean only where both secants share a sign; elsewhere safe denominators keep
    # the unselected branch (and its gradient) finite.
    safe0 = torch.where(same, d0, torch.ones_like(d0))
    safe1 = torch.where(same, d1, torch.ones_like(d1))
    inner = torch.where(same, (w1 + w2) / (w1 / safe0 + w2 / safe1), torch.zeros_like(d0))
    first = _end_slope(h[0], h[1], delta[..., 0], delta[..., 1])
    last = _end_slope(h[-1], h[-2], delta[..., -1], delta[..., -2])
    return torch.cat([first[..., None], inner, last[..., None]], -1)


def knot_steps(values: Tensor) -> Tensor:
    r"""``values[..., k + 1] - values[..., k]``, ``(..., K - 1)``, with 0 between two equal
    infinite knots (a gate closed, :math:`\omega = -\infty`, over a stretch stays closed
    there instead of turning NaN); the gradient passes where the step is finite."""
    return (values[..., 1:] - values[..., :-1]).nan_to_num(
        nan=0.0, posinf=math.inf, neginf=-math.inf
    )


def _linear(values: Tensor, rows: Tensor, position: Tensor) -> Tensor:
    """``left + (right - left) * position``, the difference taken once per segment; the
    product and the sum are written into the gathered differences."""
    left = torch.gather(values, -1, rows)
    step = torch.gather(knot_steps(values), -1, rows)
    return step.mul_(position).add_(left)


class _LinearCurve(torch.autograd.Function):
    """Linear interpolation whose backward sums the gradient over each segment's samples.

    The gradient of knot ``k`` is the sum over the samples of segment ``k`` of
    ``g (1 - position)`` plus that over segment ``k - 1`` of ``g position``. When the
    indices are sorted (a render's sample times) the segments are runs of samples and each
    sum is one segmented reduction, several times faster than the scatter-adds of two gathers'
    backward; other times fall back to scatter-adds.
    """

    @staticmethod
    def forward(ctx: Any, values: Tensor, index: Tensor, position: Tensor) -> Tensor:
        ctx.save_for_backward(index, position)
        ctx.num_knots = values.shape[-1]
        rows = index.expand(*values.shape[:-1], index.shape[0])
        return _linear(values, rows, position)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        index, position = ctx.saved_tensors
        segments = ctx.num_knots - 1
        flat = grad.reshape(-1, grad.shape[-1])
        moved = flat * position  # the right knot's share, g * position
        if index.shape[0] < 2 or bool((index[1:] >= index[:-1]).all()):
            counts = torch.bincount(index, minlength=segments)
            lengths = counts.expand(flat.shape[0], segments).contiguous()
            total = torch.segment_reduce(flat, "sum", lengths=lengths, axis=1, unsafe=True)
            right = torch.segment_reduce(moved, "sum", lengths=lengths, axis=1, unsafe=True)
        else:
            rows = index.expand_as(flat)
            total = flat.new_zeros(flat.shape[0], segments).scatter_add_(1, rows, flat)
            right = flat.new_zeros(flat.shape[0], segments).scatter_add_(1, rows, moved)
        knots = flat.new_zeros(flat.shape[0], segments + 1)
        knots[:, :-1] += total - right
        knots[:, 1:] += right
        return knots.reshape(*grad.shape[:-1], segments + 1), None, None


def _end_slope(h0: Tensor, h1: Tensor, d0: Tensor, d1: Tensor) -> Tensor:
    slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    slope = torch.where(torch.sign(slope) != torch.sign(d0), torch.zeros_like(slope), slope)
    flip = (torch.sign(d0) != torch.sign(d1)) & (slope.abs() > (3 * d0).abs())
    return torch.where(flip, 3 * d0, slope)


def interpolate_curve(
    values: Tensor,
    knot_times: Tensor,
    times: Tensor,
    method: str = "linear",
    segments: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    r"""Evaluate curves given at knots at ``times``.

    Args:
        values: ``(..., K)``, the curves' values at the knots.
        knot_times: ``(K,)``, strictly increasing knot times (any unit; the same as ``times``).
        times: ``(T,)``, where to evaluate.
        method: ``"linear"`` or ``"cubic"`` (monotone cubic, see the module).
        segments: :func:`curve_segments` of ``knot_times`` and ``times``, if already known.

    Returns:
        ``(..., T)``, in the dtype and on the device of ``values``.

    Raises:
        ParameterError: an unknown method, or ``values`` whose last size is not ``K``.

    Example:
        >>> v = torch.tensor([[0.0, 1.0, 1.0]])
        >>> interpolate_curve(v, torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.5, 1.5, 3.0]))
        tensor([[0.5000, 1.0000, 1.0000]])
    """
    if method not in INTERPOLATIONS:
        raise ParameterError(f"unknown interpolation {method!r}; use one of {INTERPOLATIONS}")
    num_knots = knot_times.shape[0]
    if values.ndim == 0 or values.shape[-1] != num_knots:
        raise ParameterError(
            f"a curve with {num_knots} knot time(s) needs values (..., {num_knots}), got shape "
            f"{tuple(values.shape)}"
        )
    knot_times = knot_times.to(device=values.device, dtype=values.dtype)
    times = times.to(device=values.device, dtype=values.dtype)
    if num_knots == 1:
        return values.expand(*values.shape[:-1], times.shape[0])
    index, position = segments if segments is not None else curve_segments(knot_times, times)
    # One gather per knot quantity: ``index`` broadcast to the curves' rows (a view).
    rows = index.expand(*values.shape[:-1], index.shape[0])
    if method == "linear":
        if torch.is_grad_enabled() and values.requires_grad:
            return _LinearCurve.apply(values, index, position)
        return _linear(values, rows, position)
    slopes = pchip_slopes(values, knot_times)
    h = (knot_times[1:] - knot_times[:-1])[index]
    p2 = position * position
    p3 = p2 * position
    h10 = p3 - 2 * p2 + position
    h01 = 3 * p2 - 2 * p3
    h11 = p3 - p2
    left = torch.gather(values, -1, rows)
    step = torch.gather(knot_steps(values), -1, rows)
    slope_left = torch.gather(slopes[..., :-1], -1, rows)
    slope_right = torch.gather(slopes[..., 1:], -1, rows)
    # The Hermite cubic written from the left value, so that a flat curve (equal values, zero
    # slopes) gives exactly its value.
    return left + step * h01 + (slope_left * h10 + slope_right * h11) * h
