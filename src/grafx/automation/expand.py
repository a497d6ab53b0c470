r"""Curves to control signals: what the render engine does with a curve before a processor call.

A processor declares which of its parameters may move over time in its class attribute
``time_varying`` (``{key: control}``; the control is ``"sample"``: one value per audio sample).
Such a parameter may be given to the render engine as a *curve*: its static shape with one more
trailing dimension, ``(N_t, *shape, K)``, the values at the timeline's ``K`` knots. Before each
processor call the engine interpolates the curve to the rendered samples, so the processor gets
``(B, *shape, L)`` and applies it sample by sample. A node gate (``drywet_weight``) may be a
curve on any gated type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from grafx.automation.curves import curve_segments, interpolate_curve
from grafx.automation.timeline import Timeline
from grafx.errors import ParameterError
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.processors.core.validation import normalize_size

__all__ = ["CONTROLS", "time_varying_keys", "expand_curves", "static_ndim"]

#: Control rates a processor may declare for a time-varying parameter.
CONTROLS = ("sample",)


def time_varying_keys(processor: Any) -> Mapping[str, str]:
    """``{key: control}`` of the parameters ``processor`` accepts as curves (may be empty)."""
    return getattr(processor, "time_varying", None) or {}


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
    """Interpolate the curves among one call's parameters to per-sample control signals.

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
        ``call_kwargs`` with each curve replaced by ``(B, *shape, L)``.

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
        knots, times, segments = _grid(timeline, num_samples, value, cache)
        result[key] = interpolate_curve(value, knots, times, timeline.method, segments)
    return result


def _grid(timeline: Timeline, num_samples: int, like: Tensor, cache: dict | None) -> tuple:
    """Knot times, sample times and their segments for curves like ``like`` (cached)."""
    key = (timeline, num_samples, like.dtype, like.device)
    if cache is not None and key in cache:
        return cache[key]
    knots = timeline.knot_tensor(like)
    times = timeline.sample_times(num_samples, device=like.device, dtype=like.dtype)
    segments = curve_segments(knots, times) if timeline.num_knots > 1 else None
    grid = (knots, times, segments)
    if cache is not None:
        cache[key] = grid
    return grid
