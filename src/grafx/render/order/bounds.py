r"""Admissible lower bounds of the steps a partial schedule still needs.

A type sequence renders the graph exactly when every path's type string is a subsequence of it
(each node lands on the first step of its type after all of its inputs). So, for the nodes not
yet rendered (a set closed under successors), the remaining sequence needs at least

* as many steps as the longest remaining path has processor nodes, and
* for every type :math:`t`, as many steps of type :math:`t` as the most :math:`t` nodes on one
  remaining path; summed over the types (each step has one type), this *type-count* bound is
  often far stronger than the longest path: on a random DAG over 6 types the longest path has
  25 processors while its type counts sum to 44.

Both are maxima over the remaining nodes of a per-node score that never grows along a path, so
each is read from precomputed bit masks ("nodes scoring at least ``k``") by binary search.
"""

from __future__ import annotations

import numpy as np

from grafx.render.order.structure import GraphStructure


def _as_mask(selected: np.ndarray) -> int:
    """Bit mask (a Python int) of the ``True`` rows of a boolean vector."""
    packed = np.packbits(selected.astype(np.uint8), bitorder="little")
    return int.from_bytes(packed.tobytes(), "little")


class _ScoreMasks:
    """Largest per-node score among a node set, by binary search over threshold masks."""

    def __init__(self, score: np.ndarray):
        self.top = int(score.max(initial=0))
        self.geq = [_as_mask(score >= k) for k in range(self.top + 1)] + [0]

    def max_over(self, nodes: int) -> int:
        """Largest score of a node in the non-empty bit mask ``nodes`` (0 if all score 0)."""
        geq = self.geq
        lo, hi = 0, self.top
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if geq[mid] & nodes:
                lo = mid
            else:
                hi = mid - 1
        return lo


def _path_type_counts(S: GraphStructure, proc_types: list[int]) -> np.ndarray:
    """Most nodes of each type on one path starting at each node, ``(V, len(proc_types))``.

    Nodes are processed level by level (a level: nodes whose longest path to a sink has the
    same number of edges), so each level is a few array operations over its outgoing edges.
    """
    succ_l, start_l = S.succ.tolist(), S.succ_start.tolist()
    level = [0] * S.num_nodes
    for v in reversed(S.topo.tolist()):
        level[v] = max((level[w] + 1 for w in succ_l[start_l[v] : start_l[v + 1]]), default=0)
    level_a = np.asarray(level, dtype=np.int64)
    onehot = (S.types[:, None] == np.asarray(proc_types, dtype=np.int64)[None, :]).astype(np.int64)
    counts = onehot.copy()
    edge_level = level_a[S.src]
    order = np.argsort(edge_level, kind="stable")
    bounds = np.searchsorted(edge_level[order], np.arange(int(level_a.max(initial=0)) + 2))
    for k in range(1, bounds.shape[0] - 1):
        edges = order[bounds[k] : bounds[k + 1]]
        if edges.size:
            rows, slot = np.unique(S.src[edges], return_inverse=True)
            below = np.zeros((rows.shape[0], counts.shape[1]), dtype=np.int64)
            np.maximum.at(below, slot, counts[S.dst[edges]])
            counts[rows] = below + onehot[rows]
    return counts


class RemainingStepsBound:
    r"""``max(longest remaining path, sum over types of the most nodes of that type on a path)``.

    Args:
        S: the checked graph.
        proc_types: the processor type ids present in the graph.
    """

    def __init__(self, S: GraphStructure, proc_types: list[int]):
        self.longest = _ScoreMasks(S.height)
        counts = _path_type_counts(S, proc_types)
        self.per_type = [_ScoreMasks(counts[:, i]) for i in range(len(proc_types))]

    def __call__(self, left: int) -> int:
        """Lower bound of the processor steps needed to render the node set ``left``.

        ``left`` must be closed under successors (what a partial schedule leaves).
        """
        if not left:
            return 0
        counted = sum(masks.max_over(left) for masks in self.per_type)
        return max(self.longest.max_over(left), counted)
