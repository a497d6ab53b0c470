"""Bad graphs, schedules, sources, processors and parameters give clear grafx errors."""

from __future__ import annotations

import pytest
import torch
from render_reference import PROCESSORS, Gain, make_tensor_graph, random_parameters

from grafx.data.configs import NodeConfigs
from grafx.errors import GraphError, ParameterError, RenderError
from grafx.render import (
    compute_render_order,
    permute_parameters,
    prepare_render,
    render_grafx,
    reorder_for_fast_render,
)

SISO = NodeConfigs(["gain", "delay"])


def chain():
    return make_tensor_graph(["in", "gain", "delay", "out"], [(0, 1), (1, 2), (2, 3)], SISO)


def test_missing_in_or_out_is_named():
    with pytest.raises(GraphError, match="no 'in' node"):
        compute_render_order(make_tensor_graph(["gain", "out"], [(0, 1)], SISO))
    with pytest.raises(GraphError, match="no 'out' node"):
        compute_render_order(make_tensor_graph(["in", "gain"], [(0, 1)], SISO))


def test_cycle_names_a_node_on_it():
    G_t = make_tensor_graph(
        ["in", "gain", "delay", "gain", "out"],
        [(0, 1), (1, 2), (2, 3), (3, 2), (3, 4)],
        SISO,
        node_ids=[10, 11, 12, 13, 14],
    )
    with pytest.raises(GraphError, match=r"cycle through node 1[23] \('(gain|delay)'\)"):
        compute_render_order(G_t)


def test_dangling_node_is_named():
    # Node 12 (a gain) has no input: the reference fed it another node's signal.
    G_t = make_tensor_graph(
        ["in", "gain", "gain", "out"], [(0, 1), (1, 3), (2, 3)], SISO, node_ids=[10, 11, 12, 13]
    )
    with pytest.raises(GraphError, match=r"node 12 \('gain'\) has no input"):
        compute_render_order(G_t)
    with pytest.raises(GraphError, match=r"node 12 \('gain'\) has no input"):
        prepare_render(G_t)


def test_unconnected_mimo_inlet_is_named():
    G_t = make_tensor_graph(["in", "matrix", "out"], [(0, 1, 0, 0), (1, 2, 0, 0)])
    with pytest.raises(GraphError, match=r"node 1 \('matrix'\): inlet 'b' is not connected"):
        compute_render_order(G_t)


def test_bad_edges_are_named():
    with pytest.raises(GraphError, match="enters an 'in' node"):
        compute_render_order(make_tensor_graph(["in", "in", "out"], [(0, 1), (1, 2)], SISO))
    with pytest.raises(GraphError, match="leaves an 'out' node"):
        compute_render_order(
            make_tensor_graph(["in", "out", "gain", "out"], [(0, 1), (1, 2), (2, 3)], SISO)
        )
    with pytest.raises(GraphError, match="uses an outlet"):
        compute_render_order(make_tensor_graph(["in", "gain", "out"], [(0, 1, 1, 0), (1, 2)]))
    with pytest.raises(GraphError, match="outside"):
        compute_render_order(make_tensor_graph(["in", "out"], [(0, 5)], SISO))


def test_unknown_method_and_keywords():
    with pytest.raises(RenderError, match="invalid rendering method: 'fastest'"):
        compute_render_order(chain(), method="fastest")
    with pytest.raises(RenderError, match=r"takes no keyword \['width'\]"):
        compute_render_order(chain(), method="greedy", width=3)
    with pytest.raises(RenderError, match="width must be at least 1"):
        compute_render_order(chain(), method="beam", width=0)


def test_fixed_sequence_that_cannot_cover_the_graph():
    with pytest.raises(RenderError, match=r"cannot cover the graph: 1 node\(s\) left"):
        compute_render_order(chain(), method="fixed", fixed_order=["in", "gain", "out"])
    with pytest.raises(RenderError, match="unknown node type 'eq'"):
        compute_render_order(chain(), method="fixed", fixed_order=["eq"])
    with pytest.raises(RenderError, match="needs fixed_order"):
        compute_render_order(chain(), method="fixed")
    # Names and integer ids both work; in/out entries anywhere are ignored.
    ids = [SISO.node_type_to_index[t] for t in ("gain", "delay")]
    assert compute_render_order(chain(), method="fixed", fixed_order=ids)[0] == [
        "in",
        "gain",
        "delay",
        "out",
    ]
    assert compute_render_order(chain(), method="fixed", fixed_order=["gain", "in", "delay"])[0][
        1:3
    ] == ["gain", "delay"]


def _plan():
    G_t = reorder_for_fast_render(chain())
    return G_t, prepare_render(G_t)


