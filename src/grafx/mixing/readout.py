r"""A readable account of automated settings: each moving setting's range and main moves.

:func:`automation_readout` reads a node's physical settings (:func:`grafx.mixing.console.get_node_settings`)
at the knots of its curves and reports, for each setting that moves, its range and its largest
moves between neighbouring knots, with their times::

    gain_db[0]: -8.1 .. -0.2; main moves: -0.2 -> -8.1 (1.00-1.75 s), -8.1 -> -2.1 (2.50-3.25 s)

Long timelines are read at most at :data:`MAX_READ_KNOTS` evenly spread knots (the moves
reported are then between those knots).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grafx.automation.expand import is_edge_gate_curve
from grafx.automation.parameters import curve_keys
from grafx.data.conversion import edges_in_tensor_order
from grafx.errors import GrafxError
from grafx.mixing.console import get_node_settings
from grafx.processors.core.drywet import EDGE_GATE_KEY, mix_from_drywet_weight

__all__ = [
    "MAX_READ_KNOTS",
    "SEND_SETTING",
    "SettingCurve",
    "automated_nodes",
    "automation_curves",
    "automation_readout",
    "fader_curves",
    "knot_parameters",
]

#: Most knots a readout reads settings at.
MAX_READ_KNOTS = 64
#: Moves reported per setting.
MAIN_MOVES = 3
#: The setting name of an automated edge gate's level in dB (:func:`automation_curves`).
SEND_SETTING = "send_db"
#: Lowest send level a curve reports, dB (a closed gate is :math:`-\infty`).
SEND_FLOOR_DB = -240.0


@dataclass(frozen=True)
class SettingCurve:
    """One automated physical setting read at the knots (:func:`automation_curves`).

    Attributes:
        label: the node's name (its stem's and type, in a console), with the setting's column
            when it has several (``"vocals/eq band 2"``); for a send, ``"source -> dest"``.
        setting: the physical setting's key (``"gain_db"``, ``"pan"``, ``"eq_gains_db"``,
            ``"eq_freqs_hz"``, ``"threshold_db"``, ``"mix"``, ...), or :data:`SEND_SETTING`
            for an edge gate's level in dB.
        times: the knot times read, seconds.
        values: the setting at each of them, in its physical unit.
    """

    label: str
    setting: str
    times: list[float]
    values: list[float]


def knot_parameters(parameters: Mapping, processors: Mapping, index: int) -> dict:
    """The static parameters at knot ``index``: each curve ``(N, *shape, K)`` read at it."""
    moving = set(curve_keys(parameters, processors))
    return {
        t: {k: v[..., index] if f"{t}/{k}" in moving else v for k, v in d.items()}
        if isinstance(d, Mapping)
        else (d[..., index] if t in moving else d)
        for t, d in parameters.items()
    }


def automated_nodes(G: Any, parameters: Mapping, processors: Mapping) -> list[int]:
    """The nodes of ``G`` whose type has curves among ``parameters``."""
    types = {name.split("/", 1)[0] for name in curve_keys(parameters, processors)}
    return [n for n in sorted(G.nodes) if G.nodes[n]["node_type"] in types]


def _read_points(timeline: Any) -> list[int]:
    """At most :data:`MAX_READ_KNOTS` evenly spread knot indices, the first and last included."""
    count = timeline.num_knots
    step = max(1, -(-count // MAX_READ_KNOTS))
    indices = list(range(0, count, step))
    if indices[-1] != count - 1:
        indices.append(count - 1)
    return indices


def fader_curves(
    G: Any,
    parameters: Mapping,
    processors: Mapping,
    timeline: Any,
    setting: str = "gain_db",
) -> list[tuple[str, list[float], list[float]]]:
    """``[(label, knot times in s, values)]``: the physical ``setting`` (by default a fader's
    ``gain_db``) of each automated node whose ``setting`` moves, read at the knots; ``label``
    is the node's name (the stem's name and the node type in a console)."""
    nodes = automated_nodes(G, parameters, processors)
    if not nodes or timeline is None:
        return []
    indices = _read_points(timeline)
    times = [timeline.knot_times[i] for i in indices]
    per_knot = [knot_parameters(parameters, processors, i) for i in indices]
    curves = []
    for node in nodes:
        try:
            readings = [get_node_settings(p, G, node, processors).get(setting) for p in per_knot]
        except (GrafxError, KeyError, TypeError, ValueError, RuntimeError):
            continue
        columns = _columns(readings)
        if columns is None:
            continue
        label = G.nodes[node].get("name") or f"node {node}"
        for column, values in enumerate(columns):
            if max(values) - min(values) < 1e-3:
                continue
            name = label if len(columns) == 1 else f"{label} [{column}]"
            curves.append((name, times, values))
    return curves


def automation_curves(
    G: Any,
    parameters: Mapping,
    processors: Mapping,
    timeline: Any,
    sample_rate: float | None = None,
) -> list[SettingCurve]:
    """Every automated physical setting that moves, read at the knots (at most
    :data:`MAX_READ_KNOTS` of them), node by node, then the automated edge gates' levels in dB.

    A multi-valued setting gives one curve per column (an EQ's band ``k`` is labelled
    ``band k``, from 1). A setting whose values do not move at all gives none. Edge levels are
    ``20 log10 sigma(omega)`` (at least :data:`SEND_FLOOR_DB`), labelled
    ``"source -> destination"`` with the stems' names in a console (the nodes' full names
    when both ends are on one strip).

    Args:
        G, parameters, processors, timeline, sample_rate: as :func:`automation_readout`.
    """
    nodes = automated_nodes(G, parameters, processors)
    if timeline is None or not (nodes or is_edge_gate_curve(parameters.get(EDGE_GATE_KEY))):
        return []
    indices = _read_points(timeline)
    times = [timeline.knot_times[i] for i in indices]
    per_knot = [knot_parameters(parameters, processors, i) for i in indices]
    curves = []
    for node in nodes:
        try:
            readings = [get_node_settings(p, G, node, processors, sample_rate) for p in per_knot]
        except (GrafxError, KeyError, TypeError, ValueError, RuntimeError):
            continue
        label = _node_name(G, node)
        for key in readings[0]:
            columns = _columns([r.get(key) for r in readings])
            if columns is None or key == "sample_rate":
                continue
            for column, values in enumerate(columns):
                if max(values) == min(values):
                    continue
                if len(columns) == 1:
                    name = label
                elif key.startswith("eq_"):
                    name = f"{label} band {column + 1}"
                else:
                    name = f"{label} [{column}]"
                curves.append(SettingCurve(name, key, times, values))
    gate = parameters.get(EDGE_GATE_KEY)
    edges = edges_in_tensor_order(G) if is_edge_gate_curve(gate) else []
    if isinstance(gate, Tensor) and gate.shape[0] == len(edges) and edges:
        levels = 20 * torch.log10(mix_from_drywet_weight(gate.detach().double()[:, 0, indices]))
        for row, (source, dest, _, _, _) in enumerate(edges):
            values = levels[row].clamp_min(SEND_FLOOR_DB).tolist()
            if max(values) != min(values):
                curves.append(
                    SettingCurve(_edge_label(G, source, dest), SEND_SETTING, times, values)
                )
    return curves


def _edge_label(G: Any, source: int, dest: int) -> str:
    """``"a -> b"``: the stems' (or buses') names of a console's nodes, ``"drums -> bus0"``;
    the full node names when both ends are on one strip."""
    a, b = _node_name(G, source), _node_name(G, dest)
    strip_a, strip_b = a.split("/", 1)[0], b.split("/", 1)[0]
    if strip_a != strip_b:
        a, b = strip_a, strip_b
    return f"{a} -> {b}"


def _flat(value: Any) -> list[float] | None:
    if isinstance(value, Tensor):
        value = value.detach().cpu().double().flatten().tolist()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        out: list[float] = []
        for item in value:
            inner = _flat(item)
            if inner is None:
                return None
            out += inner
        return out
    return None


def _columns(readings: list[Any]) -> list[list[float]] | None:
    """A setting read at every knot as columns, ``[column][knot]``; ``None`` when a reading is
    missing or not numeric, or the readings differ in length."""
    rows = [_flat(reading) for reading in readings]
    first = rows[0] if rows else None
    if first is None:
        return None
    checked: list[list[float]] = []
    for row in rows:
        if row is None or len(row) != len(first):
            return None
        checked.append(row)
    return [list(column) for column in zip(*checked, strict=True)]


def _main_moves(values: list[float]) -> list[int]:
    """The knots (in time order) where the :data:`MAIN_MOVES` largest steps to the next begin."""
    steps = sorted(range(len(values) - 1), key=lambda i: -abs(values[i + 1] - values[i]))
    return sorted(steps[:MAIN_MOVES])


def _number(value: float) -> str:
    return f"{value:.3g}"


def automation_readout(
    G: Any,
    parameters: Mapping,
    processors: Mapping,
    timeline: Any,
    sample_rate: float | None = None,
) -> dict[int, list[str]]:
    """``{node: lines}``: for each automated node, one line per physical setting that moves.

    Args:
        G, parameters, processors: the graph, its parameters (some curves) and processors.
        timeline: the curves' :class:`~grafx.automation.Timeline` (knot times in seconds).
        sample_rate: as :func:`~grafx.mixing.console.get_node_settings`.

    Returns:
        Lines such as ``"gain_db[1]: -6 .. 0.5; main moves: 0.5 -> -6 (1-1.5 s)"``; a node
        whose settings have no physical read-back, or that do not move, gets no lines.
        Automated edge gates add ``"send to NAME (dB): ..."`` lines under each edge's source
        node (``"input from NAME (dB): ..."`` under the destination of an ``in`` node's edge).
    """
    nodes = automated_nodes(G, parameters, processors)
    if timeline is None or not (nodes or is_edge_gate_curve(parameters.get(EDGE_GATE_KEY))):
        return {}
    indices = _read_points(timeline)
    times = [timeline.knot_times[i] for i in indices]
    per_knot = [knot_parameters(parameters, processors, i) for i in indices]
    result: dict[int, list[str]] = {}
    for node in nodes:
        try:
            readings = [get_node_settings(p, G, node, processors, sample_rate) for p in per_knot]
        except (GrafxError, KeyError, TypeError, ValueError, RuntimeError):
            continue
        lines = []
        for key in readings[0]:
            columns = _columns([r.get(key) for r in readings])
            if columns is None:
                continue
            for column, values in enumerate(columns):
                name = key if len(columns) == 1 else f"{key}[{column}]"
                lines += _move_line(name, values, times)
        if lines:
            result[node] = lines
    for node, lines in _edge_lines(G, parameters, indices, times).items():
        result.setdefault(node, []).extend(lines)
    return result


def _move_line(name: str, values: list[float], times: list[float]) -> list[str]:
    """``["name: low .. high; main moves: ..."]``, or ``[]`` if the values do not move."""
    low, high = min(values), max(values)
    if _number(low) == _number(high):  # no move at the precision shown
        return []
    moves = ", ".join(
        f"{_number(values[i])} -> {_number(values[i + 1])} ({times[i]:g}-{times[i + 1]:g} s)"
        for i in _main_moves(values)
    )
    return [f"{name}: {_number(low)} .. {_number(high)}; main moves: {moves}"]


def _edge_lines(
    G: Any, parameters: Mapping, indices: list[int], times: list[float]
) -> dict[int, list[str]]:
    """``{node: lines}`` of the automated edge gates that move: each edge's level in dB
    (``20 log10 sigma(omega)``), under its source node (under its destination when the
    source is an ``in`` node, which has no settings), as ``"send to NAME (dB): ..."`` or
    ``"input from NAME (dB): ..."``."""
    gate = parameters.get(EDGE_GATE_KEY)
    if not isinstance(gate, Tensor) or not is_edge_gate_curve(gate):
        return {}
    edges = edges_in_tensor_order(G)
    if gate.shape[0] != len(edges):
        return {}
    levels = 20 * torch.log10(mix_from_drywet_weight(gate.detach().double()[:, 0, indices]))
    result: dict[int, list[str]] = {}
    for row, (source, dest, _, _, _) in enumerate(edges):
        values = levels[row].clamp_min(SEND_FLOOR_DB).tolist()
        if G.nodes[source]["node_type"] == "in":
            node, name = dest, f"input from {_node_name(G, source)} (dB)"
        else:
            node, name = source, f"send to {_node_name(G, dest)} (dB)"
        lines = _move_line(name, values, times)
        if lines:
            result.setdefault(node, []).extend(lines)
    return result


def _node_name(G: Any, node: int) -> str:
    return G.nodes[node].get("name") or f"node {node}"
