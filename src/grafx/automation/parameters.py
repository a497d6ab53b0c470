r"""Turning static parameters into curves and back.

:func:`automate_parameters` gives chosen node types curves: every time-varying parameter of
their processors (and their node gate, if they have one) becomes a flat curve ``(N_t, *shape,
K)`` holding its static value at each of the timeline's ``K`` knots, so a fit starts from the
static mix (a flat curve renders it bit for bit) and can move from there. The edge gates
(the top-level key ``edge_gate``, :mod:`grafx.gates`) are automated under that name: their
``(E, 1)`` tensor becomes ``(E, 1, K)``, one send-level curve per edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor

from grafx.automation.expand import is_edge_gate_curve, static_ndim, time_varying_keys
from grafx.automation.timeline import Timeline
from grafx.errors import ConfigError
from grafx.processors.core.drywet import DRYWET_KEY, EDGE_GATE_KEY

__all__ = ["automatable_types", "automate_parameters", "curve_keys", "static_parameters"]


def automatable_types(
    processors: Mapping[str, Any], parameters: Mapping[str, Any] | None = None
) -> list[str]:
    """The types whose processors take at least one parameter as a curve, and (given
    ``parameters``) the types that have a node gate, which may always move, and ``edge_gate``
    if the parameters have edge gates."""
    gated = {t for t, v in (parameters or {}).items() if isinstance(v, Mapping) and DRYWET_KEY in v}
    types = sorted(t for t, p in processors.items() if time_varying_keys(p) or t in gated)
    if isinstance((parameters or {}).get(EDGE_GATE_KEY), Tensor):
        types.append(EDGE_GATE_KEY)
    return types


def automate_parameters(
    parameters: Mapping[str, Any],
    processors: Mapping[str, Any],
    types: Iterable[str],
    timeline: Timeline,
) -> dict[str, Any]:
    """Parameters where the time-varying entries of ``types`` are flat curves over ``timeline``.

    A type's time-varying parameters are those its processor lists in ``time_varying``, and
    its node gate (``drywet_weight``) if it has one: a reverb or delay whose processor takes
    no curve can still have its send (the gate) automated. The name ``edge_gate`` automates
    the edge gates (every edge's level, :func:`grafx.gates.add_edge_gates`).

    Args:
        parameters: ``{type: {key: (N_t, *shape)}}`` (static).
        processors: ``{type: processor}``.
        types: node types to automate.
        timeline: gives the number of knots ``K``.

    Returns:
        A new dict (tensors of other types shared, not copied) in which each automated entry is
        ``(N_t, *shape, K)``, every knot holding the static value.

    Raises:
        ConfigError: a type that is not in ``parameters``, or whose processor takes no curve
            and which has no gate; ``edge_gate`` without edge gates among ``parameters``.
    """
    result = {t: dict(v) if isinstance(v, Mapping) else v for t, v in parameters.items()}
    for node_type in types:
        if node_type == EDGE_GATE_KEY:
            gate = parameters.get(EDGE_GATE_KEY)
            if not isinstance(gate, Tensor) or gate.ndim not in (1, 2):
                raise ConfigError(
                    f"cannot automate {EDGE_GATE_KEY!r}: the parameters have no static edge "
                    "gates (add them with grafx.gates.add_edge_gates)"
                )
            gate = gate.reshape(gate.shape[0], 1)
            result[EDGE_GATE_KEY] = gate[..., None].expand(*gate.shape, timeline.num_knots).clone()
            continue
        processor = processors.get(node_type)
        value = parameters.get(node_type)
        moving = time_varying_keys(processor) if processor is not None else {}
        gated = isinstance(value, Mapping) and DRYWET_KEY in value
        if processor is None or not isinstance(value, Mapping) or not (moving or gated):
            present = {t: processors[t] for t in parameters if t in processors}
            raise ConfigError(
                f"cannot automate type {node_type!r}: automatable types here are "
                f"{automatable_types(present, parameters)}"
            )
        sizes = processor.parameter_size()
        keys = [k for k in moving if k in sizes]
        if gated:
            keys.append(DRYWET_KEY)
        for key in keys:
            value = result[node_type][key]
            result[node_type][key] = (
                value[..., None].expand(*value.shape, timeline.num_knots).clone()
            )
    return result


def curve_keys(parameters: Mapping[str, Any], processors: Mapping[str, Any]) -> list[str]:
    """Flat names (``"type/key"``, and ``"edge_gate"`` for the edge gates) of the entries of
    ``parameters`` that are curves."""
    names = []
    if is_edge_gate_curve(parameters.get(EDGE_GATE_KEY)):
        names.append(EDGE_GATE_KEY)
    for node_type, value in parameters.items():
        processor = processors.get(node_type)
        if not isinstance(value, Mapping) or processor is None:
            continue
        sizes = dict(processor.parameter_size())
        sizes.setdefault(DRYWET_KEY, (1,))
        for key, tensor in value.items():
            size = sizes.get(key)
            leaf = isinstance(tensor, Tensor) and size is not None and not isinstance(size, Mapping)
            if leaf and tensor.ndim == static_ndim(size) + 1:
                names.append(f"{node_type}/{key}")
    return names


def static_parameters(
    parameters: Mapping[str, Any], processors: Mapping[str, Any]
) -> dict[str, Any]:
    """Each curve replaced by its mean over the knots (a static summary of an automated fit)."""
    moving = set(curve_keys(parameters, processors))
    return {
        t: {k: v.mean(-1) if f"{t}/{k}" in moving else v for k, v in d.items()}
        if isinstance(d, Mapping)
        else (d.mean(-1) if t in moving else d)
        for t, d in parameters.items()
    }
