"""The ``optimal`` scheduler: its lower bound never overshoots, and its proofs are true."""

from __future__ import annotations

import numpy as np
import pytest
from render_reference import make_tensor_graph

from grafx.data.configs import NodeConfigs
from grafx.render.order import GraphStructure, compute_render_order, optimal_schedule
from grafx.render.order.projection import partition_bound, project
from grafx.render.order.state import Expander

CONFIG = NodeConfigs(["a", "b", "c", "d"])


def random_dag(seed: int, num_proc: int, num_types: int = 3):
    """Seeded random DAG: 1-2 sources, processors with 1-2 earlier inputs, one ``out``."""
    rng = np.random.default_rng(seed)
    num_in = int(rng.integers(1, 3))
    names = ["a", "b", "c", "d"][:num_types]
    types = ["in"] * num_in + [names[int(rng.integers(num_types))] for _ in range(num_proc)]
    edges, has_child = [], set()
    for j in range(num_in, len(types)):
        for s in set(rng.integers(0, j, size=int(rng.integers(1, 3))).tolist()):
            edges.append((s, j))
            has_child.add(s)
    out = len(types)
    edges += [(v, out) for v in range(out) if v not in has_child]
    return make_tensor_graph([*types, "out"], edges, config=CONFIG)


def exact_remaining(expander: Expander, state, memo: dict) -> int:
    """Fewest processor steps that finish ``state``: exhaustive search over every type choice."""
    if expander.is_complete(state):
        return 0
    if state.done not in memo:
        counts = expander.ready_types(state)
        memo[state.done] = 1 + min(
            exact_remaining(expander, expander.expand(state, t), memo)
            for t in np.flatnonzero(counts).tolist()
        )
    return memo[state.done]


def reachable_states(expander: Expander) -> list:
    frontier, seen = [expander.initial()], {}
    while frontier:
        state = frontier.pop()
        if state.done in seen:
            continue
        seen[state.done] = state
        for t in np.flatnonzero(expander.ready_types(state)).tolist():
            frontier.append(expander.expand(state, t))
    return list(seen.values())


def check_schedule(G_t, sequence, order):
    names = [G_t.config.node_types[t] for t in G_t.node_types.tolist()]
    order = order.tolist()
    assert sorted(set(order)) == list(range(len(sequence)))
    assert all(sequence[order[v]] == names[v] for v in range(len(names)))
    src, dst = G_t.edge_indices.tolist()
    assert all(order[s] < order[d] for s, d in zip(src, dst, strict=True))


def test_type_count_bound_beats_the_longest_path():
    # in -> a -> a -> a -> out and in -> b -> b -> b -> out: the longest path has 3 processors,
    # but any schedule needs three `a` steps and three `b` steps.
    G_t = make_tensor_graph(
        ["in", "a", "a", "a", "in", "b", "b", "b", "out"],
        [(0, 1), (1, 2), (2, 3), (3, 8), (4, 5), (5, 6), (6, 7), (7, 8)],
        config=CONFIG,
    )
    expander = Expander(GraphStructure(G_t))
    assert expander.lower_bound(expander.initial()) == 6
    result = optimal_schedule(GraphStructure(G_t))
    assert result.proven and result.expansions == 0  # the beam meets the bound at once
    assert len(result.type_sequence) == 8


def test_crossing_paths_need_a_proof_by_search():
    # Paths a -> b and b -> a: the bound says 2 steps, but 3 are needed (a b a or b a b).
    G_t = make_tensor_graph(
        ["in", "a", "b", "in", "b", "a", "out"],
        [(0, 1), (1, 2), (2, 6), (3, 4), (4, 5), (5, 6)],
        config=CONFIG,
    )
    S = GraphStructure(G_t)
    expander = Expander(S)
    assert expander.lower_bound(expander.initial()) == 2
    result = optimal_schedule(S)
    assert result.proven and result.lower_bound == 5
    assert result.type_sequence in (["in", "a", "b", "a", "out"], ["in", "b", "a", "b", "out"])


