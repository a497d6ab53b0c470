r"""Type scheduling by search: ``greedy``, ``beam``, ``fixed`` and ``one-by-one``.

All methods share the step semantics of the documentation: step 0 renders every ``in`` node,
each further step renders *every* ready node of one type, and the last step renders every
``out`` node. No method has an iteration cap: a serial chain of thousands of nodes schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grafx.errors import GraphError, RenderError
from grafx.render.order.state import Expander, State
from grafx.render.order.structure import GraphStructure


def _pick_counts(expander: Expander, state: State) -> np.ndarray:
    counts = expander.ready_types(state)
    if not counts.any():
        left = expander.full & ~state.done
        row = (left & -left).bit_length() - 1
        raise GraphError(f"{expander.S.describe(row)} can never be rendered")
    return counts


def greedy_schedule(S: GraphStructure) -> tuple[list[str], np.ndarray]:
    """Each step renders the type with the most ready nodes (ties: lowest type id)."""
    return _greedy(Expander(S))


def _greedy(expander: Expander) -> tuple[list[str], np.ndarray]:
    state = expander.initial()
    while not expander.is_complete(state):
        counts = _pick_counts(expander, state)
        state = expander.expand(state, int(np.argmax(counts)))
    return expander.finish(state)


def beam_schedule(
    S: GraphStructure, width: int = 32, depth: int = 1
) -> tuple[list[str], np.ndarray]:
    r"""Beam search over type sequences, keeping the ``width`` most promising partial schedules.

    Candidates are ranked by an admissible lower bound of the steps still needed (the longest
    remaining path, or the sum over types of the most nodes of that type on one remaining path,
    whichever is larger; see :mod:`grafx.render.order.bounds`), then by the number of
    rendered nodes; identical partial schedules are merged. The greedy schedule is computed
    first: when it already meets the lower bound it is optimal and returned at once; otherwise
    the shorter of the two is returned, so ``beam`` is never longer than ``greedy``.

    Args:
        S: the checked graph.
        width: number of candidates kept per step (the reference's ``width``; default 32).
        depth: accepted for compatibility with the reference, whose lookahead it controlled;
            the lower-bound ranking replaces the lookahead, so it is not used.

    Returns:
        Type sequence (names) and the step of each node, ``(V,)``.
    """
    if int(width) < 1:
        raise RenderError(f"beam width must be at least 1, got {width}")
    if int(depth) < 1:
        raise RenderError(f"beam depth must be at least 1, got {depth}")
    expander = Expander(S)
    greedy_sequence, greedy_order = _greedy(expander)
    frontier = [expander.initial()]
    if len(greedy_sequence) - 2 <= expander.lower_bound(frontier[0]):
        return greedy_sequence, greedy_order  # greedy meets the lower bound: it is optimal
    while not any(expander.is_complete(s) for s in frontier):
        seen: set[int] = set()
        ranked: list[tuple[tuple[int, int, int], State]] = []
        for state in frontier:
            counts = _pick_counts(expander, state)
            for type_id in np.flatnonzero(counts).tolist():
                child = expander.expand(state, type_id)
                key = child.key()
                if key in seen:
                    continue
                seen.add(key)
                rank = (expander.lower_bound(child), -child.num_done, len(ranked))
                ranked.append((rank, child))
        ranked.sort(key=lambda item: item[0])
        frontier = [child for _, child in ranked[: int(width)]]
    best = next(s for s in frontier if expander.is_complete(s))
    sequence, order = expander.finish(best)
    if len(greedy_sequence) < len(sequence):
        return greedy_sequence, greedy_order
    return sequence, order


def fixed_schedule(S: GraphStructure, fixed_order: Sequence | None) -> tuple[list[str], np.ndarray]:
    r"""Follow a given type super-sequence, skipping types with no ready node when reached.

    A pointer walks ``fixed_order``; each step advances it to the next type that has ready
    nodes and renders all of them. A type that has no ready node when the pointer passes is
    skipped for good, as in the reference. ``in`` and ``out`` entries are ignored wherever they
    appear (the reference silently ignored entry 0, whatever it was).

    Args:
        S: the checked graph.
        fixed_order: type names or integer type ids.

    Raises:
        RenderError: an unknown type, or a sequence that runs out while nodes are left; the
            message names a node that was never rendered.
    """
    if fixed_order is None:
        raise RenderError("method 'fixed' needs fixed_order, a sequence of node types")
    ids = []
    for item in list(fixed_order):
        if hasattr(item, "item"):
            item = item.item()
        if isinstance(item, str):
            if item not in S.config:
                raise RenderError(
                    f"fixed_order: unknown node type {item!r}; the config allows "
                    f"{S.config.node_types}"
                )
            type_id = S.config.node_type_to_index[item]
        elif isinstance(item, (int, np.integer)) and 0 <= int(item) < len(S.config):
            type_id = int(item)
        else:
            raise RenderError(f"fixed_order: {item!r} is not a node type name or id")
        if type_id not in (S.in_type, S.out_type):
            ids.append(type_id)
    expander = Expander(S)
    state = expander.initial()
    pointer = 0
    while not expander.is_complete(state):
        counts = _pick_counts(expander, state)
        while pointer < len(ids) and counts[ids[pointer]] == 0:
            pointer += 1
        if pointer == len(ids):
            left = expander.full & ~state.done
            row = (left & -left).bit_length() - 1
            raise RenderError(
                f"fixed_order {list(fixed_order)} cannot cover the graph: {left.bit_count()} "
                f"node(s) left, e.g. {S.describe(row)}"
            )
        state = expander.expand(state, ids[pointer])
        pointer += 1
    return expander.finish(state)


def one_by_one_schedule(S: GraphStructure) -> tuple[list[str], np.ndarray]:
    """One processor node per step, in the greedy order (rows ascending within a greedy step).

    ``in`` nodes share step 0 and ``out`` nodes share the last step.
    """
    sequence, order = greedy_schedule(S)
    last = len(sequence) - 1
    proc = np.flatnonzero((order > 0) & (order < last))
    proc = proc[np.lexsort((proc, order[proc]))]
    new_order = np.zeros_like(order)
    new_order[proc] = np.arange(1, proc.size + 1)
    new_order[order == last] = proc.size + 1
    new_sequence = ["in", *(S.type_name(S.types[v]) for v in proc), "out"]
    return new_sequence, new_order
