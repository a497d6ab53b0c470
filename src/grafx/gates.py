r"""Soft structure: a learnable gate on any node (dry/wet weight) or edge (path weight) of a graph.

A node gate blends a node's output with its input,

.. math:: y = w\, f(u) + (1 - w)\, u, \qquad w = \sigma(\omega) \in [0, 1],

as every processor of the mixing-graphs paper's console does (Lee et al., "Searching for Music
Mixing Graphs: A Pruning Approach", DAFx 2024). :math:`w = 1` is the processor alone,
:math:`w = 0` removes it (its input passes unchanged), so the gates relax the graph's discrete
structure into parameters with gradients, in the spirit of DARTS, and
:mod:`grafx.prune` uses them to rank processors.

**One mechanism.** A gate is an ordinary per-node parameter: :math:`\omega` of the nodes of
type ``t`` is ``parameters[t]["drywet_weight"]``, shape ``(N_t, 1)``, under the reserved key
:data:`~grafx.processors.core.drywet.DRYWET_KEY`. Fitting, checkpoints, graph files,
permutation after reordering, slicing per node and graph batches therefore carry it like any
other parameter. :func:`grafx.render.render_grafx` takes the key off before calling the
processor and applies the blend (:func:`~grafx.processors.core.drywet.drywet_blend`, the same
function :class:`~grafx.processors.container.DryWet` uses). Gates go on processor nodes with as
many inlets as outlets (outlet ``k`` blends with inlet ``k``); ``in``, ``out`` and ``mix`` pass
sums and take none.

Example:
    >>> import torch
    >>> from grafx.presets import build_mixing_console, console_processors, console_parameters
    >>> G, sequence = build_mixing_console(2, chain=["gain_pan", "imager"])
    >>> processors = console_processors(["gain_pan", "imager"])
    >>> parameters = console_parameters(G, processors)  # every processor is gated
    >>> sorted(node_gates(parameters))
    ['gain_pan', 'imager']
    >>> set_node_gate(parameters, G, "track0/imager", 0.0)  # bypass one node exactly
    >>> [round(w, 4) for w in node_gates(parameters)["imager"].tolist()]
    [0.0, 0.99]

**Edge gates** scale paths: with the reserved top-level key
:data:`~grafx.processors.core.drywet.EDGE_GATE_KEY` (``"edge_gate"``), ``(E, 1)``, edge ``e``
carries :math:`\sigma(\omega_e)` times its source's output into its destination's sum. Row
``e`` is the ``e``-th edge of :func:`graph_edges` (the order of ``convert_to_tensor(G)``'s
``edge_indices``, so a graph neural network's per-edge outputs line up with it). The engine
applies them while it gathers each step's inputs (no extra step), :class:`GraphRenderer`
carries them through its node reordering, and fitting, checkpoints and graph files carry them
like any other parameter. A gate at 0 renders exactly like the graph without that edge. With
a timeline the edge gates may be curves ``(E, 1, K)`` (automated sends, see
:mod:`grafx.automation`): the engine interpolates each edge's :math:`\omega` per sample.

    >>> parameters = add_edge_gates(parameters, G, mix=1.0)
    >>> graph_edges(G)[:2]
    [(1, 2, 'main', 'main'), (2, 3, 'main', 'main')]
    >>> set_edge_gate(parameters, G, 1, 2, 0.5)  # halve the path from node 1 to node 2
    >>> edge_gates(parameters)[:2].tolist()
    [0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.data.configs import UTILITY_TYPES
from grafx.data.conversion import edges_in_tensor_order
from grafx.data.rows import node_rows
from grafx.errors import GraphError, ParameterError
from grafx.penalty import Penalty, PenaltyContext
from grafx.processors.core.drywet import (
    DRYWET_KEY,
    EDGE_GATE_KEY,
    check_edge_gate_key_free,
    drywet_weight_from_mix,
    mix_from_drywet_weight,
)

__all__ = [
    "DRYWET_KEY",
    "EDGE_GATE_KEY",
    "DEFAULT_MIX",
    "add_node_gates",
    "node_gates",
    "set_node_gate",
    "gate_l1",
    "gated_nodes",
    "GateSparsity",
    "SPARSITY_WEIGHT",
    "add_edge_gates",
    "edge_gates",
    "set_edge_gate",
    "graph_edges",
]


#: Initial wet proportion of a new gate: nearly the processor alone, yet inside (0, 1), where
#: the gate has a gradient (Adam steps are scale-free, so it learns as fast as from 0.5).
DEFAULT_MIX = 0.99


def _type_counts(G: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, data in G.nodes(data=True):
        counts[data["node_type"]] = counts.get(data["node_type"], 0) + 1
    return counts


def _like(parameters: Mapping, node_type: str) -> tuple[torch.dtype, torch.device]:
    value = parameters.get(node_type)
    for leaf in _leaves(value):
        return leaf.dtype, leaf.device
    for tree in parameters.values():
        for leaf in _leaves(tree):
            return leaf.dtype, leaf.device
    return torch.get_default_dtype(), torch.device("cpu")


def _leaves(tree: Any) -> Iterable[Tensor]:
    if isinstance(tree, Tensor):
        yield tree
    elif tree is not None and hasattr(tree, "items"):
        for value in tree.values():
            yield from _leaves(value)


def add_node_gates(
    parameters: Mapping,
    G: Any,
    mix: float | Mapping[str, float] = DEFAULT_MIX,
    types: Iterable[str] | None = None,
) -> dict[str, Any]:
    r"""Put every processor node of ``G`` (or those of ``types``) behind a gate.

    Args:
        parameters: ``{type: nested dict of tensors (N_t, ...)}`` in ``G``'s node order.
        G: the graph (a :class:`~grafx.data.GRAFX`), for the node count of each type.
        mix: initial wet proportion :math:`w` in ``[0, 1]``, one for all or one per type (types
            left out get :data:`DEFAULT_MIX`). Gates at exactly 0 or 1 (:math:`\omega = \mp\infty`) have zero
            gradient and stay there: start a gate you want to learn strictly inside.
        types: types to gate (default: every type of ``G`` but ``in``/``out``/``mix``); types
            that already have a gate keep theirs.

    Returns:
        A new plain ``dict`` (the tensors other than the new gates are shared), with
        ``[t]["drywet_weight"]`` of shape ``(N_t, 1)`` for every gated type.

    Raises:
        ParameterError: a mix outside ``[0, 1]``, a type that is not in the graph or is a
            utility type, or a type whose parameters are a bare tensor (not a dict).
    """
    counts = _type_counts(G)
    if types is None:
        types = [t for t in counts if t not in UTILITY_TYPES]
    out = {k: (dict(v.items()) if hasattr(v, "items") else v) for k, v in parameters.items()}
    for node_type in types:
        if node_type in UTILITY_TYPES or node_type not in counts:
            raise ParameterError(
                f"cannot gate type {node_type!r}: it is a utility type or not in the graph "
                f"(processor types: {sorted(t for t in counts if t not in UTILITY_TYPES)})"
            )
        value = out.setdefault(node_type, {})
        if isinstance(value, Tensor):
            raise ParameterError(
                f"type {node_type!r}: its parameters are a bare tensor; a gate needs a dict"
            )
        if DRYWET_KEY in value:
            continue
        w = mix.get(node_type, DEFAULT_MIX) if isinstance(mix, Mapping) else mix
        if not 0 <= float(w) <= 1:
            raise ParameterError(f"gate mix of type {node_type!r} must be in [0, 1], got {w}")
        dtype, device = _like(parameters, node_type)
        omega = drywet_weight_from_mix(torch.tensor(float(w), dtype=torch.float64))
        value[DRYWET_KEY] = torch.full((counts[node_type], 1), float(omega), dtype=dtype)
        value[DRYWET_KEY] = value[DRYWET_KEY].to(device)
    return out


def _per_node(mix: Tensor) -> Tensor:
    """Gate values ``(N_t, ...)`` as ``(N_t, M)``: one row per node (M is 1, or K knots)."""
    if mix.ndim == 0:
        return mix.reshape(1, 1)
    return mix[:, None] if mix.ndim == 1 else mix.flatten(1)


def node_gates(parameters: Mapping) -> dict[str, Tensor]:
    r"""The gates' wet proportions :math:`w = \sigma(\omega)`: ``{type: (N_t,)}`` (detached).

    An automated gate (a curve ``(N_t, 1, K)``, see :mod:`grafx.automation`) counts by the
    widest it opens over the song, so a send that swells in only once is still in use.
    """
    return {
        node_type: _per_node(mix_from_drywet_weight(value[DRYWET_KEY].detach())).amax(-1)
        for node_type, value in parameters.items()
        if hasattr(value, "items") and DRYWET_KEY in value
    }


def gated_nodes(parameters: Mapping, G: Any) -> dict[int, float]:
    """``{node id: w}`` of every gated node of ``G`` (``parameters`` in ``G``'s node order)."""
    gates = node_gates(parameters)
    rows = node_rows(G)
    return {
        node: float(gates[data["node_type"]][rows[node]])
        for node, data in sorted(G.nodes(data=True))
        if data["node_type"] in gates
    }


def set_node_gate(parameters: Mapping, G: Any, node: int | str, mix: float) -> None:
    """Set one node's gate to the wet proportion ``mix`` in ``[0, 1]`` (in place, no grad).

    ``mix = 0`` bypasses the node exactly (its output is its input); ``mix = 1`` leaves only
    the processor.
    """
    node = G.find_node(node) if isinstance(node, str) else node
    if node not in G:
        raise GraphError(f"no node {node} in the graph")
    node_type = G.nodes[node]["node_type"]
    value = parameters.get(node_type)
    if value is None or not hasattr(value, "items") or DRYWET_KEY not in value:
        raise ParameterError(f"node {node} ({node_type!r}) has no gate; see add_node_gates")
    if not 0 <= float(mix) <= 1:
        raise ParameterError(f"node {node} ({node_type!r}): gate mix must be in [0, 1], got {mix}")
    gate = value[DRYWET_KEY]
    with torch.no_grad():
        gate[node_rows(G)[node]] = drywet_weight_from_mix(torch.tensor(float(mix))).to(gate.dtype)


def gate_l1(parameters: Mapping) -> Tensor:
    r"""The L1 norm of every gate, :math:`\sum_v w_v + \sum_e w_e` (differentiable; 0 without gates).

    The sparsity penalty of the mixing-graphs paper: added to the fit loss with a small weight
    (ramped from 0 to 1e-4 there), it pushes processors that barely matter towards bypass. An
    automated gate (node or edge) counts by its mean over the knots.
    """
    terms = [
        _per_node(mix_from_drywet_weight(value[DRYWET_KEY])).mean(-1).sum()
        for value in parameters.values()
        if hasattr(value, "items") and DRYWET_KEY in value
    ]
    if isinstance(parameters.get(EDGE_GATE_KEY), Tensor):
        edge = _per_node(mix_from_drywet_weight(parameters[EDGE_GATE_KEY]))
        terms.append(edge.mean(-1).sum())
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def graph_edges(G: Any) -> list[tuple[int, int, str, str]]:
    """The edges of ``G`` in edge-gate row order: ``[(source id, dest id, outlet, inlet), ...]``.

    The order is ``convert_to_tensor(G)``'s: by (source row, destination row, outlet index,
    inlet index), rows being the node ids in ascending order.
    """
    return [(s, d, o, i) for s, d, _, o, i in edges_in_tensor_order(G)]


def edge_gate_table(G: Any, parameters: Mapping) -> dict[tuple[int, int, Any], Tensor]:
    r"""``{(source, dest, networkx key): omega}`` of every edge gate of ``parameters``."""
    gate = parameters[EDGE_GATE_KEY]
    edges = edges_in_tensor_order(G)
    if gate.shape[0] != len(edges):
        raise ParameterError(
            f"edge gates {EDGE_GATE_KEY!r} have {gate.shape[0]} rows; the graph has "
            f"{len(edges)} edges"
        )
    return {(s, d, key): gate[row] for row, (s, d, key, _, _) in enumerate(edges)}


def edge_gates_from_table(G: Any, table: Mapping[tuple[int, int, Any], Tensor]) -> Tensor:
    r"""The ``(E, 1)`` edge-gate tensor of ``G`` from ``{(source, dest, key): omega}`` (each
    ``omega`` one row of :func:`edge_gate_table`); ``(E, 1, K)`` when the rows are curves."""
    rows = [table[(s, d, key)] for s, d, key, _, _ in edges_in_tensor_order(G)]
    rows = [row.reshape(1) if row.ndim == 0 else row for row in rows]
    if not rows:
        return torch.zeros(0, 1)
    return torch.stack(rows)


def add_edge_gates(parameters: Mapping, G: Any, mix: float = DEFAULT_MIX) -> dict[str, Any]:
    r"""Put every edge of ``G`` behind a gate of wet proportion ``mix`` in ``[0, 1]``.

    Returns:
        A new plain ``dict`` (the other tensors shared) with ``["edge_gate"]`` of shape
        ``(E, 1)`` (rows in :func:`graph_edges` order), in the dtype and device of the other
        parameters. Existing edge gates are kept. ``mix = 1`` starts every path at full
        strength, where the sigmoid's gradient is zero: start inside ``(0, 1)`` to learn them.

    Raises:
        ParameterError: a mix outside ``[0, 1]``, or a node type named ``"edge_gate"``.
    """
    if not 0 <= float(mix) <= 1:
        raise ParameterError(f"edge gate mix must be in [0, 1], got {mix}")
    check_edge_gate_key_free(_type_counts(G))
    out = dict(parameters.items())
    if EDGE_GATE_KEY not in out:
        dtype, device = _like(parameters, EDGE_GATE_KEY)
        omega = float(drywet_weight_from_mix(torch.tensor(float(mix), dtype=torch.float64)))
        out[EDGE_GATE_KEY] = torch.full((G.number_of_edges(), 1), omega, dtype=dtype, device=device)
    return out


def edge_gates(parameters: Mapping) -> Tensor:
    r"""The edge gates' wet proportions :math:`\sigma(\omega_e)`, ``(E,)`` (detached).

    An automated edge gate (a curve ``(E, 1, K)``) counts by the widest it opens over the song.

    Raises:
        ParameterError: ``parameters`` has no edge gates (see :func:`add_edge_gates`).
    """
    gate = parameters.get(EDGE_GATE_KEY)
    if not isinstance(gate, Tensor):
        raise ParameterError(f"no edge gates ({EDGE_GATE_KEY!r}); see add_edge_gates")
    return _per_node(mix_from_drywet_weight(gate.detach())).amax(-1)


def set_edge_gate(
    parameters: Mapping,
    G: Any,
    source: int | str,
    dest: int | str,
    mix: float,
    outlet: str | None = None,
    inlet: str | None = None,
) -> None:
    """Set the gate of every edge from ``source`` to ``dest`` (or only those with the given
    ports) to ``mix`` in ``[0, 1]``, in place and without grad. Nodes by id or name.

    Raises:
        GraphError: no such edge (the message names it).
        ParameterError: no edge gates, or a mix outside ``[0, 1]``.
    """
    gate = parameters.get(EDGE_GATE_KEY)
    if not isinstance(gate, Tensor):
        raise ParameterError(f"no edge gates ({EDGE_GATE_KEY!r}); see add_edge_gates")
    if not 0 <= float(mix) <= 1:
        raise ParameterError(f"edge gate mix must be in [0, 1], got {mix}")
    source = G.find_node(source) if isinstance(source, str) else source
    dest = G.find_node(dest) if isinstance(dest, str) else dest
    rows = [
        row
        for row, (s, d, o, i) in enumerate(graph_edges(G))
        if s == source and d == dest and outlet in (None, o) and inlet in (None, i)
    ]
    if not rows:
        ports = "" if outlet is None and inlet is None else f" ({outlet} -> {inlet})"
        raise GraphError(f"no edge from node {source} to node {dest}{ports} in the graph")
    with torch.no_grad():
        gate[rows] = drywet_weight_from_mix(torch.tensor(float(mix))).to(gate.dtype)


#: The paper's final weight of the gate sparsity penalty.
SPARSITY_WEIGHT = 1e-4


class GateSparsity(Penalty):
    r"""L1 penalty on every gate: :math:`\sum_v \sigma(\omega_v)`, plus the edge gates' if any.

    See :func:`gate_l1`. The mixing-graphs paper (Lee et al., DAFx 2024) adds this L1 norm of
    every processor's dry/wet weight to the fit loss, ramped from 0 to :math:`10^{-4}`, so that
    processors a mix does not need drift towards bypass and pruning finds them.

    Args:
        weight: the weight once ramped up (the paper's 1e-4 by default).
        ramp: fraction of the fit over which the weight rises linearly from 0 (the paper ramps
            over the whole console fit: 1).

    Example:
        >>> from grafx.fit import fit_parameters
        >>> penalties = {"sparsity": GateSparsity()}  # fit_parameters(..., penalties=penalties)
        >>> penalties["sparsity"].weight_at(0.5)
        5e-05
    """

    def __init__(self, weight: float = SPARSITY_WEIGHT, ramp: float = 1.0):
        super().__init__(weight, ramp)

    def value(self, context: PenaltyContext) -> Tensor:
        return gate_l1(context.parameters)