@pytest.mark.parametrize("seed", range(25))
def test_bound_never_exceeds_the_true_optimum_at_any_reachable_state(seed):
    G_t = random_dag(seed, num_proc=9, num_types=3 + seed % 2)
    expander = Expander(GraphStructure(G_t))
    memo: dict = {}
    for state in reachable_states(expander):
        assert expander.lower_bound(state) <= exact_remaining(expander, state, memo)


@pytest.mark.parametrize("seed", range(25))
def test_optimal_is_proven_and_equals_exhaustive_search(seed):
    G_t = random_dag(100 + seed, num_proc=10, num_types=3 + seed % 2)
    S = GraphStructure(G_t)
    expander = Expander(S)
    exact = exact_remaining(expander, expander.initial(), {}) + 2
    result = optimal_schedule(S)
    assert result.proven
    assert len(result.type_sequence) == result.lower_bound == exact
    check_schedule(G_t, result.type_sequence, result.render_order)
    beam, order = compute_render_order(G_t, method="beam")
    check_schedule(G_t, beam, order)
    assert len(beam) >= exact


@pytest.mark.parametrize("seed", range(10))
def test_a_stopped_search_reports_a_true_lower_bound(seed):
    G_t = random_dag(200 + seed, num_proc=12, num_types=4)
    S = GraphStructure(G_t)
    expander = Expander(S)
    exact = exact_remaining(expander, expander.initial(), {}) + 2
    beam_length = len(compute_render_order(G_t, method="beam")[0])
    for budget in (0, 1, 3):
        result = optimal_schedule(S, max_expansions=budget)
        assert result.lower_bound <= exact <= len(result.type_sequence) <= beam_length
        assert result.proven == (len(result.type_sequence) == result.lower_bound)
        check_schedule(G_t, result.type_sequence, result.render_order)


def test_projection_joins_kept_nodes_through_dropped_ones():
    # in -> a -> c -> b -> out seen through {a, b}: in -> t0 -> t1 -> out.
    G_t = make_tensor_graph(
        ["in", "a", "c", "b", "out"], [(0, 1), (1, 2), (2, 3), (3, 4)], config=CONFIG
    )
    S = GraphStructure(G_t)
    ids = CONFIG.node_type_to_index
    P = project(S, (ids["a"], ids["b"]))
    assert [P.type_name(t) for t in P.types.tolist()] == ["in", "t0", "t1", "out"]
    assert sorted(zip(P.src.tolist(), P.dst.tolist(), strict=True)) == [(0, 1), (1, 2), (2, 3)]
    assert project(S, (ids["d"],)) is None


def test_partition_bound_counts_each_block_of_types():
    # Crossing paths a -> b and b -> a, plus c -> d and d -> c: blocks {a, b} and {c, d} need
    # 3 steps each, so 6 in all, where the type-count bound says 4.
    G_t = make_tensor_graph(
        ["in", "a", "b", "b", "a", "c", "d", "d", "c", "out"],
        [(0, 1), (1, 2), (0, 3), (3, 4), (0, 5), (5, 6), (0, 7), (7, 8)]
        + [(v, 9) for v in (2, 4, 6, 8)],
        config=CONFIG,
    )
    S = GraphStructure(G_t)
    expander = Expander(S)
    assert expander.lower_bound(expander.initial()) == 4

    def solve(projected, seconds):
        inner = Expander(projected)
        return exact_remaining(inner, inner.initial(), {})

    assert partition_bound(S, expander.proc_types, solve, None, block_size=2) == 6
    assert exact_remaining(expander, expander.initial(), {}) == 6
    result = optimal_schedule(S)
    assert result.proven and len(result.type_sequence) == 8


@pytest.mark.parametrize("seed", range(15))
def test_partition_bound_never_exceeds_the_true_optimum(seed):
    G_t = random_dag(300 + seed, num_proc=11, num_types=4)
    S = GraphStructure(G_t)
    expander = Expander(S)

    def solve(projected, seconds):
        inner = Expander(projected)
        return exact_remaining(inner, inner.initial(), {})

    bound = partition_bound(S, expander.proc_types, solve, None)
    assert expander.lower_bound(expander.initial()) <= bound  # singletons: the type counts
    assert bound <= exact_remaining(expander, expander.initial(), {})
