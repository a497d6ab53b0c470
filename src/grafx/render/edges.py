r"""What scales each edge's signal on its way into its destination's sum.

Two factors, each optional: the *edge gates* :math:`\sigma(\omega_e)` (the parameters' top-level
key ``edge_gate``, :mod:`grafx.gates`) and the *linear edge gains* :math:`g_e`
(``render_grafx(..., edge_gains=)``, else the graph's own ``GRAFX.connect(..., gain=)``).
Edge ``e`` carries :math:`\sigma(\omega_e)\,g_e` times its source's signal.

Either factor may be static, one value per edge (gates ``(E, 1)``, gains ``(E,)``), or, with a
:class:`~grafx.automation.Timeline`, a curve at the timeline's ``K`` knots (gates
``(E, 1, K)``, gains ``(E, K)``) interpolated at every rendered sample. Static factors are
multiplied once, into ``(E,)``. Curves are not expanded for every edge at once: an
:class:`EdgeWeights` interpolates the rows of the edges an inlet reads when that inlet is
gathered, so a render without gradients holds at most one step's weights ``(n, L)``, and
a read whose curves are all flat (and need no gradient) gets one value per edge, like static
weights. A flat curve gives exactly its value at every sample, so it renders bit for bit like
the static factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from grafx.automation.expand import (
    check_edge_gain_curve,
    check_edge_gate_curve,
    interpolate_edge_rows,
    is_edge_gate_curve,
)
from grafx.errors import NotSupportedError, ParameterError
from grafx.processors.core.drywet import (
    EDGE_GATE_KEY,
    check_edge_gate_key_free,
    mix_from_drywet_weight,
)
from grafx.render.prepare import RenderData

if TYPE_CHECKING:
    from grafx.automation.timeline import Timeline

__all__ = ["EdgeWeights", "edge_weights"]


@dataclass
class EdgeWeights:
    r"""The edge weights of a render in which the gates or the gains are curves.

    ``weights[edges]`` (``edges``: ``(n,)`` edge indices, one inlet's rows) is ``(n, L)``, one
    weight per edge and rendered sample, or ``(n,)`` when every factor of those edges is
    static or flat without a gradient to carry.

    Attributes:
        gates: the gates' :math:`\sigma(\omega)` ``(E,)`` (static) or their :math:`\omega`
            curves ``(E, 1, K)``; ``None`` without edge gates.
        gains: linear gains ``(E,)`` or curves ``(E, K)`` (the sources' dtype); ``None``: 1.
        timeline: the render's timeline (knot times, rendered stretch).
        num_samples: ``L``, the rendered length.
        dtype: the sources' dtype (gate weights are cast to it, as static ones are).
        cache: the render's sample-time grids (:func:`grafx.automation.expand.expand_curves`).
    """

    gates: Tensor | None
    gains: Tensor | None
    timeline: Timeline
    num_samples: int
    dtype: torch.dtype
    cache: dict

    def __getitem__(self, edges: Tensor | None) -> Tensor:
        assert edges is not None  # prepare_render gives every read its edges
        gate = None
        if self.gates is not None:
            gate = self.gates[edges]
            if gate.ndim == 3:  # curves of omega
                gate = self._rows(gate[:, 0])
                gate = mix_from_drywet_weight(gate).to(self.dtype)
        gain = None
        if self.gains is not None:
            gain = self.gains[edges]
            if gain.ndim == 2:
                gain = self._rows(gain)
        if gate is None or gain is None:
            weights = gate if gain is None else gain
            assert weights is not None  # EdgeWeights holds at least one factor
            return weights
        if gate.ndim != gain.ndim:  # one factor per edge, the other per edge and sample
            gate, gain = (gate[:, None], gain) if gate.ndim == 1 else (gate, gain[:, None])
        return gate * gain  # the order of the static product (gates times gains)

    def _rows(self, curves: Tensor) -> Tensor:
        """``curves (n, K)`` per sample ``(n, L)``, or ``(n,)`` when every row is flat and no
        gradient reaches them (then each sample would get exactly the knot value anyway)."""
        needs_grad = torch.is_grad_enabled() and curves.requires_grad
        if not needs_grad and bool((curves == curves[:, :1]).all()):
            return curves[:, 0]
        return interpolate_edge_rows(curves, self.timeline, self.num_samples, self.cache)


def edge_weights(
    parameters: Mapping,
    edge_gains: Any,
    render_data: RenderData,
    source: Tensor,
    detach: bool,
    timeline: Timeline | None,
    cache: dict,
) -> Tensor | EdgeWeights | None:
    """The weights a render scales each edge by: ``None`` (neither gates nor gains), static
    ``(E,)``, or an :class:`EdgeWeights` when a factor is a curve.

    Args:
        parameters: the render's parameters (the gates are their key ``edge_gate``).
        edge_gains: ``render_grafx``'s ``edge_gains`` (``None``: the graph's own gains).
        render_data: the plan (edge count, the graph's gains).
        source: the sources (their dtype and device, and the rendered length).
        detach: detach the gates (``parameters_grad=False``); the gains are never detached.
        timeline: the render's timeline, or ``None``.
        cache: the render's sample-time grids.

    Raises:
        ParameterError: gates or gains of the wrong shape, curves without a timeline or with
            another number of knots, gains that are NaN or infinite.
        NotSupportedError: gains ``(B, E)``, one set per batch row.
    """
    gates = _edge_gates(parameters, render_data, source.dtype, detach, timeline)
    gains = _edge_gains(edge_gains, render_data, source, timeline)
    curves = any(x is not None and x.ndim > 1 for x in (gates, gains))
    if curves:
        assert timeline is not None  # checked with the curves
        length = source.shape[-1]
        gates = None if gates is None else gates.to(source.device)
        return EdgeWeights(gates, gains, timeline, length, source.dtype, cache)
    if gates is None or gains is None:
        return gates if gains is None else gains
    return gates.to(gains.device) * gains


def _edge_gains(
    value: Any, render_data: RenderData, source: Tensor, timeline: Timeline | None
) -> Tensor | None:
    """The linear edge gains ``(E,)`` of this render (given, else the graph's), their curves
    ``(E, K)``, or ``None``."""
    count = render_data.num_edges
    if value is None:
        if render_data.edge_gains is None:
            return None
        key = ("edge_gains", str(source.device), source.dtype)
        if key not in render_data._cache:  # one copy per device and dtype, not one per render
            render_data._cache[key] = render_data.edge_gains.to(source.device, source.dtype)
        return render_data._cache[key]
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(value, dtype=source.dtype)
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(
                f"edge_gains must be a tensor of {count} gains, got {type(value).__name__}"
            ) from None
    shape = tuple(value.shape)
    if value.ndim == 2 and shape[0] == count and shape[1] != 1:
        check_edge_gain_curve(value, timeline, count)
        return value.to(device=source.device, dtype=source.dtype)
    if shape not in ((count,), (count, 1)):
        if value.ndim == 2 and shape[-1] == count:
            raise NotSupportedError(
                f"edge_gains of shape {shape}: one set of gains per batch row is not supported; "
                f"give ({count},) gains shared by every row, or batch the graphs with "
                "batch_grafx (each graph's edges then have their own gains)"
            )
        raise ParameterError(
            f"edge_gains has shape {shape}; expected ({count},), one linear gain per edge of "
            f"the planned graph, in edge_indices order (or, with a timeline, curves ({count}, "
            "K) at its K knots)"
        )
    if value.is_floating_point() and not torch.isfinite(value.detach()).all():
        raise ParameterError("edge_gains holds NaN or infinite values")
    return value.reshape(-1).to(device=source.device, dtype=source.dtype)


def _edge_gates(
    parameters: Mapping,
    render_data: RenderData,
    dtype: torch.dtype,
    detach: bool,
    timeline: Timeline | None,
) -> Tensor | None:
    r"""The edge gates' :math:`\sigma(\omega_e)`, ``(E,)``, their :math:`\omega` curves
    ``(E, 1, K)`` (checked, not yet interpolated), or ``None`` without edge gates."""
    if EDGE_GATE_KEY not in parameters:
        return None
    check_edge_gate_key_free(render_data.type_counts)
    gate = parameters[EDGE_GATE_KEY]
    count = render_data.num_edges
    if is_edge_gate_curve(gate):
        check_edge_gate_curve(gate, timeline, count)
        return gate.detach() if detach else gate
    if not isinstance(gate, Tensor) or tuple(gate.shape) not in ((count,), (count, 1)):
        shape = tuple(gate.shape) if isinstance(gate, Tensor) else type(gate).__name__
        raise ParameterError(
            f"edge gates {EDGE_GATE_KEY!r} have shape {shape}; expected ({count}, 1), one "
            "value per edge of the graph, in edge_indices order (or, automated, curves "
            f"({count}, 1, K))"
        )
    if detach:
        gate = gate.detach()
    return mix_from_drywet_weight(gate.reshape(-1)).to(dtype)
