"""Conversion between the mutable :class:`GRAFX` graph and its :class:`GRAFXTensor` form."""

from __future__ import annotations

from typing import Any

import torch

from grafx.data.configs import NodeConfigs
from grafx.data.graph import GRAFX
from grafx.data.tensor import GRAFXTensor
from grafx.errors import GraphError


def _node_type_index(config: NodeConfigs, node_id: int, node_type: object) -> int:
    if node_type not in config:
        raise GraphError(
            f"node {node_id}: type {node_type!r} is not in the graph's config {config.node_types}"
        )
    return config.node_type_to_index[str(node_type)]


def _port_index(config: NodeConfigs, edge: tuple, node_type: str, port: str, kind: str) -> int:
    index = config.outlet_to_index if kind == "outlet" else config.inlet_to_index
    if port not in index[node_type]:
        source, dest = edge
        raise GraphError(
            f"edge {source} -> {dest}: {node_type!r} has no {kind} {port!r}; "
            f"it has {list(index[node_type])}"
        )
    return index[node_type][port]


def _sorted_edges(G: GRAFX, config: NodeConfigs, row_of: dict, type_of: dict) -> list[tuple]:
    """``[(source row, dest row, outlet index, inlet index, key, source, dest, outlet, inlet,
    gain)]`` sorted: the first four give the tensor order (parallel edges with the same ports
    follow by networkx key); ``gain`` is the edge's ``gain`` attribute or ``None``."""
    outlet_index, inlet_index = config.outlet_to_index, config.inlet_to_index
    edges = []
    for source, dest, key, data in G.edges(keys=True, data=True):
        outlet, inlet = data.get("outlet", "main"), data.get("inlet", "main")
        source_ports, dest_ports = outlet_index[type_of[source]], inlet_index[type_of[dest]]
        if outlet not in source_ports or inlet not in dest_ports:
            _port_index(config, (source, dest), type_of[source], outlet, "outlet")
            _port_index(config, (source, dest), type_of[dest], inlet, "inlet")
        edges.append(
            (
                row_of[source],
                row_of[dest],
                source_ports[outlet],
                dest_ports[inlet],
                key,
                source,
                dest,
                outlet,
                inlet,
                data.get("gain"),
            )
        )
    edges.sort(key=lambda edge: edge[:5])
    return edges


def edges_in_tensor_order(G: GRAFX) -> list[tuple[int, int, Any, str, str]]:
    """The edges of ``G`` as ``[(source id, dest id, networkx key, outlet, inlet), ...]`` in the
    order of :func:`convert_to_tensor`'s ``edge_indices`` columns: by (source row, destination
    row, outlet index, inlet index), rows being the node ids in ascending order."""
    if G.config is None:
        raise GraphError("edges_in_tensor_order needs a graph with a config")
    row_of = {node: row for row, node in enumerate(sorted(G.nodes))}
    type_of = {node: data.get("node_type") for node, data in G.nodes(data=True)}
    return [(e[5], e[6], e[4], e[7], e[8]) for e in _sorted_edges(G, G.config, row_of, type_of)]


