r"""Partial schedules: which nodes are rendered, which are ready, and how far from the end.

A schedule is built step by step. Each step picks one node type and renders *all* nodes of that
type whose inputs are ready (the maximal subset), so a schedule is fully described by its type
sequence. ``in`` nodes are rendered before the first step and ``out`` nodes after the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grafx.render.order.structure import GraphStructure


@dataclass
class State:
    """A partial schedule.

    Attributes:
        done: rendered nodes (``in`` and ``out`` count as rendered), ``(V,)`` bool.
        need: incoming edges whose source is not rendered yet, per node, ``(V,)``.
        num_steps: processor steps taken so far.
        history: ``(parent_history, type_id, rows)`` linked list of the steps, or ``None``.
    """

    done: np.ndarray
    need: np.ndarray
    num_steps: int
    history: Any

    def key(self) -> bytes:
        return np.packbits(self.done).tobytes()

    @property
    def num_done(self) -> int:
        return int(self.done.sum())


class Expander:
    """Builds and expands :class:`State` objects for one :class:`GraphStructure`."""

    def __init__(self, S: GraphStructure):
        self.S = S
        self.types = S.types
        self.is_proc = (S.types != S.in_type) & (S.types != S.out_type)
        self.num_types = len(S.config)

    def initial(self) -> State:
        S = self.S
        done = ~self.is_proc
        from_done = done[S.src] & (S.types[S.src] == S.in_type)
        need = np.bincount(S.dst[~from_done], minlength=S.num_nodes)
        return State(done=done.copy(), need=need, num_steps=0, history=None)

    def ready(self, state: State) -> np.ndarray:
        """Boolean mask of nodes that can be rendered now, ``(V,)``."""
        return ~state.done & (state.need == 0)

    def ready_types(self, state: State) -> np.ndarray:
        """Type ids with at least one ready node, and their ready counts, ``(T,)`` each."""
        counts = np.bincount(self.types[self.ready(state)], minlength=self.num_types)
        return counts

    def expand(self, state: State, type_id: int, ready: np.ndarray | None = None) -> State:
        """Render every ready node of ``type_id``: one step."""
        S = self.S
        if ready is None:
            ready = self.ready(state)
        chosen = ready & (self.types == type_id)
        rows = np.flatnonzero(chosen)
        done = state.done | chosen
        fed = chosen[S.src]
        need = state.need - np.bincount(S.dst[fed], minlength=S.num_nodes)
        return State(done, need, state.num_steps + 1, (state.history, int(type_id), rows))

    def is_complete(self, state: State) -> bool:
        return bool(state.done.all())

    def lower_bound(self, state: State) -> int:
        """Steps still needed at least: the longest remaining path, or the remaining types."""
        left = ~state.done
        if not left.any():
            return 0
        longest = int(self.S.height[left].max())
        distinct = int(np.count_nonzero(np.bincount(self.types[left], minlength=self.num_types)))
        return max(longest, distinct)

    def finish(self, state: State) -> tuple[list[str], np.ndarray]:
        """Type sequence (names, ``in`` first, ``out`` last) and the step of each node."""
        S = self.S
        steps = []
        history = state.history
        while history is not None:
            history, type_id, rows = history
            steps.append((type_id, rows))
        steps.reverse()
        order = np.zeros(S.num_nodes, dtype=np.int64)
        sequence = ["in"]
        for i, (type_id, rows) in enumerate(steps, start=1):
            order[rows] = i
            sequence.append(S.type_name(type_id))
        order[S.types == S.out_type] = len(steps) + 1
        sequence.append("out")
        return sequence, order