def test_source_count_and_rank():
    G_t, plan = _plan()
    params = random_parameters(G_t, {"gain": Gain()})
    with pytest.raises(RenderError, match=r"2 signals .* 1 'in' node"):
        render_grafx(
            torch.zeros(2, 1, 8), {"gain": Gain(), "delay": PROCESSORS["delay"]}, params, plan
        )
    with pytest.raises(RenderError, match=r"shape \(1, 8\); expected \(K, C, L\)"):
        render_grafx(
            torch.zeros(1, 8), {"gain": Gain(), "delay": PROCESSORS["delay"]}, params, plan
        )


def test_missing_processor_is_named():
    G_t, plan = _plan()
    params = random_parameters(G_t, {"gain": Gain()})
    with pytest.raises(RenderError, match="no processor for node type 'delay'"):
        render_grafx(torch.zeros(1, 1, 8), {"gain": Gain()}, params, plan)


def test_parameter_first_dimension_names_type_and_key():
    G_t, plan = _plan()
    processors = {"gain": Gain(), "delay": PROCESSORS["delay"]}
    bad = {"gain": {"gain": torch.ones(2, 1)}}
    with pytest.raises(ParameterError, match=r"parameter 'gain' of type 'gain' .* 1$"):
        render_grafx(torch.zeros(1, 1, 8), processors, bad, plan)
    nested = {"gain": {"inner": {"gain": torch.ones(3, 1)}}}
    with pytest.raises(ParameterError, match="'inner/gain' of type 'gain'"):
        render_grafx(torch.zeros(1, 1, 8), processors, nested, plan)
    with pytest.raises(ParameterError, match="unknown node type 'eq'"):
        render_grafx(torch.zeros(1, 1, 8), processors, {"eq": {"g": torch.ones(1)}}, plan)
    with pytest.raises(ParameterError, match="first dimension"):
        permute_parameters(bad, G_t, G_t)


def test_plan_used_with_a_different_graph():
    G_t, plan = _plan()
    other = make_tensor_graph(["in", "delay", "gain", "out"], [(0, 1), (1, 2), (2, 3)], SISO)
    processors = {"gain": Gain(), "delay": PROCESSORS["delay"]}
    params = random_parameters(G_t, {"gain": Gain()})
    with pytest.raises(RenderError, match="prepared for a different graph"):
        render_grafx(torch.zeros(1, 1, 8), processors, params, plan, graph=other)
    render_grafx(torch.zeros(1, 1, 8), processors, params, plan, graph=G_t)
    two_inputs = make_tensor_graph(["in", "in", "out"], [(0, 2), (1, 2)], SISO)
    sources_for_two = torch.zeros(2, 1, 8)
    render_grafx(sources_for_two, processors, {}, prepare_render(two_inputs))
    with pytest.raises(RenderError, match="prepared for a graph with 1 'in' node"):
        render_grafx(sources_for_two, processors, {}, plan)


def test_wrong_render_order_on_the_graph():
    G_t = chain()
    with pytest.raises(RenderError, match="renders before its input"):
        prepare_render(
            G_t.copy(
                rendering_orders=torch.tensor([0, 2, 1, 3]),
                type_sequence=["in", "delay", "gain", "out"],
            )
        )
    with pytest.raises(RenderError, match=r"node 1 \('gain'\) is in a 'delay' step"):
        prepare_render(
            G_t.copy(
                rendering_orders=torch.tensor([0, 1, 2, 3]),
                type_sequence=["in", "delay", "gain", "out"],
            )
        )


def test_processor_with_wrong_outlet_count():
    class OneOut(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    G_t = make_tensor_graph(
        ["in", "matrix", "out"], [(0, 1, 0, 0), (0, 1, 0, 1), (1, 2, 0, 0), (1, 2, 1, 0)]
    )
    plan = prepare_render(reorder_for_fast_render(G_t))
    with pytest.raises(RenderError, match=r"'matrix' processor returned 1 signal\(s\) for 2"):
        render_grafx(torch.zeros(1, 1, 8), {"matrix": OneOut()}, {}, plan)


def test_bad_render_data_and_unknown_keyword():
    G_t, plan = _plan()
    processors = {"gain": Gain(), "delay": PROCESSORS["delay"]}
    with pytest.raises(RenderError, match="must come from prepare_render"):
        render_grafx(torch.zeros(1, 1, 8), processors, {}, "plan")
    with pytest.raises(TypeError, match="speed"):
        render_grafx(torch.zeros(1, 1, 8), processors, {}, plan, speed=2)  # type: ignore[call-arg]
