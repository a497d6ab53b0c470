r"""Curves to control signals: what the render engine does with a curve before a processor call.

A processor declares which of its parameters may move over time in its class attribute
``time_varying`` (``{key: control}``). Such a parameter may be given to the render engine as a
*curve*: its static shape with one more trailing dimension, ``(N_t, *shape, K)``, the values at
the timeline's ``K`` knots. Before each processor call the engine interpolates the curve at the
parameter's control rate:

* ``"sample"``: at every rendered sample, so the processor gets ``(B, *shape, L)`` and applies
  it sample by sample (gains, pans, thresholds);
* ``"block"``: once per control block of ``T`` samples, the processor's ``control_block``
  attribute (:data:`DEFAULT_CONTROL_BLOCK` if it has none; an even number of samples), so the
  processor gets ``(B, *shape, M)`` with ``M = ceil(L / T)`` and holds each value for its block
  (filter coefficients, which would be far too costly to design per sample). Block ``m`` covers
  rendered samples ``mT`` to ``mT + T - 1`` (the last block may be cut short by the end of the
  audio) and its value is the curve at the block's *centre*, sample ``mT + (T - 1) / 2``: for a
  linear stretch of curve that is the curve's mean over the block. Blocks start at the first
  rendered sample, so a crop whose offset is a multiple of ``T`` sees the same blocks (and
  values) as the whole render.

A node gate (``drywet_weight``) may be a curve on any gated type; it is always per sample. So may
the edge gates (the top-level key ``edge_gate``, ``(E, 1, K)``, :mod:`grafx.gates`): the send
level of each edge, interpolated per sample by :func:`interpolate_edge_rows`; and the linear
edge gains of ``render_grafx(..., edge_gains=)`` as curves ``(E, K)``
(:func:`check_edge_gain_curve`). The engine interpolates an edge's curve only when the inlet
that reads the edge is gathered, for that inlet's edges alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.automation.curves import curve_segments, interpolate_curve
from grafx.automation.timeline import Timeline
from grafx.errors import ParameterError
from grafx.processors.core.drywet import DRYWET_KEY, EDGE_GATE_KEY
from grafx.processors.core.validation import DEFAULT_CONTROL_BLOCK, normalize_size

__all__ = [
    "CONTROLS",
    "DEFAULT_CONTROL_BLOCK",
    "block_times",
    "control_block",
    "time_varying_keys",
    "expand_curves",
    "check_edge_gain_curve",
    "check_edge_gate_curve",
    "expand_edge_gates",
    "interpolate_edge_rows",
    "is_edge_gate_curve",
    "static_ndim",
]

#: Control rates a processor may declare for a time-varying parameter.
CONTROLS = ("sample", "block")

#: Control block in samples of a ``"block"`` parameter whose processor sets no ``control_block``.


def time_varying_keys(processor: Any) -> Mapping[str, str]:
    """``{key: control}`` of the parameters ``processor`` accepts as curves (may be empty)."""
    return getattr(processor, "time_varying", None) or {}


def control_block(processor: Any) -> int:
    """The control block in samples of ``processor``'s ``"block"`` parameters.

    Raises:
        ParameterError: a ``control_block`` that is not a positive even integer.
    """
    block = getattr(processor, "control_block", None)
    if block is None:
        return DEFAULT_CONTROL_BLOCK
    if isinstance(block, bool) or not isinstance(block, int) or block < 2 or block % 2:
        raise ParameterError(
            f"{type(processor).__name__}: control_block must be a positive even number of "
            f"samples, got {block!r}"
        )
    return block


def block_times(timeline: Timeline, num_samples: int, block: int, like: Tensor) -> Tensor:
    """Time in seconds ``(ceil(num_samples / block),)`` of each control block's centre."""
    count = -(-int(num_samples) // block)
    centres = torch.arange(count, dtype=torch.float64) * block + (block - 1) / 2
    times = timeline.start + centres / timeline.sample_rate
    return times.to(device=like.device, dtype=like.dtype)


def static_ndim(size: Any) -> int:
    """Dimensions of a static parameter of per-node ``size``, with the node dimension."""
    return 1 + len(normalize_size(size))


def expand_curves(
    node_type: str,
    processor: Any,
    call_kwargs: dict[str, Any],
    timeline: Timeline | None,
    num_samples: int,
    gated: bool,
    cache: dict | None = None,
) -> dict[str, Any]:
    """Interpolate the curves among one call's parameters to control signals (per sample or per block).

    Args:
        node_type: the type being rendered (for messages).
        processor: its processor (``parameter_size()`` and ``time_varying``).
        call_kwargs: the keyword parameters read for the call, ``(B, *shape)`` or, for curves,
            ``(B, *shape, K)``.
        timeline: where the knots are and which stretch is rendered; ``None`` when the render
            has no automation (then a curve is an error).
        num_samples: ``L``, the rendered length.
        gated: whether the type's node gate ``drywet_weight`` is in ``call_kwargs``.
        cache: a dict kept by the caller over one render: the sample times and their knot
            segments are found once per dtype and device instead of once per curve.

    Returns:
        ``call_kwargs`` with each curve replaced by ``(B, *shape, L)`` (control ``"sample"``)
        or ``(B, *shape, ceil(L / T))`` (control ``"block"``, blocks of ``T`` samples).

    Raises:
        ParameterError: a curve on a parameter that is not time-varying, a curve without a
            timeline, or a curve whose last size is not the number of knots.
    """
    sizes = dict(processor.parameter_size()) if hasattr(processor, "parameter_size") else {}
    moving = dict(time_varying_keys(processor))
    if gated:
        sizes[DRYWET_KEY], moving[DRYWET_KEY] = (1,), "sample"
    result = dict(call_kwargs)
    for key, value in call_kwargs.items():
        size = sizes.get(key)
        if not isinstance(value, Tensor) or size is None or isinstance(size, Mapping):
            continue
        if value.ndim != static_ndim(size) + 1:
            continue
        if key not in moving:
            allowed = sorted(moving) or "none"
            raise ParameterError(
                f"type {node_type!r}: parameter {key!r} is given as a curve (shape "
                f"{tuple(value.shape)}) but {type(processor).__name__} does not take it as "
                f"time-varying (time-varying parameters: {allowed})"
            )
        if timeline is None:
            raise ParameterError(
                f"type {node_type!r}: parameter {key!r} is a curve (shape {tuple(value.shape)}) "
                "but the render has no timeline; pass timeline= (grafx.automation.Timeline)"
            )
        if value.shape[-1] != timeline.num_knots:
            raise ParameterError(
                f"type {node_type!r}: curve {key!r} has {value.shape[-1]} values per row but "
                f"the timeline has {timeline.num_knots} knots"
            )
        control = moving[key]
        if control == "sample":
            knots, times, segments = _grid(timeline, num_samples, value, cache)
            result[key] = interpolate_curve(value, knots, times, timeline.method, segments)
        elif control == "block":
            where = block_times(timeline, num_samples, control_block(processor), value)
            knots = timeline.knot_tensor(value)
            result[key] = interpolate_curve(value, knots, where, timeline.method)
        else:
            raise ParameterError(
                f"type {node_type!r}: {type(processor).__name__} declares parameter {key!r} with "
                f"control {control!r}; controls are {CONTROLS}"
            )
    return result


def _grid(timeline: Timeline, num_samples: int, like: Tensor, cache: dict | None) -> tuple:
    """Knot times, sample times and their segments for curves like ``like`` (cached)."""
    key = (timeline, num_samples, like.dtype, like.device)
    if cache is not None and key in cache:
        return cache[key]
    knots = timeline.knot_tensor(like)
    times = timeline.sample_times(num_samples, device=like.device, dtype=like.dtype)
    segments = curve_segments(knots, times, increasing=True) if timeline.num_knots > 1 else None
    grid = (knots, times, segments)
    if cache is not None:
        cache[key] = grid
    return grid


def is_edge_gate_curve(value: Any) -> bool:
    """Whether ``value`` (the parameters' ``edge_gate`` entry) is a curve ``(E, 1, K)``."""
    return isinstance(value, Tensor) and value.ndim == 3


def expand_edge_gates(
    gate: Tensor,
    timeline: Timeline | None,
    num_samples: int,
    num_edges: int,
    cache: dict | None = None,
) -> Tensor:
    r"""The edge gates' :math:`\omega` per rendered sample, ``(E, L)``, from their curves.

    The render engine does not call this: it checks the curves once
    (:func:`check_edge_gate_curve`) and interpolates only the rows each inlet reads, when it
    reads them (:func:`interpolate_edge_rows`), so it never holds every edge's samples at once.

    Args:
        gate: ``(E, 1, K)``, the edge gates' :math:`\omega` at the timeline's ``K`` knots (row
            ``e`` for column ``e`` of the planned graph's ``edge_indices``).
        timeline: where the knots are and which stretch is rendered.
        num_samples: ``L``, the rendered length.
        num_edges: ``E``, the planned graph's edge count.
        cache: as :func:`expand_curves`'s.

    Raises:
        ParameterError: no timeline, a shape other than ``(E, 1, K)`` or a ``K`` that is not the
            number of knots.
    """
    timeline = check_edge_gate_curve(gate, timeline, num_edges)
    return interpolate_edge_rows(gate[:, 0], timeline, num_samples, cache)


def check_edge_gate_curve(gate: Tensor, timeline: Timeline | None, num_edges: int) -> Timeline:
    """Check edge gate curves ``(E, 1, K)`` against the graph and the render's timeline (which
    it returns).

    Raises:
        ParameterError: no timeline, a shape other than ``(E, 1, K)`` or a ``K`` that is not the
            number of knots.
    """
    if tuple(gate.shape[:2]) != (num_edges, 1):
        raise ParameterError(
            f"edge gates {EDGE_GATE_KEY!r} given as a curve have shape {tuple(gate.shape)}; "
            f"expected ({num_edges}, 1, K), one curve per edge of the graph, in edge_indices "
            "order"
        )
    if timeline is None:
        raise ParameterError(
            f"edge gates {EDGE_GATE_KEY!r} are curves (shape {tuple(gate.shape)}) but the render "
            "has no timeline; pass timeline= (grafx.automation.Timeline)"
        )
    if gate.shape[-1] != timeline.num_knots:
        raise ParameterError(
            f"edge gates {EDGE_GATE_KEY!r}: the curves have {gate.shape[-1]} values per row but "
            f"the timeline has {timeline.num_knots} knots"
        )
    return timeline


def check_edge_gain_curve(gains: Tensor, timeline: Timeline | None, num_edges: int) -> Timeline:
    """Check linear edge gain curves ``(E, K)`` (``render_grafx(..., edge_gains=)``) against the
    graph and the render's timeline (which it returns).

    Raises:
        ParameterError: no timeline, a first size other than ``E``, a ``K`` that is not the
            number of knots, or values that are NaN or infinite.
    """
    shape = tuple(gains.shape)
    if gains.ndim != 2 or shape[0] != num_edges:
        raise ParameterError(
            f"edge_gains given as a curve have shape {shape}; expected ({num_edges}, K), one "
            "curve of linear gains per edge of the planned graph, in edge_indices order"
        )
    if timeline is None:
        raise ParameterError(
            f"edge_gains of shape {shape} are curves ({shape[1]} values per edge) but the "
            f"render has no timeline; pass timeline= (grafx.automation.Timeline), or give "
            f"({num_edges},) static gains"
        )
    if shape[1] != timeline.num_knots:
        raise ParameterError(
            f"edge_gains: the curves have {shape[1]} values per edge but the timeline has "
            f"{timeline.num_knots} knots"
        )
    if gains.is_floating_point() and not torch.isfinite(gains.detach()).all():
        rows = (~torch.isfinite(gains.detach())).any(-1).nonzero().flatten().tolist()
        raise ParameterError(
            f"edge_gains: the curves of edge(s) {rows[:8]} hold NaN or infinite values"
        )
    return timeline


def interpolate_edge_rows(
    rows: Tensor, timeline: Timeline, num_samples: int, cache: dict | None = None
) -> Tensor:
    r"""Curves of some edges ``(n, K)`` (gates' :math:`\omega` or linear gains) at every
    rendered sample, ``(n, L)``; a row of equal knots gives exactly its value."""
    knots, times, segments = _grid(timeline, num_samples, rows, cache)
    return interpolate_curve(rows, knots, times, timeline.method, segments)
