r"""Exact shortest type sequence by best-first branch and bound (A\*).

The search starts from the best of beam schedules of growing width (an upper bound ``U``) and explores partial schedules
in order of :math:`f = g + h`, where :math:`g` is the number of steps taken and :math:`h` is an
admissible, consistent lower bound of the steps still needed (the longest remaining path, or the
sum over types of the most nodes of that type on one remaining path, whichever is larger: see
:mod:`grafx.render.order.bounds`). Partial schedules that render the same node set are merged (the step count
is all that matters about the past), and any with :math:`f \ge U` is pruned. Before the search, the
sub-alphabet bound of :mod:`grafx.render.order.projection` may raise the root's bound (it is
admissible for the whole graph, though not recomputed per partial schedule). When the queue runs
dry, ``U`` is proven optimal; when a budget runs out first, the best schedule found so far is
returned with ``proven=False``.
"""

from __future__ import annotations

import heapq
import time
import warnings
from dataclasses import dataclass

import numpy as np

from grafx.render.order.projection import partition_bound
from grafx.render.order.search import beam_schedule
from grafx.render.order.state import Expander
from grafx.render.order.structure import GraphStructure


class ScheduleNotProvenWarning(RuntimeWarning):
    """The ``optimal`` search stopped on its budget before proving its schedule shortest."""


@dataclass
class OptimalSchedule:
    """Result of :func:`optimal_schedule`.

    Attributes:
        type_sequence: type names per step, ``in`` first and ``out`` last.
        render_order: step of each node, ``(V,)``.
        proven: whether no shorter schedule exists.
        lower_bound: proven minimum sequence length (equals ``len(type_sequence)`` if proven).
        expansions: partial schedules expanded.
    """

    type_sequence: list[str]
    render_order: np.ndarray
    proven: bool
    lower_bound: int
    expansions: int


def optimal_schedule(
    S: GraphStructure,
    max_expansions: int = 200_000,
    time_limit: float | None = 10.0,
    width: int = 32,
) -> OptimalSchedule:
    """Shortest type sequence, proven when the budget allows.

    Args:
        S: the checked graph.
        max_expansions: stop after expanding this many partial schedules.
        time_limit: stop after this many seconds (``None``: no limit).
        width: beam width of the first upper bound; wider beams (up to 8x) follow while they
            cost under a quarter of ``time_limit`` and the bound is not met.

    Returns:
        An :class:`OptimalSchedule`.
    """
    return _search(S, max_expansions, time_limit, width, projections=True)


def _search(
    S: GraphStructure,
    max_expansions: int,
    time_limit: float | None,
    width: int,
    projections: bool,
) -> OptimalSchedule:
    started = time.perf_counter()
    expander = Expander(S)
    root = expander.initial()
    root_bound = expander.lower_bound(root)
    if projections:
        best_sequence, best_order = _widening_beam(S, width, root_bound, time_limit, started)
    else:  # a sub-alphabet problem: small, its own search finds better schedules cheaply
        best_sequence, best_order = beam_schedule(S, width=width)
    upper = len(best_sequence) - 2  # processor steps of the incumbent
    if root_bound < upper and projections:
        # Sub-alphabet bound (no projection of its own), on at most 30% of the time.
        def solve(projected: GraphStructure, seconds: float | None) -> int:
            result = _search(projected, max_expansions, seconds, width, projections=False)
            return result.lower_bound - 2

        budget = None if time_limit is None else 0.3 * time_limit
        root_bound = max(root_bound, partition_bound(S, expander.proc_types, solve, budget))
    if root_bound >= upper:
        return OptimalSchedule(best_sequence, best_order, True, upper + 2, 0)
    queue = [(root_bound, -root.num_done, 0, root)]
    best_g = {root.key(): 0}
    tie = 1
    expansions = 0
    proven_floor = root_bound
    stopped = False
    while queue:
        f, _, _, state = heapq.heappop(queue)
        if f >= upper:
            break  # every remaining candidate is at least as long as the incumbent
        proven_floor = max(proven_floor, f)
        if best_g.get(state.key(), -1) < state.num_steps:
            continue  # a shorter path to the same node set was found later
        expansions += 1
        if expansions > max_expansions or (
            time_limit is not None and time.perf_counter() - started > time_limit
        ):
            stopped = True
            break
        counts = expander.ready_types(state)
        for type_id in np.flatnonzero(counts).tolist():
            child = expander.expand(state, type_id)
            if expander.is_complete(child):
                if child.num_steps < upper:
                    upper = child.num_steps
                    best_sequence, best_order = expander.finish(child)
                continue
            key = child.key()
            if best_g.get(key, upper + 1) <= child.num_steps:
                continue
            child_f = child.num_steps + expander.lower_bound(child)
            if child_f >= upper:
                continue
            best_g[key] = child.num_steps
            heapq.heappush(queue, (child_f, -child.num_done, tie, child))
            tie += 1
    if stopped:
        return OptimalSchedule(best_sequence, best_order, False, proven_floor + 2, expansions)
    return OptimalSchedule(best_sequence, best_order, True, upper + 2, expansions)


def _widening_beam(
    S: GraphStructure, width: int, root_bound: int, time_limit: float | None, started: float
) -> tuple[list[str], np.ndarray]:
    """Beam schedules of width ``width``, ``2 width``, ... up to ``8 width``: the shortest.

    A better incumbent prunes more of the exact search. Widening stops once the schedule meets
    ``root_bound`` or the next beam (about twice the last one's time) would use more than a
    quarter of ``time_limit``.
    """
    best = beam_schedule(S, width=width)
    current = int(width)
    while len(best[0]) - 2 > root_bound and current < 8 * int(width):
        spent = time.perf_counter() - started
        if time_limit is not None and 2 * spent > 0.25 * time_limit:
            break  # the next beam takes about as long as all the beams so far
        current *= 2
        candidate = beam_schedule(S, width=current)
        if len(candidate[0]) < len(best[0]):
            best = candidate
    return best


def optimal_schedule_or_warn(S: GraphStructure, **kwargs) -> tuple[list[str], np.ndarray]:
    """:func:`optimal_schedule`, warning with :class:`ScheduleNotProvenWarning` if unproven."""
    result = optimal_schedule(S, **kwargs)
    if not result.proven:
        warnings.warn(
            f"optimal schedule search stopped after {result.expansions} expansions: returning "
            f"a sequence of length {len(result.type_sequence)}, proven minimum length "
            f"{result.lower_bound}; raise max_expansions or time_limit to prove it",
            ScheduleNotProvenWarning,
            stacklevel=3,
        )
    return result.type_sequence, result.render_order
