"""Property tests: every schedule and render path equals the one-node-at-a-time reference."""

from __future__ import annotations

import itertools
import warnings

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from render_reference import (
    MIMO_CONFIG,
    PROCESSORS,
    make_tensor_graph,
    random_parameters,
    reference_render,
    union,
)

from grafx import compat
from grafx.render import (
    compute_render_order,
    permute_parameters,
    permute_sources,
    prepare_render,
    render_grafx,
    reorder_for_fast_render,
)

PROC_TYPES = ["gain", "delay", "mix", "matrix", "widen"]
METHODS = [
    ("greedy", {}),
    ("beam", {}),
    ("beam", {"width": 2}),
    ("one-by-one", {}),
    ("optimal", {}),
]
# float64 sums of at most a few dozen terms: rounding stays far below 1e-12.
TOL = {"rtol": 1e-12, "atol": 1e-12}
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_graphs(draw, max_procs: int = 7):
    """Random DAGs: fan-in, fan-out, parallel edges, MIMO nodes, several outs, shuffled rows."""
    num_in = draw(st.integers(1, 3))
    num_proc = draw(st.integers(0, max_procs))
    num_out = draw(st.integers(1, 2))
    proc = draw(st.lists(st.sampled_from(PROC_TYPES), min_size=num_proc, max_size=num_proc))
    types = ["in"] * num_in + proc + ["out"] * num_out
    edges = []
    first_out = num_in + num_proc
    for j in range(num_in, len(types)):
        num_inlets = MIMO_CONFIG.num_inlets[types[j]]
        for k in range(num_inlets):
            for _ in range(draw(st.integers(1, 3 if j >= first_out else 2))):
                s = draw(st.integers(0, min(j, first_out) - 1))
                o = draw(st.integers(0, MIMO_CONFIG.num_outlets[types[s]] - 1))
                edges.append((s, j, o, k))
    perm = draw(st.permutations(range(len(types))))  # new row of each created node
    shuffled = [None] * len(types)
    for old, new in enumerate(perm):
        shuffled[new] = types[old]
    edges = [(perm[s], perm[d], o, i) for s, d, o, i in edges]
    node_ids = [3 * old + 7 for old in sorted(range(len(types)), key=lambda v: perm[v])]
    return make_tensor_graph(shuffled, edges, node_ids=node_ids)


def _sources(G_t, channels: int, batch: int | None, seed: int = 1):
    num_in = int((G_t.node_types == 0).sum())
    shape = (num_in, channels, 16) if batch is None else (batch, num_in, channels, 16)
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _fixed_kwargs(G_t):
    num_proc = int((G_t.node_types > 1).sum())
    return {"fixed_order": ["in", *PROC_TYPES * max(num_proc, 1), "out"]}


def _all_methods(G_t):
    return [*METHODS, ("fixed", _fixed_kwargs(G_t))]


@SETTINGS
@given(G_t=random_graphs(), channels=st.sampled_from([1, 2]), batch=st.sampled_from([None, 2]))
def test_every_method_matches_reference(G_t, channels, batch):
    _check_every_method(G_t, channels, batch)


