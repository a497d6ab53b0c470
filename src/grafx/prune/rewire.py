r"""Remove processors from a graph: each removed node's input goes straight to its outputs.

Removing node :math:`v` is the same as closing its gate (:math:`w_v = 0`, see
:mod:`grafx.gates`): every edge into inlet :math:`k` of :math:`v` is joined to every edge out of
outlet :math:`k`, so the signals the rest of the graph receives are unchanged, parallel paths
included (a source that reached :math:`v` twice reaches each successor twice). Nothing else in
the graph changes: the survivors keep their node ids, names and parameter values.

With edge gates (:func:`grafx.gates.add_edge_gates`), the surviving edges keep theirs and a
joined edge carries the product of its two parts, :math:`w = w_{in} w_{out}`, so the render is
still the same; so does an edge gain (``GRAFX.connect(..., gain=)``): a joined edge's gain is
the product of its parts'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, overload

import torch
from torch import Tensor

from grafx.errors import GraphError
from grafx.gates import edge_gate_table, edge_gates_from_table
from grafx.processors.core.drywet import EDGE_GATE_KEY

__all__ = ["remove_nodes", "PROTECTED_TYPES"]

#: Node types that are never removed: they are the graph's sources and outputs.
PROTECTED_TYPES = ("in", "out")


def _port_index(G: Any, node_type: str, kind: str, name: str) -> int:
    if G.config is None or node_type not in G.config:
        return 0
    table = G.config.inlet_to_index if kind == "inlets" else G.config.outlet_to_index
    return table[node_type].get(name, 0)


@overload
def remove_nodes(
    G: Any, parameters: Mapping, nodes: Iterable[int]
) -> tuple[Any, dict[str, Any]]: ...


@overload
def remove_nodes(G: Any, parameters: None, nodes: Iterable[int]) -> tuple[Any, None]: ...


def remove_nodes(
    G: Any, parameters: Mapping | None, nodes: Iterable[int]
) -> tuple[Any, dict[str, Any] | None]:
    """Remove ``nodes`` from ``G``, rewiring each one's inputs to its outputs.

    Args:
        G: a :class:`~grafx.data.GRAFX`; it is not modified.
        parameters: ``{type: nested dict of tensors (N_t, ...)}`` in ``G``'s node order (row
            ``r`` of type ``t`` is the ``r``-th ``t`` node by id), or ``None``.
        nodes: ids of processor (or ``mix``) nodes to remove.

    Returns:
        ``(G', parameters')``: a copy of the graph without the nodes (survivors keep their ids)
        and the parameters without their rows (same keys; a type may end with 0 rows); edge
        gates, if any, follow the new edges (a joined edge gets the product of its parts).

    Raises:
        GraphError: an unknown node id, an ``in``/``out`` node, or a node whose inlets and
            outlets differ in number (its input has no outlet to go to).
    """
    nodes = sorted({int(n) for n in nodes})
    for node in nodes:
        if node not in G:
            raise GraphError(f"cannot remove node {node}: no such node in the graph")
        node_type = G.nodes[node]["node_type"]
        if node_type in PROTECTED_TYPES:
            raise GraphError(
                f"cannot remove node {node} ({node_type!r}): 'in' and 'out' nodes are the graph's "
                "sources and outputs and are never pruned"
            )
        if G.config is not None and node_type in G.config:
            inlets, outlets = G.config.num_inlets[node_type], G.config.num_outlets[node_type]
            if inlets != outlets:
                raise GraphError(
                    f"cannot remove node {node} ({node_type!r}): {inlets} inlet(s) but "
                    f"{outlets} outlet(s), so its input has no single path to its outputs"
                )
    rows = _removed_rows(G, nodes)
    gates = None
    if parameters is not None and EDGE_GATE_KEY in parameters:
        gates = edge_gate_table(G, parameters)
    H = G.copy()
    for node in nodes:
        node_type = H.nodes[node]["node_type"]
        incoming = list(H.in_edges(node, keys=True, data=True))
        outgoing = list(H.out_edges(node, keys=True, data=True))
        for src, _, key_in, into in incoming:
            k = _port_index(H, node_type, "inlets", into.get("inlet", "main"))
            for _, dst, key_out, out in outgoing:
                if _port_index(H, node_type, "outlets", out.get("outlet", "main")) == k:
                    attrs = {"outlet": into.get("outlet"), "inlet": out.get("inlet")}
                    gain = _joined_gain(into.get("gain"), out.get("gain"))
                    if gain is not None:
                        attrs["gain"] = gain
                    key = H.add_edge(src, dst, **attrs)
                    if gates is not None:
                        gates[(src, dst, key)] = _joined(
                            gates[(src, node, key_in)], gates[(node, dst, key_out)]
                        )
        H.remove_node(node)
    H.consecutive_ids = False
    if parameters is None:
        return H, None
    pruned = {
        t: _drop_rows(v, rows.get(t, [])) for t, v in parameters.items() if t != EDGE_GATE_KEY
    }
    if gates is not None:
        pruned[EDGE_GATE_KEY] = edge_gates_from_table(H, gates).to(parameters[EDGE_GATE_KEY])
    return H, pruned


def _joined_gain(gain_in: float | None, gain_out: float | None) -> float | None:
    """The gain of a joined edge: the product of its parts' (``None`` when neither has one)."""
    if gain_in is None and gain_out is None:
        return None
    return (1.0 if gain_in is None else gain_in) * (1.0 if gain_out is None else gain_out)


def _joined(omega_in: Tensor, omega_out: Tensor) -> Tensor:
    r"""The logit of :math:`\sigma(\omega_{in})\,\sigma(\omega_{out})`, in log space."""
    log_w = torch.nn.functional.logsigmoid(omega_in) + torch.nn.functional.logsigmoid(omega_out)
    return log_w - torch.log(-torch.expm1(log_w))


def _removed_rows(G: Any, nodes: list[int]) -> dict[str, list[int]]:
    rank: dict[str, int] = {}
    rows: dict[str, list[int]] = {}
    removed = set(nodes)
    for node in sorted(G.nodes):
        node_type = G.nodes[node]["node_type"]
        row = rank.get(node_type, 0)
        rank[node_type] = row + 1
        if node in removed:
            rows.setdefault(node_type, []).append(row)
    return rows


def _drop_rows(value: Any, rows: list[int]) -> Any:
    if isinstance(value, Tensor):
        if not rows:
            return value
        drop = set(rows)
        keep = [r for r in range(value.shape[0]) if r not in drop]
        return value[keep]
    return {k: _drop_rows(v, rows) for k, v in value.items()}
