"""Layered layout: x from the longest path to a node, y kept along each signal chain."""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from grafx.errors import GraphError


def compute_node_position(
    G: nx.MultiDiGraph, node_spacing: tuple[float, float] = (0.8, 0.8)
) -> nx.MultiDiGraph:
    """Write ``rank``, ``x0`` and ``y0`` on every node of ``G`` (in place) and return ``G``.

    ``rank`` is the longest path from a node without inputs (so each render step of a chain sits
    in its own column). Nodes without inputs are stacked in id order; every other node starts at
    the mean height of its inputs (a channel strip stays on one row; a bus sits between its
    tracks), then nodes of one column are pushed apart to ``node_spacing[1]`` and the column is
    re-centred on the heights it wanted.

    Args:
        G: the graph; any ``networkx`` directed graph with a ``node_type`` per node.
        node_spacing: distance between columns and between rows, in drawing units.

    Raises:
        GraphError: the graph has a cycle (the message names its nodes).
    """
    if not nx.is_directed_acyclic_graph(G):
        cycle = [u for u, *_ in nx.find_cycle(G)]
        raise GraphError(f"cannot draw a graph with a cycle through nodes {cycle}")
    dx, dy = node_spacing
    order = list(nx.topological_sort(G))
    rank: dict = {}
    for node in order:
        preds = list(G.predecessors(node))
        rank[node] = 1 + max(rank[p] for p in preds) if preds else 0
    # Sinks (e.g. ``out``) go to the last column so the output is always at the far end.
    last = max(rank.values(), default=0)
    for node in G:
        if G.out_degree(node) == 0 and G.in_degree(node) > 0:
            rank[node] = last
    wanted: dict = {}
    sources = sorted((n for n in G if G.in_degree(n) == 0), key=_sort_key)
    for i, node in enumerate(sources):
        wanted[node] = i * dy
    columns: dict[int, list] = defaultdict(list)
    for node in order:
        columns[rank[node]].append(node)
    y: dict = {}
    for r in sorted(columns):
        for node in columns[r]:
            if node not in wanted:
                wanted[node] = sum(y[p] for p in G.predecessors(node)) / G.in_degree(node)
        y.update(_spread(columns[r], wanted, dy))
    for node in G:
        G.nodes[node].update(rank=rank[node], x0=rank[node] * dx, y0=y[node])
    return G


def _spread(nodes: list, wanted: dict, gap: float) -> dict:
    """Heights for one column: sorted by wanted height, at least ``gap`` apart, same mean."""
    ranked = sorted(nodes, key=lambda n: (wanted[n], _sort_key(n)))
    placed: list[float] = []
    for node in ranked:
        h = wanted[node]
        placed.append(h if not placed else max(h, placed[-1] + gap))
    shift = sum(wanted[n] for n in ranked) / len(ranked) - sum(placed) / len(placed)
    # Keep pushed nodes from drifting off the top: shift only if nodes were actually pushed.
    if any(abs(p - wanted[n]) > 1e-9 for p, n in zip(placed, ranked, strict=True)):
        placed = [p + shift for p in placed]
    return dict(zip(ranked, placed, strict=True))


def _sort_key(node) -> tuple:
    return (0, node) if isinstance(node, int) else (1, str(node))