def test_mono_path_kept_mono_by_one_method_and_widened_by_another():
    # Found by hypothesis: greedy batches the mono gain -> out path with a stereo widen node
    # (dual mono, documented), one-by-one keeps it mono; each is compared with its own form.
    types = ["in"] * 3 + ["gain", "widen", "gain", "gain", "gain", "gain", "gain", "out"]
    edges = [(0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (4, 9), (3, 10)]
    _check_every_method(make_tensor_graph(types, edges), channels=1, batch=None)


def _check_every_method(G_t, channels, batch):
    source = _sources(G_t, channels, batch)
    params = random_parameters(G_t, PROCESSORS)
    expected, _ = reference_render(G_t, source, PROCESSORS, params)
    for method, kwargs in _all_methods(G_t):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # optimal must be proven on these small graphs
            G_fast = reorder_for_fast_render(G_t, method=method, **kwargs)
        params_fast = permute_parameters(params, G_t, G_fast)
        source_fast = permute_sources(source, G_t, G_fast)
        torch.testing.assert_close(source_fast, source, rtol=0, atol=0)
        output, _ = render_grafx(source_fast, PROCESSORS, params_fast, prepare_render(G_fast))
        assert output.dtype == torch.float64
        want = expected
        if output.shape[-2] == 2 and expected.shape[-2] == 1:
            # Documented: a mono path batched in one step with a stereo one comes out dual mono.
            # Widened per method: another method may keep the same path mono.
            want = expected.expand_as(output)
        torch.testing.assert_close(output, want, **TOL, msg=f"method {method}")


@SETTINGS
@given(G_t=random_graphs(), batch=st.sampled_from([None, 3]))
def test_unreordered_plan_and_buffer_match_reference(G_t, batch):
    source = _sources(G_t, 2, batch)
    params = random_parameters(G_t, PROCESSORS)
    expected, signals = reference_render(G_t, source, PROCESSORS, params)
    sequence, order = compute_render_order(G_t, method="greedy")
    G_sched = G_t.copy(rendering_orders=order, type_sequence=sequence)
    render_data = prepare_render(G_sched)
    output, _, buffer = compat.render_grafx(PROCESSORS, source, params, render_data)
    torch.testing.assert_close(output, expected, **TOL)
    # Buffer rows: one per outlet, node by node (an out node's row is its summed input).
    row = 0
    names = G_t.config.node_types
    for v, t in enumerate(G_t.node_types.tolist()):
        for o in range(max(G_t.config.num_outlets[names[t]], 1 if names[t] == "out" else 0)):
            got = buffer[..., row, :, :]
            if names[t] == "out":
                want = expected[..., sorted_out_rows(G_t).index(v), :, :]
            else:
                want = signals[(v, o)]
                want = want if batch is not None else want[0]
                want = want.expand_as(got)
            torch.testing.assert_close(got, want, **TOL)
            row += 1
    assert row == buffer.shape[-3]


def sorted_out_rows(G_t):
    return [v for v, t in enumerate(G_t.node_types.tolist()) if t == 1]


@SETTINGS
@given(graphs=st.lists(random_graphs(max_procs=5), min_size=2, max_size=3))
def test_graph_batch_renders_like_each_graph(graphs):
    G_batch = union(graphs)
    sources = [_sources(G, 2, None, seed=i) for i, G in enumerate(graphs)]
    params_each = [random_parameters(G, PROCESSORS, seed=i) for i, G in enumerate(graphs)]
    params = {
        t: {k: torch.cat([p[t][k] for p in params_each]) for k in params_each[0][t]}
        for t in PROCESSORS
    }
    expected = torch.cat(
        [
            reference_render(G, s, PROCESSORS, p)[0]
            for G, s, p in zip(graphs, sources, params_each, strict=True)
        ]
    )
    G_fast = reorder_for_fast_render(G_batch, method="beam")
    output, _ = render_grafx(
        torch.cat(sources),
        PROCESSORS,
        permute_parameters(params, G_batch, G_fast),
        prepare_render(G_fast),
    )
    torch.testing.assert_close(output, expected, **TOL)


def _check_schedule(G_t, sequence, order):
    types = [G_t.config.node_types[t] for t in G_t.node_types.tolist()]
    order = order.tolist()
    assert sequence[0] == "in" and sequence[-1] == "out"
    assert "in" not in sequence[1:] and "out" not in sequence[:-1]
    # Partition into non-empty, homogeneous steps.
    assert sorted(set(order)) == list(range(len(sequence)))
    assert all(sequence[order[v]] == types[v] for v in range(len(types)))
    # Causal: every edge goes to a later step.
    src, dst = G_t.edge_indices.tolist()
    assert all(order[s] < order[d] for s, d in zip(src, dst, strict=True))


def brute_force_length(G_t) -> int:
    """Shortest schedule by breadth-first search over every type choice (maximal steps)."""
    types = G_t.node_types.tolist()
    src, dst = G_t.edge_indices.tolist()
    preds = {v: {s for s, d in zip(src, dst, strict=True) if d == v} for v in range(len(types))}
    start = frozenset(v for v, t in enumerate(types) if t in (0, 1))
    goal = len(types)
    level, seen, depth = {start}, {start}, 0
    while True:
        if any(len(s) == goal for s in level):
            return depth + 2
        nxt = set()
        for done in level:
            ready = [v for v in range(goal) if v not in done and preds[v] <= done]
            for t in {types[v] for v in ready}:
                child = done | {v for v in ready if types[v] == t}
                if child not in seen:
                    seen.add(child)
                    nxt.add(child)
        level, depth = nxt, depth + 1


@SETTINGS
@given(G_t=random_graphs(max_procs=8))
def test_schedules_are_valid_and_ordered_by_length(G_t):
    lengths = {}
    for method, kwargs in _all_methods(G_t):
        sequence, order = compute_render_order(G_t, method=method, **kwargs)
        _check_schedule(G_t, sequence, order)
        lengths[method] = len(sequence)
    assert lengths["optimal"] <= lengths["beam"] <= lengths["greedy"]
    assert lengths["optimal"] == brute_force_length(G_t)
    assert lengths["one-by-one"] == G_t.num_nodes - int((G_t.node_types <= 1).sum()) + 2


def test_brute_force_helper_on_a_known_graph():
    # in -> gain -> delay -> out and in -> delay -> gain -> out: three steps at best.
    G_t = make_tensor_graph(
        ["in", "gain", "delay", "in", "delay", "gain", "out"],
        [(0, 1), (1, 2), (2, 6), (3, 4), (4, 5), (5, 6)],
    )
    assert brute_force_length(G_t) == 5
    for method in ("beam", "optimal"):
        assert compute_render_order(G_t, method=method)[0] in (
            ["in", "gain", "delay", "gain", "out"],
            ["in", "delay", "gain", "delay", "out"],
        )
    assert list(itertools.islice(compute_render_order(G_t, method="one-by-one")[0], 0, 1)) == ["in"]
