r"""The parameter-row layout, owned here: row ``n`` of a type's parameters is its ``n``-th node.

``parameters[t][k]`` is a tensor whose row ``n`` belongs to the ``n``-th node of type ``t``: in
ascending node id for a :class:`~grafx.data.graph.GRAFX`, and in row order for a
:class:`~grafx.data.tensor.GRAFXTensor` (whose ``node_ids`` move with its rows when it is
reordered, so a node keeps its parameters). Every module that needs "which row is node 7's?" or
"how many nodes of type t?" asks this one.

Example:
    >>> from grafx.data import GRAFX, NodeConfigs
    >>> G = GRAFX(config=NodeConfigs(["eq"]))
    >>> _ = G.add_serial_chain(["in", "eq", "eq", "out"])
    >>> node_rows(G)
    {0: 0, 1: 0, 2: 1, 3: 0}
    >>> count_nodes_per_type(G, ["eq", "in"])
    {'eq': 2, 'in': 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from grafx.data.graph import GRAFX
from grafx.data.tensor import GRAFXTensor
from grafx.errors import GraphError

__all__ = ["get_node_ids_from_type", "count_nodes_per_type", "node_rows", "parameter_row"]


def _is_graph(value: Any) -> bool:
    return isinstance(value, (GRAFX, GRAFXTensor))


def _tensor_type_names(G_t: Any) -> list[str]:
    """Type name of each row of a GRAFXTensor."""
    if G_t.config is None:
        raise GraphError("this GRAFXTensor has no config, so its node types have no names")
    names = G_t.config.node_types
    return [names[int(i)] for i in G_t.node_types.cpu().tolist()]


def _node_types_of(G: Any) -> list[tuple[int, str]]:
    """``(node id, type name)`` of every node, in row order (ascending id for a GRAFX)."""
    if isinstance(G, GRAFXTensor):
        ids = G.node_ids if G.node_ids is not None else torch.arange(G.num_nodes)
        return list(zip(ids.cpu().tolist(), _tensor_type_names(G), strict=True))
    if isinstance(G, GRAFX):
        return [(n, G.nodes[n].get("node_type")) for n in sorted(G.nodes)]
    raise GraphError(f"expected a GRAFX or a GRAFXTensor, got {type(G).__name__}")


def get_node_ids_from_type(G: Any, node_type: str) -> list[int]:
    """Ids of the nodes of ``node_type``, in parameter-row order.

    Args:
        G: a :class:`~grafx.data.graph.GRAFX` or a :class:`~grafx.data.tensor.GRAFXTensor` (for
            which the ids are its ``node_ids``, i.e. the ids in the source graph).
        node_type: a type name.

    Returns:
        The node ids; the ``n``-th is the node that owns row ``n`` of ``parameters[node_type]``.
    """
    return [n for n, t in _node_types_of(G) if t == node_type]


def count_nodes_per_type(
    G: Any, types_to_count: Iterable[str] | Mapping[str, Any] | None = None
) -> dict[str, int]:
    """Number of nodes of each type.

    Args:
        G: a :class:`~grafx.data.graph.GRAFX` or a :class:`~grafx.data.tensor.GRAFXTensor`.
        types_to_count: types to count (a list, or a dict whose keys are types, such as the
            processors dict); absent types count 0. By default every type of the graph's config
            (zeros kept), or the types present when the graph has no config.

    Returns:
        ``{node_type: count}``.
    """
    present = [t for _, t in _node_types_of(G)]
    if types_to_count is not None:
        keys = (
            list(types_to_count.keys()) if hasattr(types_to_count, "keys") else list(types_to_count)
        )
    elif getattr(G, "config", None) is not None:
        keys = list(G.config.node_types)
    else:
        keys = list(dict.fromkeys(present))
    counts = dict.fromkeys(keys, 0)
    for t in present:
        if t in counts:
            counts[t] += 1
    return counts


def node_rows(G: Any) -> dict[int, int]:
    """Row of each node in its type's parameter tensors: ``{node id: row}``."""
    rows: dict[int, int] = {}
    counts: dict[str, int] = {}
    for node, node_type in _node_types_of(G):
        rows[node] = counts.get(node_type, 0)
        counts[node_type] = rows[node] + 1
    return rows


def parameter_row(G: Any, node_id: int, graph_id: int | None = None) -> tuple[str, int]:
    """``(node_type, row)``: where the parameters of node ``node_id`` live (see the module).

    Raises:
        GraphError: no such node.
    """
    if isinstance(G, GRAFXTensor):
        return G.parameter_row(node_id, graph_id)
    if isinstance(G, GRAFX):
        if node_id not in G.nodes:
            raise GraphError(f"node {node_id} is not in the graph")
        node_type = G.nodes[node_id].get("node_type")
        rank = sum(1 for n in G.nodes if n < node_id and G.nodes[n].get("node_type") == node_type)
        return node_type, rank
    raise GraphError(f"expected a GRAFX or a GRAFXTensor, got {type(G).__name__}")