def convert_to_tensor(G: GRAFX) -> GRAFXTensor:
    r"""Convert a :class:`~grafx.data.graph.GRAFX` into a :class:`~grafx.data.tensor.GRAFXTensor`.

    Rows follow the node ids in ascending order, whatever the ids are (gaps left by
    :meth:`~grafx.data.graph.GRAFX.remove` are fine and no relabelled copy is made); ``node_ids``
    keeps each row's id (the node attribute ``original_id`` when present, as set by
    :func:`~grafx.data.batch.batch_grafx`), and ``graph_ids`` each row's graph for batched graphs.
    Edges are sorted by (source row, destination row, outlet index, inlet index).

    Differences from the original library (bugs fixed): parallel edges with different ports
    convert (the original compared port dicts and raised ``TypeError``); a graph without edges gives
    an empty ``LongTensor`` of shape ``(2, 0)`` (the original gave a float tensor); ``edge_types``
    is ``(2, E)`` as the documentation says (the original built ``(E, 2)``).

    Args:
        G: a graph with a ``config``.

    Returns:
        The tensor form: ``node_types`` ``(V,)``, ``edge_indices`` ``(2, E)``, ``edge_types``
        ``(2, E)`` or ``None`` when the config is SISO-only, ``rendering_orders`` ``(V,)`` when
        ``G.rendering_order_method`` is set or a node has a ``rendering_order`` attribute (taken
        from that attribute, ``-1`` where missing), and the graph-level attributes copied from ``G``.
    """
    if not isinstance(G, GRAFX):
        raise GraphError(f"convert_to_tensor needs a GRAFX graph, got {type(G).__name__}")
    config = G.config
    if config is None:
        raise GraphError("convert_to_tensor needs a graph with a config: use GRAFX(config=...)")
    for node_id in G.nodes:
        if not isinstance(node_id, int) or isinstance(node_id, bool):
            raise GraphError(f"node {node_id!r}: node ids must be ints to convert to tensors")
    nodes = sorted(G.nodes)
    row_of = {node_id: row for row, node_id in enumerate(nodes)}
    attrs = G._node  # plain dicts: much faster than the NodeView for thousands of nodes
    type_of = {n: attrs[n].get("node_type") for n in nodes}
    node_types = torch.tensor(
        [_node_type_index(config, n, type_of[n]) for n in nodes], dtype=torch.long
    )
    node_ids = torch.tensor([attrs[n].get("original_id", n) for n in nodes], dtype=torch.long)
    graph_ids = None
    if G.batch:
        graph_ids = torch.tensor([attrs[n].get("graph_id", 0) for n in nodes], dtype=torch.long)

    sorted_edges = _sorted_edges(G, config, row_of, type_of)
    table = torch.tensor([e[:4] for e in sorted_edges], dtype=torch.long).reshape(-1, 4).T
    edge_gains = None
    if any(e[9] is not None for e in sorted_edges):
        gains = [1.0 if e[9] is None else float(e[9]) for e in sorted_edges]
        edge_gains = torch.tensor(gains, dtype=torch.float64)
    edge_indices = table[:2].contiguous()
    edge_types = None if config.siso_only else table[2:].contiguous()

    rendering_orders = None
    if G.rendering_order_method is not None or any("rendering_order" in a for a in attrs.values()):
        rendering_orders = torch.tensor(
            [attrs[n].get("rendering_order", -1) for n in nodes], dtype=torch.long
        )
    type_sequence: Any = G.type_sequence  # names, or the LongTensor a user set
    if isinstance(type_sequence, list):
        type_sequence = list(type_sequence)
    counter = G.counter
    return GRAFXTensor(
        node_types=node_types,
        edge_indices=edge_indices,
        counter=list(counter) if isinstance(counter, list) else counter,
        batch=G.batch,
        config=config,
        config_hash=G.config_hash,
        invalid_op=G.invalid_op,
        edge_types=edge_types,
        rendering_order_method=G.rendering_order_method,
        rendering_orders=rendering_orders,
        type_sequence=type_sequence,
        node_ids=node_ids,
        graph_ids=graph_ids,
        edge_gains=edge_gains,
    )


def _graph_offsets(G_t: GRAFXTensor, graph_ids: torch.Tensor) -> list[int]:
    num_graphs = int(graph_ids.max()) + 1 if graph_ids.numel() else 0
    counter = G_t.counter
    if isinstance(counter, list) and len(counter) == num_graphs:
        return [0, *counter[:-1]]
    # No usable cumulative counter: give each graph the id range its largest id needs.
    node_ids = G_t.node_ids if G_t.node_ids is not None else torch.arange(G_t.num_nodes)
    offsets, total = [], 0
    for g in range(num_graphs):
        offsets.append(total)
        ids = node_ids[graph_ids.to(node_ids.device) == g]
        total += int(ids.max()) + 1 if ids.numel() else 0
    return offsets


