"""Render engine behaviour with known answers: sums, channels, dtypes, extras, gradients."""

from __future__ import annotations

import warnings

import pytest
import torch
from render_reference import (
    MIMO_CONFIG,
    PROCESSORS,
    Delay,
    Gain,
    Tagged,
    Widen,
    chain_types,
    make_tensor_graph,
    random_parameters,
    reference_render,
)
from torch import nn

from grafx import compat
from grafx.data.configs import NodeConfigs
from grafx.render import (
    ScheduleNotProvenWarning,
    compute_render_order,
    optimal_schedule,
    permute_parameters,
    prepare_render,
    render_grafx,
    render_grafx_with_buffer,
    reorder_for_fast_render,
)
from grafx.render.order import GraphStructure

SISO = NodeConfigs(["gain", "delay", "widen", "tagged"])
PROCS = {"gain": Gain(), "delay": Delay(), "widen": Widen(), "tagged": Tagged()}


def _signal(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _render(G_t, source, params, processors=PROCS, method="beam", **kwargs):
    G_fast = reorder_for_fast_render(G_t, method=method)
    params = permute_parameters(params, G_t, G_fast)
    return render_grafx(source, processors, params, prepare_render(G_fast), **kwargs)


def test_fan_in_sums_every_edge_including_parallel_ones():
    # in -> gain(g1) -> out, in -> gain(g2) -> out, and two parallel edges in -> out.
    G_t = make_tensor_graph(
        ["in", "gain", "gain", "out"], [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (0, 3)], SISO
    )
    x = _signal(1, 2, 32)
    params = {"gain": {"gain": torch.tensor([[0.25], [-1.5]], dtype=torch.float64)}}
    for method in ("greedy", "beam", "one-by-one", "optimal"):
        output, _ = _render(G_t, x, params, method=method)
        torch.testing.assert_close(output, (0.25 - 1.5 + 2) * x, rtol=1e-14, atol=1e-14)


def test_one_by_one_sums_every_input_of_an_out_node():
    # The reference's one-by-one kept only the first of three chains into out.
    G_t = make_tensor_graph(
        ["in", "in", "in", "delay", "delay", "delay", "out"],
        [(0, 3), (1, 4), (2, 5), (3, 6), (4, 6), (5, 6)],
        SISO,
    )
    x = _signal(3, 1, 16)
    output, _ = _render(G_t, x, {}, method="one-by-one")
    expected = torch.nn.functional.pad(x.sum(0, keepdim=True), (1, 0))[..., :-1]
    torch.testing.assert_close(output, expected, rtol=1e-14, atol=1e-14)


def test_mono_to_stereo_processor_changes_channels():
    # in -> widen(angle) -> out and in -> gain(g) -> out: the mono branch is broadcast.
    G_t = make_tensor_graph(["in", "widen", "gain", "out"], [(0, 1), (0, 2), (1, 3), (2, 3)], SISO)
    x = _signal(1, 1, 64)
    angle, g = 0.3, 0.7
    params = {
        "widen": {"angle": torch.tensor([[angle]], dtype=torch.float64)},
        "gain": {"gain": torch.tensor([[g]], dtype=torch.float64)},
    }
    output, _ = _render(G_t, x, params)
    c, s = (
        torch.cos(torch.tensor(angle, dtype=torch.float64)),
        torch.sin(torch.tensor(angle, dtype=torch.float64)),
    )
    expected = torch.cat([x * c + g * x, x * s + g * x], dim=1)
    assert output.shape == (1, 2, 64)
    torch.testing.assert_close(output, expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_sources_and_batched_sources_match(dtype):
    G_t = make_tensor_graph(chain_types(4), [(i, i + 1) for i in range(5)], SISO)
    params = random_parameters(G_t, {"gain": Gain()}, dtype=dtype)
    x = _signal(3, 1, 2, 32, dtype=dtype)
    output, _ = _render(G_t, x, params)
    assert output.dtype == dtype and output.shape == (3, 1, 2, 32)
    for b in range(3):
        single, _ = _render(G_t, x[b], params)
        torch.testing.assert_close(output[b], single)


def test_extras_are_collected_with_their_type_and_step():
    # in -> tagged -> gain -> tagged -> out (two tagged steps), plus a second chain.
    G_t = make_tensor_graph(
        ["in", "tagged", "gain", "tagged", "in", "tagged", "out"],
        [(0, 1), (1, 2), (2, 3), (3, 6), (4, 5), (5, 6)],
        SISO,
    )
    x = _signal(2, 1, 16)
    params = {"gain": {"gain": torch.tensor([[3.0]], dtype=torch.float64)}}
    output, intermediates = _render(G_t, x, params, method="optimal")
    assert intermediates.node_types == ["tagged", "tagged"]
    assert intermediates.steps == [1, 3]
    first, second = intermediates
    # The first tagged step holds both chains' first nodes, the second only one node.
    torch.testing.assert_close(first["energy"], (2 * x).pow(2).sum(dim=(-1, -2)))
    torch.testing.assert_close(second["energy"], (12 * x[:1]).pow(2).sum(dim=(-1, -2)))
    assert list(intermediates.by_type()) == ["tagged"]
    torch.testing.assert_close(output[0], 12 * x[0] + 2 * x[1])


def test_nested_parameter_containers_and_bare_tensors():
    class Nested(nn.Module):
        def forward(self, x, inner):
            return x * inner["a"].unsqueeze(-1) + inner["b"].unsqueeze(-1)

    class Bare(nn.Module):
        def forward(self, x, parameter):
            return x * parameter.unsqueeze(-1)

    config = NodeConfigs(["nested", "bare"])
    G_t = make_tensor_graph(["in", "nested", "bare", "out"], [(0, 1), (1, 2), (2, 3)], config)
    x = _signal(1, 2, 8)
    inner = nn.ParameterDict(
        {"a": nn.Parameter(torch.full((1, 1), 2.0)), "b": nn.Parameter(torch.full((1, 1), 0.5))}
    )
    params = {"nested": nn.ModuleDict({"inner": inner}), "bare": torch.full((1, 1), 3.0)}
    plan = prepare_render(reorder_for_fast_render(G_t))
    processors = nn.ModuleDict({"nested": Nested(), "bare": Bare()})
    output, _ = render_grafx(x.float(), processors, params, plan)
    torch.testing.assert_close(output, 3 * (2 * x.float() + 0.5))
    output.sum().backward()
    assert inner["a"].grad is not None and inner["b"].grad is not None


def test_gradients_reach_parameters_and_sources():
    G_t = make_tensor_graph(
        ["in", "in", "matrix", "gain", "out", "out"],
        [(0, 2, 0, 0), (1, 2, 0, 1), (2, 3, 0, 0), (3, 4), (2, 5, 1, 0), (0, 5)],
    )
    G_fast = reorder_for_fast_render(G_t)
    plan = prepare_render(G_fast)
    base = random_parameters(G_t, {"matrix": PROCESSORS["matrix"], "gain": Gain()})
    weight = base["matrix"]["weight"].clone().requires_grad_()
    gain = base["gain"]["gain"].clone().requires_grad_()
    x = _signal(2, 2, 12).requires_grad_()

    def run(x, weight, gain):
        params = permute_parameters(
            {"matrix": {"weight": weight}, "gain": {"gain": gain}}, G_t, G_fast
        )
        return render_grafx(x, PROCESSORS, params, plan)[0]

    assert torch.autograd.gradcheck(run, (x, weight, gain))
    output = run(x, weight, gain)
    expected, _ = reference_render(
        G_t, x, PROCESSORS, {"matrix": {"weight": weight}, "gain": {"gain": gain}}
    )
    torch.testing.assert_close(output, expected)
    frozen, _ = render_grafx(
        x,
        PROCESSORS,
        permute_parameters({"matrix": {"weight": weight}, "gain": {"gain": gain}}, G_t, G_fast),
        plan,
        input_signal_grad=False,
        parameters_grad=False,
    )
    assert not frozen.requires_grad


def test_common_parameters_are_read_per_node():
    class Offset(nn.Module):
        def forward(self, x, shift):
            return x + shift.unsqueeze(-1)

    config = NodeConfigs(["offset"])
    G_t = make_tensor_graph(["in", "offset", "offset", "out"], [(0, 1), (1, 2), (2, 3)], config)
    G_fast = reorder_for_fast_render(G_t)
    shift = torch.arange(4, dtype=torch.float64).reshape(4, 1)  # one row per node row
    x = _signal(1, 1, 4)
    output, _ = render_grafx(
        x, {"offset": Offset()}, {}, prepare_render(G_fast), common_parameters={"shift": shift}
    )
    rows = G_fast.node_types.tolist()
    offsets = [r for r, t in enumerate(rows) if config.node_types[t] == "offset"]
    torch.testing.assert_close(output, x + sum(offsets))


def test_call_forms_and_buffer():
    G_t = make_tensor_graph(["in", "gain", "out"], [(0, 1), (1, 2)], SISO)
    plan = prepare_render(reorder_for_fast_render(G_t))
    x = _signal(1, 2, 8)
    params = {"gain": {"gain": torch.tensor([[2.0]], dtype=torch.float64)}}
    documented = render_grafx(x, PROCS, params, plan)
    original_order = render_grafx(PROCS, x, params, plan)  # the same pair
    with_buffer = render_grafx_with_buffer(x, PROCS, params, plan)
    original = compat.render_grafx(PROCS, x, params, plan)
    keyword_form = compat.render_grafx(
        processors=PROCS, input_signals=x, per_type_parameters=params, render_data=plan
    )
    assert len(documented) == len(original_order) == 2
    assert len(with_buffer) == len(original) == len(keyword_form) == 3
    expected_buffer = torch.stack([x[0], 2 * x[0], 2 * x[0]])
    for buffer in (with_buffer[2], original[2], keyword_form[2]):
        torch.testing.assert_close(buffer, expected_buffer)
    for output in (original_order[0], with_buffer[0], original[0], keyword_form[0]):
        torch.testing.assert_close(documented[0], output)


def test_reorder_keeps_input_and_node_ids():
    G_t = make_tensor_graph(
        ["out", "gain", "in", "delay", "gain", "in"],
        [(2, 1), (1, 0), (5, 3), (3, 4), (4, 0)],
        SISO,
        node_ids=[40, 41, 42, 43, 44, 45],
    )
    before = (G_t.node_types.clone(), G_t.edge_indices.clone())
    G_fast = reorder_for_fast_render(G_t, method="beam")
    assert torch.equal(G_t.node_types, before[0]) and torch.equal(G_t.edge_indices, before[1])
    assert G_t.rendering_orders is None and G_t.type_sequence is None
    assert G_fast.type_sequence == [
        "in",
        "gain",
        "delay",
        "gain",
        "out",
    ] or G_fast.type_sequence == ["in", "delay", "gain", "out"]
    # in nodes first in their old order, out last; node ids follow their nodes.
    assert G_fast.node_ids[:2].tolist() == [42, 45] and G_fast.node_ids[-1].item() == 40
    assert sorted(G_fast.rendering_orders.tolist()) == G_fast.rendering_orders.tolist()
    # Parameters follow node identity: gain node 44 keeps its value.
    params = {"gain": {"gain": torch.tensor([[1.0], [4.0]])}}  # rows: node 41, node 44
    moved = permute_parameters(params, G_t, G_fast)["gain"]["gain"]
    gain_ids = G_fast.node_ids[G_fast.node_types == SISO.node_type_to_index["gain"]].tolist()
    assert {i: v.item() for i, v in zip(gain_ids, moved, strict=True)} == {41: 1.0, 44: 4.0}
    as_parameters = permute_parameters(
        nn.ParameterDict({"gain": nn.ParameterDict({"gain": nn.Parameter(torch.ones(2, 1))})}),
        G_t,
        G_fast,
    )
    assert isinstance(as_parameters, nn.ParameterDict)
    assert isinstance(as_parameters["gain"]["gain"], nn.Parameter)


def test_mimo_plan_prints_every_inlet():
    G_t = make_tensor_graph(
        ["in", "in", "matrix", "matrix", "out"],
        [
            (0, 2, 0, 0),
            (1, 2, 0, 1),
            (0, 3, 0, 0),
            (0, 3, 0, 1),
            (1, 3, 0, 1),
            (2, 4, 0, 0),
            (2, 4, 1, 0),
            (3, 4, 1, 0),
        ],
    )
    text = str(prepare_render(reorder_for_fast_render(G_t)))
    step = text.split("\n\n")[1]
    assert step == "\n".join(
        [
            "Render #1",
            "  - Node type: matrix",
            "  - Source reads:",
            "    * index with tensor([0, 0])",
            "    * index with tensor([1, 0, 1])",
            "  - Aggregations:",
            "    * none",
            "    * scatter with tensor([0, 1, 1])",
            "  - Parameter read: slice with (0, 2)",
            "  - Dest write: slice with (2, 6)",
        ]
    )
    assert text.split("\n\n")[2].endswith("Dest write: slice with (6, 7)")


def test_long_chain_schedules_without_a_step_cap():
    n = 2000
    G_t = make_tensor_graph(chain_types(n), [(i, i + 1) for i in range(n + 1)], SISO)
    # How long this takes is measured by benchmarks/bench_render_engine.py (chain2000).
    for method in ("greedy", "beam", "optimal", "one-by-one"):
        sequence, order = compute_render_order(G_t, method=method)
        assert len(sequence) == n + 2 and order.tolist() == list(range(n + 2))
    G_fast = reorder_for_fast_render(G_t)
    plan = prepare_render(G_fast)
    x = _signal(1, 1, 4)
    output, _ = render_grafx(x, PROCS, random_parameters(G_fast, {"gain": Gain()}), plan)
    assert output.shape == (1, 1, 4)


def test_optimal_reports_when_its_budget_stops_it():
    # Two chains with crossed types: the longest path gives a bound of 2 steps, the optimum is 3.
    G_t = make_tensor_graph(
        ["in", "gain", "delay", "in", "delay", "gain", "out"],
        [(0, 1), (1, 2), (2, 6), (3, 4), (4, 5), (5, 6)],
        MIMO_CONFIG,
    )
    S = GraphStructure(G_t)
    stopped = optimal_schedule(S, max_expansions=0)
    assert not stopped.proven and stopped.lower_bound == 4 and len(stopped.type_sequence) == 5
    proven = optimal_schedule(S)
    assert proven.proven and proven.lower_bound == 5
    with pytest.warns(ScheduleNotProvenWarning, match="proven minimum length 4"):
        compute_render_order(G_t, method="optimal", max_expansions=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_render_order(G_t, method="optimal")


def test_console_beam_equals_optimal():
    # 8 tracks of gain -> delay -> widen into 2 buses of gain -> delay, into out.
    types, edges = ["out"], []
    buses = []
    for _ in range(2):
        g = len(types)
        types += ["gain", "delay"]
        edges += [(g, g + 1), (g + 1, 0)]
        buses.append(g)
    for track in range(8):
        i = len(types)
        types += ["in", "gain", "delay", "widen"]
        edges += [(i, i + 1), (i + 1, i + 2), (i + 2, i + 3), (i + 3, buses[track % 2])]
    G_t = make_tensor_graph(types, edges, SISO)
    beam = compute_render_order(G_t, method="beam")[0]
    optimal = optimal_schedule(GraphStructure(G_t))
    assert optimal.proven
    assert beam == ["in", "gain", "delay", "widen", "gain", "delay", "out"]
    assert len(optimal.type_sequence) == len(beam)


def test_large_scatter_steps_sum_every_input():
    # Mix nodes fed by two of three sources (even ones also by source 2, a parallel edge when it
    # is already an input), into one out: a scatter over 20 nodes (index_add path), then over 3
    # nodes of long signals (large-tensor path). Gradients count the uses of each source.
    for num_mix, length in ((20, 8), (3, 2**16)):
        types = ["in", "in", "in", *["mix"] * num_mix, "out"]
        feeds = [[m % 3, (m + 1) % 3, *([2] if m % 2 == 0 else [])] for m in range(num_mix)]
        edges = [(s, 3 + m) for m in range(num_mix) for s in feeds[m]]
        edges += [(3 + m, 3 + num_mix) for m in range(num_mix)]
        G_t = make_tensor_graph(types, edges, SISO)
        x = _signal(3, 1, length).requires_grad_()
        plan = prepare_render(reorder_for_fast_render(G_t))
        assert str(plan).count("scatter") == 1
        output, _, buffer = render_grafx_with_buffer(x, {}, {}, plan)
        mixes = torch.stack([sum(x[s] for s in feeds[m]) for m in range(num_mix)])
        torch.testing.assert_close(buffer[3 : 3 + num_mix], mixes, rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(output[0], mixes.sum(0), rtol=1e-13, atol=1e-13)
        (grad,) = torch.autograd.grad(output.sum(), x)
        uses = torch.tensor([sum(f.count(s) for f in feeds) for s in range(3)])
        torch.testing.assert_close(grad, uses.to(grad).reshape(3, 1, 1).expand_as(grad))


def test_grafx_graphs_with_named_ports_render_like_the_reference():
    from grafx.data import GRAFX, convert_to_tensor

    G = GRAFX(config=MIMO_CONFIG)
    out_id = G.add("out")
    a, b = G.add("in"), G.add("in")
    matrix = G.add("matrix")
    gain = G.add("gain")
    G.connect(a, matrix, inlet="a")
    G.connect(b, matrix, inlet="b")
    G.connect(matrix, gain, outlet="y")
    G.connect(matrix, out_id, outlet="x")
    G.connect(gain, out_id)
    G.connect(matrix, out_id, outlet="y")
    G_t = convert_to_tensor(G)
    x = _signal(2, 2, 16)
    params = random_parameters(G_t, {"matrix": PROCESSORS["matrix"], "gain": Gain()})
    expected, _ = reference_render(G_t, x, PROCESSORS, params)
    output, _ = _render(G_t, x, params, processors=PROCESSORS)
    torch.testing.assert_close(output, expected, rtol=1e-13, atol=1e-13)
    # By hand: out = x_m + g * y_m + y_m with [x_m, y_m] = W [a, b].
    w, g = params["matrix"]["weight"][0], params["gain"]["gain"][0, 0]
    x_m, y_m = w[0, 0] * x[0] + w[0, 1] * x[1], w[1, 0] * x[0] + w[1, 1] * x[1]
    torch.testing.assert_close(output[0], x_m + (g + 1) * y_m, rtol=1e-13, atol=1e-13)
    # A GRAFX reorders to an annotated copy with the same ids; its tensor form renders too.
    G_sched = reorder_for_fast_render(G)
    assert sorted(G_sched.nodes) == sorted(G.nodes) and "rendering_order" not in G.nodes[gain]
    assert G_sched.nodes[out_id]["rendering_order"] == len(G_sched.type_sequence) - 1
    plan = prepare_render(convert_to_tensor(G_sched))
    output, _ = render_grafx(x, PROCESSORS, params, plan)
    torch.testing.assert_close(output, expected, rtol=1e-13, atol=1e-13)


def test_plans_travel_between_processes():
    # Data-loader workers send plans back pickled: a round trip renders the same audio.
    import pickle

    G_t = make_tensor_graph(
        ["in", "in", "gain", "delay", "out"], [(0, 2), (1, 2), (2, 3), (3, 4), (0, 4)], SISO
    )
    plan = prepare_render(reorder_for_fast_render(G_t))
    copy = pickle.loads(pickle.dumps(plan))
    assert str(copy) == str(plan)
    x = _signal(2, 2, 16)
    params = {"gain": {"gain": torch.tensor([[0.5]], dtype=torch.float64)}}
    torch.testing.assert_close(
        render_grafx(x, PROCS, params, copy)[0], render_grafx(x, PROCS, params, plan)[0]
    )


def test_reorder_batched_grafx_annotates_every_node():
    from grafx.data import GRAFX, NodeConfigs, batch_grafx
    from grafx.render import reorder_for_fast_render

    def small():
        G = GRAFX(config=NodeConfigs(["eq", "reverb"]))
        out = G.add("out")
        _, end = G.add_serial_chain(["in", "eq", "reverb"])
        G.connect(end, out)
        _, end = G.add_serial_chain(["in", "reverb"])
        G.connect(end, out)
        return G

    G = reorder_for_fast_render(batch_grafx([small(), small()]), method="beam")
    steps = {G.nodes[n]["node_type"]: set() for n in G.nodes}
    for n in G.nodes:
        steps[G.nodes[n]["node_type"]].add(G.nodes[n]["rendering_order"])
    # Both graphs share one schedule: in, eq, reverb, out (every node annotated, none overwritten).
    assert steps == {"in": {0}, "eq": {1}, "reverb": {2}, "out": {3}}
