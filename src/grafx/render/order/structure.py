r"""Graph structure used by the schedulers: node types, edges, ports, checked once.

:class:`GraphStructure` turns a :class:`~grafx.data.tensor.GRAFXTensor` into numpy arrays and
checks that it can be rendered: it has ``in`` and ``out`` nodes, every edge points to real
nodes and ports, no edge enters an ``in`` node or leaves an ``out`` node, every inlet of every
node is connected (so no processor is left without input), and there is no cycle. Every error
names the node at fault by its original id (``node_ids``) and its type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grafx.data.configs import NodeConfigs
from grafx.data.conversion import convert_to_tensor
from grafx.data.tensor import GRAFXTensor
from grafx.errors import GraphError


def as_tensor_graph(G: Any) -> Any:
    """Return ``G`` as a :class:`~grafx.data.tensor.GRAFXTensor`, converting a ``GRAFX`` first."""
    if isinstance(G, GRAFXTensor):
        return G
    if hasattr(G, "config") and hasattr(G, "nodes"):
        return convert_to_tensor(G)
    raise GraphError(f"invalid graph type: {type(G).__name__}; expected a GRAFX or GRAFXTensor")


class GraphStructure:
    r"""Checked, array form of a graph for scheduling and planning.

    Args:
        G_t: the graph; ``config`` must be set.

    Attributes:
        num_nodes: ``V``.
        types: integer type of each node, ``(V,)``.
        src, dst: edge end rows, ``(E,)``.
        outlet, inlet: port index of each edge, ``(E,)`` (all zero for SISO graphs).
        in_type, out_type: the integer ids of ``in`` and ``out``.
        height: number of processor steps a node and its descendants need at least, ``(V,)``
            (0 for ``out`` nodes); the longest remaining path, used as a lower bound.
        topo: a topological order of the rows, ``(V,)``.
    """

    def __init__(self, G_t: Any):
        config = G_t.config
        if not isinstance(config, NodeConfigs):
            raise GraphError("the graph has no NodeConfigs (config is None); it cannot be rendered")
        self.config = config
        self.types = np.asarray(G_t.node_types.detach().cpu().numpy(), dtype=np.int64)
        self.num_nodes = int(self.types.shape[0])
        self.node_ids = (
            np.asarray(G_t.node_ids.detach().cpu().numpy(), dtype=np.int64)
            if getattr(G_t, "node_ids", None) is not None
            else np.arange(self.num_nodes)
        )
        self.graph_ids = (
            np.asarray(G_t.graph_ids.detach().cpu().numpy(), dtype=np.int64)
            if getattr(G_t, "graph_ids", None) is not None
            else None
        )
        edges = np.asarray(G_t.edge_indices.detach().cpu().numpy(), dtype=np.int64)
        edges = edges.reshape(2, -1)
        self.src, self.dst = edges[0], edges[1]
        edge_types = getattr(G_t, "edge_types", None)
        if edge_types is None:
            self.outlet = np.zeros_like(self.src)
            self.inlet = np.zeros_like(self.src)
        else:
            ports = np.asarray(edge_types.detach().cpu().numpy(), dtype=np.int64).reshape(2, -1)
            self.outlet, self.inlet = ports[0], ports[1]
        self.in_type = config.node_type_to_index["in"]
        self.out_type = config.node_type_to_index["out"]
        self.num_inlets = np.array([config.num_inlets[t] for t in config.node_types])
        self.num_outlets = np.array([config.num_outlets[t] for t in config.node_types])
        self._check()
        self.topo = self._toposort()
        self.height = self._heights()

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    def type_name(self, type_id: int) -> str:
        return self.config.node_types[int(type_id)]

    def describe(self, row: int) -> str:
        """``node 7 ('eq')``, with the graph index for batches: how errors name a node."""
        name = f"node {int(self.node_ids[row])}"
        if self.graph_ids is not None:
            name += f" of graph {int(self.graph_ids[row])}"
        return f"{name} ({self.type_name(self.types[row])!r})"

    def _check(self) -> None:
        V, E = self.num_nodes, self.num_edges
        if V == 0:
            raise GraphError("the graph has no nodes")
        bad = np.flatnonzero((self.types < 0) | (self.types >= len(self.config)))
        if bad.size:
            raise GraphError(
                f"node {int(self.node_ids[bad[0]])}: unknown type id {int(self.types[bad[0]])}; "
                f"the config allows {self.config.node_types}"
            )
        if not (self.types == self.in_type).any():
            raise GraphError("the graph has no 'in' node; sources enter through 'in' nodes")
        if not (self.types == self.out_type).any():
            raise GraphError("the graph has no 'out' node; the output leaves through 'out' nodes")
        if self.outlet.shape[0] != E or self.inlet.shape[0] != E:
            raise GraphError(f"edge_types has {self.outlet.shape[0]} edges, edge_indices has {E}")
        bad = np.flatnonzero((self.src < 0) | (self.src >= V) | (self.dst < 0) | (self.dst >= V))
        if bad.size:
            e = bad[0]
            raise GraphError(
                f"edge {e} ({int(self.src[e])} -> {int(self.dst[e])}) refers to a node row "
                f"outside 0..{V - 1}"
            )
        src_type, dst_type = self.types[self.src], self.types[self.dst]
        for mask, what, row_of in (
            (dst_type == self.in_type, "enters an 'in' node", self.dst),
            (src_type == self.out_type, "leaves an 'out' node", self.src),
            (self.src == self.dst, "connects a node to itself", self.src),
            (
                self.outlet >= self.num_outlets[src_type],
                "uses an outlet its source lacks",
                self.src,
            ),
            (
                self.inlet >= self.num_inlets[dst_type],
                "uses an inlet its destination lacks",
                self.dst,
            ),
            ((self.outlet < 0) | (self.inlet < 0), "has a negative port index", self.src),
        ):
            bad = np.flatnonzero(mask)
            if bad.size:
                e = bad[0]
                raise GraphError(
                    f"edge {self.describe(self.src[e])} -> {self.describe(self.dst[e])} {what} "
                    f"(outlet {int(self.outlet[e])}, inlet {int(self.inlet[e])}); "
                    f"at fault: {self.describe(row_of[e])}"
                )
        # Every inlet of every node must receive at least one edge.
        max_inlets = max(int(self.num_inlets.max()), 1)
        connected = np.zeros((V, max_inlets), dtype=bool)
        connected[self.dst, self.inlet] = True
        needed = np.arange(max_inlets)[None, :] < self.num_inlets[self.types][:, None]
        missing = needed & ~connected
        rows = np.flatnonzero(missing.any(axis=1))
        if rows.size:
            row = rows[0]
            inlet = int(np.flatnonzero(missing[row])[0])
            name = self.config[self.type_name(self.types[row])]["inlets"][inlet]
            if not connected[row].any():
                raise GraphError(
                    f"{self.describe(row)} has no input; every node but 'in' needs one "
                    f"(dangling node)"
                )
            raise GraphError(f"{self.describe(row)}: inlet {name!r} is not connected")

    def _toposort(self) -> np.ndarray:
        V = self.num_nodes
        indegree = np.bincount(self.dst, minlength=V)
        order_e = np.argsort(self.src, kind="stable")
        succ = self.dst[order_e]
        start = np.searchsorted(self.src[order_e], np.arange(V + 1))
        self.succ, self.succ_start = succ, start
        stack = list(np.flatnonzero(indegree == 0)[::-1])
        indegree = indegree.tolist()
        succ_l, start_l = succ.tolist(), start.tolist()
        topo = []
        while stack:
            v = stack.pop()
            topo.append(v)
            for w in succ_l[start_l[v] : start_l[v + 1]]:
                indegree[w] -= 1
                if indegree[w] == 0:
                    stack.append(w)
        if len(topo) < V:
            raise GraphError(f"the graph has a cycle through {self.describe(self._on_cycle(topo))}")
        return np.asarray(topo, dtype=np.int64)

    def _on_cycle(self, topo: list[int]) -> int:
        """A node on a cycle: walk predecessors among unsorted nodes until one repeats."""
        left = np.ones(self.num_nodes, dtype=bool)
        left[np.asarray(topo, dtype=np.int64)] = False
        pred: dict[int, int] = {}
        for s, d in zip(self.src.tolist(), self.dst.tolist(), strict=True):
            if left[s] and left[d]:
                pred.setdefault(d, s)
        v = int(np.flatnonzero(left)[0])
        seen = set()
        while v not in seen:
            seen.add(v)
            v = pred[v]
        return v

    def _heights(self) -> np.ndarray:
        height = np.zeros(self.num_nodes, dtype=np.int64)
        succ_l, start_l = self.succ.tolist(), self.succ_start.tolist()
        types = self.types.tolist()
        h = height.tolist()
        for v in reversed(self.topo.tolist()):
            if types[v] == self.out_type:
                continue
            below = max((h[w] for w in succ_l[start_l[v] : start_l[v + 1]]), default=0)
            h[v] = below + (0 if types[v] == self.in_type else 1)
        return np.asarray(h, dtype=np.int64)
