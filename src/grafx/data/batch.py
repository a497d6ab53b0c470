"""Batching several graphs into one disjoint graph."""

from __future__ import annotations

from collections.abc import Sequence

from grafx.data.graph import GRAFX
from grafx.errors import GraphError


def batch_grafx(G_list: Sequence[GRAFX] | GRAFX) -> GRAFX:
    r"""Join graphs into one disjoint graph that renders all of them at once.

    Graph ``i``'s node ``n`` becomes node ``offset_i + n``, where ``offset_0 = 0`` and
    ``offset_i`` is the sum of the ``counter`` of the graphs before it, so ids stay distinct even
    when a graph has gaps in its ids. Each node keeps its attributes and gains ``graph_id`` (``i``)
    and ``original_id`` (``n``), which :func:`~grafx.data.conversion.convert_to_tensor` stores as
    ``graph_ids`` and ``node_ids``. The result has ``batch=True`` and ``counter`` set to the list
    of cumulative counts ``[offset_1, offset_2, ..., total]``. Its sources are the graphs' sources
    concatenated along the node axis, in graph order.

    Differences from the original library (bugs fixed): it works (the original always raised
    ``AssertionError``); graphs with equal but distinct configs batch; ids need not be consecutive;
    the graph attributes come from the first graph, and any rendering order is dropped (reorder the
    batch instead). A single graph is accepted as a batch of one, as in the documentation's
    ``batch_grafx(G)``.

    Args:
        G_list: the graphs, all with equal configs and none already batched.

    Returns:
        The batched graph.
    """
    graphs = [G_list] if isinstance(G_list, GRAFX) else G_list
    if isinstance(graphs, (str, bytes)) or not isinstance(graphs, Sequence):
        raise GraphError(f"batch_grafx needs a list of GRAFX graphs, got {type(G_list).__name__}")
    if len(graphs) == 0:
        raise GraphError("batch_grafx needs at least one graph, got an empty list")
    for i, G in enumerate(graphs):
        if not isinstance(G, GRAFX):
            raise GraphError(f"batch_grafx: item {i} is a {type(G).__name__}, not a GRAFX graph")
        if G.batch:
            raise GraphError(
                f"batch_grafx: graph {i} is already a batched graph; batch the original graphs"
            )
        if G.config != graphs[0].config:
            raise GraphError(
                f"batch_grafx: graph {i} has a different node config from graph 0; "
                f"graphs with different node configs cannot be batched "
                f"({_types(G)} vs {_types(graphs[0])})"
            )

    first = graphs[0]
    batched = GRAFX(config=first.config, invalid_op=first.invalid_op)
    counters, offset = [], 0
    for i, G in enumerate(graphs):
        batched.add_nodes_from(
            (offset + node_id, {**_without_order(data), "graph_id": i, "original_id": node_id})
            for node_id, data in sorted(G.nodes(data=True), key=lambda item: item[0])
        )
        batched.add_edges_from(
            (offset + source, offset + dest, dict(data))
            for source, dest, data in G.edges(data=True)
        )
        offset += G.counter
        counters.append(offset)
    batched.counter = counters
    batched.batch = True
    batched.consecutive_ids = all(G.consecutive_ids for G in graphs)
    return batched


def _without_order(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "rendering_order"}


def _types(G: GRAFX) -> list[str] | None:
    return None if G.config is None else G.config.node_types
