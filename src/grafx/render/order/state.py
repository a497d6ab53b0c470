r"""Partial schedules: which nodes are rendered, which are ready, and how far from the end.

A schedule is built step by step. Each step picks one node type and renders *all* nodes of that
type whose inputs are ready (the maximal subset), so a schedule is fully described by its type
sequence. ``in`` nodes are rendered before the first step and ``out`` nodes after the last one.

Node sets are Python integers used as bit masks (bit ``v`` is node row ``v``): a union, a test
or a hash costs a few machine words per 64 nodes, and a step only looks at the successors of
the nodes it renders, so search cost follows the graph's changes rather than its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grafx.render.order.bounds import RemainingStepsBound
from grafx.render.order.structure import GraphStructure


@dataclass
class State:
    """A partial schedule.

    Attributes:
        done: bit mask of rendered nodes (``in`` and ``out`` count as rendered).
        ready: bit mask of nodes whose inputs are all rendered and that are not yet rendered.
        num_steps: processor steps taken so far.
        history: ``(parent_history, type_id, rendered_mask)`` linked list of steps, or ``None``.
    """

    done: int
    ready: int
    num_steps: int
    history: Any

    def key(self) -> int:
        return self.done

    @property
    def num_done(self) -> int:
        return self.done.bit_count()


def _mask(rows: np.ndarray) -> int:
    value = 0
    for v in rows.tolist():
        value |= 1 << v
    return value


def _bits(mask: int) -> list[int]:
    rows = []
    while mask:
        low = mask & -mask
        rows.append(low.bit_length() - 1)
        mask ^= low
    return rows


class Expander:
    """Builds and expands :class:`State` objects for one :class:`GraphStructure`."""

    def __init__(self, S: GraphStructure):
        self.S = S
        V = S.num_nodes
        self.num_types = len(S.config)
        self.full = (1 << V) - 1
        types = S.types
        self.type_masks = [_mask(np.flatnonzero(types == t)) for t in range(self.num_types)]
        self.proc_types = [
            t
            for t in range(self.num_types)
            if t not in (S.in_type, S.out_type) and self.type_masks[t]
        ]
        succ: list[list[int]] = [[] for _ in range(V)]
        pred_mask = [0] * V
        for s, d in zip(S.src.tolist(), S.dst.tolist(), strict=True):
            succ[s].append(d)
            pred_mask[d] |= 1 << s
        self.succ = [sorted(set(x)) for x in succ]
        self.pred_mask = pred_mask
        self.bound = RemainingStepsBound(S, self.proc_types)

    def initial(self) -> State:
        S = self.S
        done = self.type_masks[S.in_type] | self.type_masks[S.out_type]
        # Nodes of types without inlets need nothing; others wait for their predecessors.
        ready = 0
        for v in range(S.num_nodes):
            if not (done >> v) & 1 and self.pred_mask[v] == 0:
                ready |= 1 << v
        for v in _bits(self.type_masks[S.in_type]):
            for w in self.succ[v]:
                if self.pred_mask[w] & ~done == 0 and not (done >> w) & 1:
                    ready |= 1 << w
        return State(done=done, ready=ready, num_steps=0, history=None)

    def ready_types(self, state: State) -> np.ndarray:
        """Ready node count per type id, ``(T,)``."""
        counts = np.zeros(self.num_types, dtype=np.int64)
        ready = state.ready
        for t in self.proc_types:
            counts[t] = (ready & self.type_masks[t]).bit_count()
        return counts

    def expand(self, state: State, type_id: int) -> State:
        """Render every ready node of ``type_id``: one step."""
        chosen = state.ready & self.type_masks[type_id]
        done = state.done | chosen
        new_ready = state.ready & ~chosen
        pred_mask = self.pred_mask
        for v in _bits(chosen):
            for w in self.succ[v]:
                if not (done >> w) & 1 and pred_mask[w] & ~done == 0:
                    new_ready |= 1 << w
        return State(done, new_ready, state.num_steps + 1, (state.history, int(type_id), chosen))

    def is_complete(self, state: State) -> bool:
        return state.done == self.full

    def lower_bound(self, state: State) -> int:
        """Steps still needed at least (see :class:`~grafx.render.order.bounds.RemainingStepsBound`)."""
        return self.bound(self.full & ~state.done)

    def finish(self, state: State) -> tuple[list[str], np.ndarray]:
        """Type sequence (names, ``in`` first, ``out`` last) and the step of each node."""
        S = self.S
        steps = []
        history = state.history
        while history is not None:
            history, type_id, chosen = history
            steps.append((type_id, chosen))
        steps.reverse()
        order = np.zeros(S.num_nodes, dtype=np.int64)
        sequence = ["in"]
        for i, (type_id, chosen) in enumerate(steps, start=1):
            order[_bits(chosen)] = i
            sequence.append(S.type_name(type_id))
        order[S.types == S.out_type] = len(steps) + 1
        sequence.append("out")
        return sequence, order