def convert_to_graph(G_t: GRAFXTensor, relabel: bool = False) -> GRAFX:
    r"""Inverse of :func:`convert_to_tensor`: rebuild a :class:`~grafx.data.graph.GRAFX`.

    By default node ids come from ``node_ids`` (rows ``0..V-1`` when it is ``None``), so node 7 of
    the original graph is node 7 again, even after the tensor was reordered for rendering. For a
    batched tensor, graph ``g``'s node ``i`` gets id ``offset_g + i`` (the ids
    :func:`~grafx.data.batch.batch_grafx` gives) and keeps ``graph_id``/``original_id``
    attributes. With ``relabel=True`` node ids are the rows instead (so the row order, e.g. a render
    order, is kept by :func:`convert_to_tensor`), and every node keeps its ``original_id``
    attribute, from which :func:`convert_to_tensor` fills ``node_ids`` again.

    Ports are restored from ``edge_types`` (the first port of each type when it is ``None``) and
    gains from ``edge_gains`` (every edge gets a ``gain`` when it is set), render steps go into
    the node attribute ``rendering_order``. Node names and parameters are not part
    of the tensor form.

    Args:
        G_t: a tensor graph with a ``config``.
        relabel: number the nodes by row instead of restoring their ids.

    Returns:
        A new graph. Converting it back gives the same tensors (rows sorted by id unless
        ``relabel`` is set, in which case they are identical).
    """
    config = G_t.config
    if config is None:
        raise GraphError("convert_to_graph needs a GRAFXTensor with a config")
    num_nodes = G_t.num_nodes
    ids, node_ids, graph_ids = _restored_ids(G_t, relabel)
    type_indices = G_t.node_types.tolist()
    for row, t in enumerate(type_indices):
        if not 0 <= t < config.num_node_types:
            raise GraphError(f"convert_to_graph: row {row} has node type {t}, not in the config")

    G = GRAFX(config=config, invalid_op=G_t.invalid_op)
    types = [config.node_types[t] for t in type_indices]
    orders = G_t.rendering_orders.tolist() if G_t.rendering_orders is not None else None
    for row in sorted(range(num_nodes), key=ids.__getitem__):
        attrs = {"node_type": types[row], "parameters": None, "name": None}
        if graph_ids is not None:
            attrs["graph_id"] = graph_ids[row]
        if graph_ids is not None or relabel:
            attrs["original_id"] = node_ids[row]
        if orders is not None:
            attrs["rendering_order"] = orders[row]
        G.add_node(ids[row], **attrs)

    _add_edges(G, G_t, config, types, ids)
    counter = G_t.counter
    if isinstance(counter, list):
        G.counter = list(counter)
    elif relabel:
        G.counter = num_nodes
    else:
        G.counter = max(int(counter), max(ids, default=-1) + 1)
    G.batch = bool(G_t.batch)
    G.consecutive_ids = sorted(ids) == list(range(num_nodes)) and (
        isinstance(counter, list) or G.counter == num_nodes
    )
    G.rendering_order_method = G_t.rendering_order_method
    type_sequence = G_t.type_sequence
    G.type_sequence = list(type_sequence) if isinstance(type_sequence, list) else type_sequence
    return G


def _restored_ids(G_t: GRAFXTensor, relabel: bool) -> tuple[list[int], list[int], list[int] | None]:
    """``(graph node id of each row, node_ids, graph_ids)`` for :func:`convert_to_graph`."""
    num_nodes = G_t.num_nodes
    id_tensor = G_t.node_ids if G_t.node_ids is not None else torch.arange(num_nodes)
    node_ids: list[int] = id_tensor.tolist()
    graph_ids = G_t.graph_ids.tolist() if G_t.graph_ids is not None else None
    if relabel:
        ids = list(range(num_nodes))
    elif G_t.graph_ids is not None and graph_ids is not None:
        offsets = _graph_offsets(G_t, G_t.graph_ids.cpu())
        ids = [offsets[g] + i for g, i in zip(graph_ids, node_ids, strict=True)]
    else:
        ids = node_ids
    if len(set(ids)) != num_nodes:
        raise GraphError("convert_to_graph: node_ids repeat, so nodes cannot be told apart")
    return ids, node_ids, graph_ids


def _add_edges(
    G: GRAFX, G_t: GRAFXTensor, config: NodeConfigs, types: list[str], ids: list[int]
) -> None:
    """Add ``G_t``'s edges to ``G`` with their ports (from ``edge_types``) and gains."""
    edge_types = G_t.edge_types.tolist() if G_t.edge_types is not None else None
    gains = G_t.edge_gains.tolist() if G_t.edge_gains is not None else None
    for e, (source, dest) in enumerate(G_t.edge_indices.T.tolist()):
        outlet_index, inlet_index = (edge_types[0][e], edge_types[1][e]) if edge_types else (0, 0)
        outlets = config[types[source]]["outlets"]
        inlets = config[types[dest]]["inlets"]
        if not (0 <= outlet_index < len(outlets) and 0 <= inlet_index < len(inlets)):
            raise GraphError(
                f"convert_to_graph: edge {e} ({ids[source]} -> {ids[dest]}) uses outlet "
                f"{outlet_index} of {types[source]!r} {outlets} and inlet {inlet_index} of "
                f"{types[dest]!r} {inlets}, which do not exist"
            )
        outlet, inlet = outlets[outlet_index], inlets[inlet_index]
        attrs = {"outlet": outlet, "inlet": inlet}
        if gains is not None:
            attrs["gain"] = gains[e]
        G.add_edge(ids[source], ids[dest], **attrs)
