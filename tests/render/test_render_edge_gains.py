"""Edge gains: a linear gain per edge, on the graph (``GRAFX.connect(..., gain=)``) or given to
``render_grafx(..., edge_gains=)``; values against the one-node-at-a-time reference, through
reordering, conversion, files and pruning, gradients and errors."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from render_reference import PROCESSORS, random_parameters, reference_render
from test_render_properties import SETTINGS, _all_methods, _sources, random_graphs
from torch import nn

from grafx.data import GRAFX, NodeConfigs, convert_to_graph, convert_to_tensor
from grafx.errors import GraphError, GraphFileError, NotSupportedError, ParameterError
from grafx.io import load_graph, save_graph
from grafx.prune import remove_nodes
from grafx.render import (
    GraphRenderer,
    permute_parameters,
    prepare_render,
    render_grafx,
    reorder_for_fast_render,
)
from grafx.render.prepare import graph_fingerprint


class Ident(nn.Module):
    def parameter_size(self):
        return {}

    def forward(self, x):
        return x * 1.0


class Split(nn.Module):
    def parameter_size(self):
        return {}

    def forward(self, x):
        return [x * 1.0, x * -1.0]


class Merge(nn.Module):
    def parameter_size(self):
        return {}

    def forward(self, a, b):
        return a + 10.0 * b


IDENT = {"ident": Ident()}


def _two_branches(g1=None, g2=None) -> GRAFX:
    """in -> ident -> mix and in -> ident -> mix (gains g1, g2 into the mix), mix -> out."""
    G = GRAFX(config=NodeConfigs(["ident"]))
    source, a, b, mix, out = (G.add(t) for t in ("in", "ident", "ident", "mix", "out"))
    G.connect(source, a)
    G.connect(source, b)
    G.connect(a, mix, gain=g1)
    G.connect(b, mix, gain=g2)
    G.connect(mix, out)
    return G


def _plan(G):
    G_t = reorder_for_fast_render(convert_to_tensor(G))
    return G_t, prepare_render(G_t)


def _x(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_static_gains_weight_the_sum():
    G_t, plan = _plan(_two_branches(2.0, -3.0))
    x = _x(1, 2, 64)
    y, _ = render_grafx(x, IDENT, {}, plan)
    torch.testing.assert_close(y, (2.0 - 3.0) * x, rtol=1e-15, atol=0)
    assert G_t.edge_gains.dtype == torch.float64 and sorted(G_t.edge_gains.tolist()) == [
        -3.0,
        1.0,
        1.0,
        1.0,
        2.0,
    ]


def test_no_gains_change_nothing():
    G = _two_branches()
    G_t, plan = _plan(G)
    assert G_t.edge_gains is None and plan.edge_gains is None
    assert "edge_gains" not in str(G_t) and "gain" not in str(G)
    x = _x(1, 2, 64)
    torch.testing.assert_close(render_grafx(x, IDENT, {}, plan)[0], 2 * x, rtol=0, atol=0)
    # the plan's fingerprint only changes when gains are there
    assert graph_fingerprint(G_t) != graph_fingerprint(_plan(_two_branches(2.0))[0])


def test_given_gains_replace_the_graphs_and_get_gradients():
    G_t, plan = _plan(_two_branches(2.0, 3.0))
    x = _x(1, 2, 64)
    into_mix = (G_t.edge_indices[1] == 3).nonzero().flatten()  # row 3 is the mix
    gains = torch.ones(G_t.num_edges, dtype=torch.float64)
    gains[into_mix] = torch.tensor([5.0, 0.5], dtype=torch.float64)
    y, _ = render_grafx(x, IDENT, {}, plan, edge_gains=gains)
    torch.testing.assert_close(y, 5.5 * x, rtol=1e-15, atol=0)
    assert torch.autograd.gradcheck(
        lambda g: render_grafx(x, IDENT, {}, plan, edge_gains=g)[0],
        (gains.clone().requires_grad_(True),),
    )


def test_gains_reach_the_right_inlet_of_a_mimo_node():
    config = NodeConfigs(
        {
            "split": {"inlets": ["main"], "outlets": ["low", "high"]},
            "merge": {"inlets": ["a", "b"], "outlets": ["main"]},
        }
    )
    G = GRAFX(config=config)
    source, split, merge, out = (G.add(t) for t in ("in", "split", "merge", "out"))
    G.connect(source, split)
    G.connect(split, merge, outlet="low", inlet="a", gain=2.0)
    G.connect(split, merge, outlet="high", inlet="b", gain=5.0)
    G.connect(merge, out)
    _, plan = _plan(G)
    x = _x(1, 2, 32)
    y, _ = render_grafx(x, {"split": Split(), "merge": Merge()}, {}, plan)
    torch.testing.assert_close(y, (2.0 * 1 + 10.0 * 5.0 * -1) * x, rtol=1e-15, atol=0)


@SETTINGS
@given(G_t=random_graphs(), batch=st.sampled_from([None, 2]), seed=st.integers(0, 99))
def test_every_method_scales_each_edge_like_the_reference(G_t, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    gains = torch.randn(G_t.num_edges, generator=generator, dtype=torch.float64) * 2
    G_t.edge_gains = gains  # on the graph: each method's reordering must carry them
    params = random_parameters(G_t, PROCESSORS)
    x = _sources(G_t, 2, batch)
    expected, _ = reference_render(G_t, x, PROCESSORS, params, edge_weights=gains)
    for method, kwargs in _all_methods(G_t):
        G_fast = reorder_for_fast_render(G_t, method=method, **kwargs)
        fast = permute_parameters(params, G_t, G_fast)
        got, _ = render_grafx(x, PROCESSORS, fast, prepare_render(G_fast))
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12, msg=method)


def test_a_batch_of_sources_shares_the_gains():
    _, plan = _plan(_two_branches(2.0, 3.0))
    x = _x(3, 1, 2, 32)
    y, _ = render_grafx(x, IDENT, {}, plan)
    assert y.shape == (3, 1, 2, 32)
    torch.testing.assert_close(y, 5.0 * x, rtol=1e-15, atol=0)


def test_bad_gains_are_refused():
    G_t, plan = _plan(_two_branches())
    E = G_t.num_edges
    with pytest.raises(NotSupportedError, match="per batch row") as caught:
        render_grafx(_x(4, 1, 2, 16), IDENT, {}, plan, edge_gains=torch.ones(4, E))
    assert isinstance(caught.value, NotImplementedError)
    with pytest.raises(ParameterError, match=rf"expected \({E},\)"):
        render_grafx(_x(1, 2, 16), IDENT, {}, plan, edge_gains=torch.ones(E + 1))
    with pytest.raises(ParameterError, match="NaN"):
        render_grafx(_x(1, 2, 16), IDENT, {}, plan, edge_gains=torch.full((E,), float("nan")))
    G = GRAFX(config=NodeConfigs(["ident"]))
    a, b = G.add("in"), G.add("out")
    for bad in (float("inf"), "loud", True, torch.ones(2)):
        with pytest.raises(GraphError, match="gain must be a finite number"):
            G.connect(a, b, gain=bad)
    assert G.number_of_edges() == 0
    G.connect(a, b, gain=torch.tensor(0.5))
    assert G.edges[a, b, 0]["gain"] == 0.5


def test_gains_survive_conversion_and_graph_files(tmp_path):
    G = _two_branches(2.0, -0.25)
    G_t = reorder_for_fast_render(convert_to_tensor(G))
    back = convert_to_graph(G_t)
    gains = {(u, v): d["gain"] for u, v, d in back.edges(data=True)}
    assert gains == {(0, 1): 1.0, (0, 2): 1.0, (1, 3): 2.0, (2, 3): -0.25, (3, 4): 1.0}

    save_graph(G, tmp_path / "g.json")
    loaded, _ = load_graph(tmp_path / "g.json")
    assert {(u, v): d.get("gain") for u, v, d in loaded.edges(data=True)} == {
        (u, v): d.get("gain") for u, v, d in G.edges(data=True)
    }
    x = _x(1, 2, 32)
    torch.testing.assert_close(
        render_grafx(x, IDENT, {}, _plan(loaded)[1])[0], 1.75 * x, rtol=1e-15, atol=0
    )
    document = json.loads((tmp_path / "g.json").read_text())
    document["edges"][2]["gain"] = "loud"
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(GraphFileError, match=r"edges\[2\].*gain"):
        load_graph(tmp_path / "bad.json")


def test_removing_a_node_multiplies_the_gains_it_joins():
    # in -(0.5)-> ident -(3)-> mix -> out and in -> mix: removing the identity keeps the render.
    G = GRAFX(config=NodeConfigs(["ident"]))
    source, a, mix, out = (G.add(t) for t in ("in", "ident", "mix", "out"))
    G.connect(source, a, gain=0.5)
    G.connect(a, mix, gain=3.0)
    G.connect(source, mix)
    G.connect(mix, out)
    H, _ = remove_nodes(G, {}, [a])
    assert sorted((u, v, d.get("gain", 1.0)) for u, v, d in H.edges(data=True)) == [
        (0, 2, 1.0),
        (0, 2, 1.5),
        (2, 3, 1.0),
    ]
    assert sum("gain" in d for _, _, d in H.edges(data=True)) == 1
    x = _x(1, 2, 32)
    full, _ = GraphRenderer(G, IDENT)(x, {})
    pruned, _ = GraphRenderer(H, IDENT)(x, {})
    torch.testing.assert_close(full, 2.5 * x[0], rtol=1e-15, atol=0)
    torch.testing.assert_close(pruned, full, rtol=1e-15, atol=0)
