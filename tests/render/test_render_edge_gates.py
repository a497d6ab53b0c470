"""Edge gates in the render engine: values against a reference, equivalences, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from render_reference import (
    MIMO_CONFIG,
    PROCESSORS,
    make_tensor_graph,
    random_parameters,
    reference_render,
)
from test_render_properties import SETTINGS, _all_methods, _sources, random_graphs

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.errors import GraphFileError, ParameterError
from grafx.gates import add_edge_gates, edge_gates, gate_l1, graph_edges, set_edge_gate
from grafx.render import (
    GraphRenderer,
    permute_parameters,
    prepare_render,
    render_grafx,
    reorder_for_fast_render,
)
from grafx.render.permute import edge_permutation

KEY = "edge_gate"


def _omega(num_edges: int, seed: int = 5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_edges, 1, generator=generator, dtype=torch.float64) * 2


def _render(G_t, x, params, method="beam", **kwargs):
    G_fast = reorder_for_fast_render(G_t, method=method, **kwargs)
    fast = permute_parameters(params, G_t, G_fast)
    return render_grafx(x, PROCESSORS, fast, prepare_render(G_fast))[0]


@SETTINGS
@given(G_t=random_graphs(), batch=st.sampled_from([None, 2]))
def test_every_method_scales_each_edge_like_the_reference(G_t, batch):
    # Stereo sources: with mono ones, whether a mono path is widened depends on the schedule
    # (documented; tests/render/test_render_properties.py checks that part).
    params = random_parameters(G_t, PROCESSORS)
    params[KEY] = _omega(G_t.num_edges)
    x = _sources(G_t, 2, batch)
    weights = torch.sigmoid(params[KEY]).reshape(-1)
    expected, _ = reference_render(G_t, x, PROCESSORS, params, edge_weights=weights)
    for method, kwargs in _all_methods(G_t):
        got = _render(G_t, x, params, method, **kwargs)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12, msg=method)


def _wide_fan_in(num_gains: int, fan: int):
    """``num_gains`` gains in one step, each summing ``fan`` sources, all into one out."""
    types = ["in"] * num_gains + ["gain"] * num_gains + ["out"]
    edges = []
    for g in range(num_gains):
        for k in range(fan):
            edges.append(((g + 3 * k) % num_gains, num_gains + g))
        edges.append((num_gains + g, 2 * num_gains))
    edges.append((0, 2 * num_gains))  # a source straight to the output
    return make_tensor_graph(types, edges, MIMO_CONFIG)


@pytest.mark.parametrize("num_gains", [3, 20])  # a matrix-product scatter, an index_add one
@pytest.mark.parametrize("batch", [None, 2])
def test_scatter_paths_scale_every_edge(num_gains, batch):
    G_t = _wide_fan_in(num_gains, fan=3)
    params = random_parameters(G_t, {"gain": PROCESSORS["gain"]})
    params[KEY] = _omega(G_t.num_edges)
    x = _sources(G_t, 2, batch)
    weights = torch.sigmoid(params[KEY]).reshape(-1)
    expected, _ = reference_render(G_t, x, PROCESSORS, params, edge_weights=weights)
    torch.testing.assert_close(_render(G_t, x, params), expected, rtol=1e-12, atol=1e-12)


def _console():
    from grafx.presets import build_mixing_console, console_parameters, console_processors

    chain = ["eq", "gain_pan", "imager"]
    G, sequence = build_mixing_console(3, num_buses=1, chain=chain)
    processors = console_processors(chain)
    parameters = console_parameters(G, processors, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    for value in parameters.values():  # away from the neutral settings
        for key, leaf in value.items():
            value[key] = leaf + 0.3 * torch.randn(leaf.shape, generator=generator, dtype=leaf.dtype)
    return G, sequence, processors, parameters


def test_a_gate_at_zero_renders_like_the_graph_without_that_edge():
    G, sequence, processors, parameters = _console()
    x = torch.randn(3, 2, 2048, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gated = add_edge_gates(parameters, G, mix=1.0)
    # a track into its bus sum (its destination has other inputs, so none dangles without it)
    source, dest, _, _ = next(e for e in graph_edges(G) if G.in_degree(e[1]) > 1)
    set_edge_gate(gated, G, source, dest, 0.0)
    got, _ = GraphRenderer(G, processors, sequence)(x, gated)

    H = G.copy()
    H.remove_edge(source, dest)
    expected, _ = GraphRenderer(H, processors, sequence)(x, parameters)
    assert torch.equal(got, expected)
    # and every gate at 1 is the ungated graph, bit for bit
    ones = add_edge_gates(parameters, G, mix=1.0)
    torch.testing.assert_close(
        GraphRenderer(G, processors, sequence)(x, ones)[0],
        GraphRenderer(G, processors, sequence)(x, parameters)[0],
        rtol=0,
        atol=0,
    )


def test_graph_edges_follow_the_tensor_graphs_edge_order():
    G, _, _, _ = _console()
    G_t = convert_to_tensor(G)
    ids = sorted(G.nodes)
    edges = graph_edges(G)
    assert len(edges) == G.number_of_edges() == G_t.num_edges
    for (s, d, _, _), (row_s, row_d) in zip(edges, G_t.edge_indices.T.tolist(), strict=True):
        assert (s, d) == (ids[row_s], ids[row_d])


def test_renderer_carries_edge_gates_through_its_reordering():
    G, sequence, processors, parameters = _console()
    x = torch.randn(3, 2, 1024, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    gated = add_edge_gates(parameters, G)
    gated[KEY] = _omega(G.number_of_edges())
    G_t = convert_to_tensor(G)
    reference, _ = render_grafx(x, processors, gated, prepare_render(G_t))  # no reordering
    got, _ = GraphRenderer(G, processors, sequence)(x, gated)
    torch.testing.assert_close(got, reference[0], rtol=1e-12, atol=1e-12)


def test_edge_permutation_matches_edges_by_ids_and_ports():
    G_t = make_tensor_graph(
        ["in", "in", "matrix", "out"],
        [(0, 2, 0, 0), (1, 2, 0, 1), (2, 3, 0, 0), (2, 3, 1, 0), (0, 3, 0, 0)],
    )
    G_fast = reorder_for_fast_render(G_t)
    perm = edge_permutation(G_t, G_fast)
    keys = [tuple(e) for e in torch.cat([G_t.edge_indices, G_t.edge_types]).T.tolist()]
    old_ids = G_fast.node_ids.tolist()
    fast = torch.cat([G_fast.edge_indices, G_fast.edge_types]).T.tolist()
    for e_fast, (s, d, o, i) in enumerate(fast):
        assert keys[int(perm[e_fast])] == (old_ids[s], old_ids[d], o, i)


def test_edge_gate_gradients_match_finite_differences():
    G_t = make_tensor_graph(
        ["in", "in", "gain", "matrix", "out"],
        [(0, 2), (1, 2), (2, 3, 0, 0), (0, 3, 0, 1), (3, 4, 0, 0), (3, 4, 1, 0), (1, 4)],
    )
    params = random_parameters(G_t, {"gain": PROCESSORS["gain"], "matrix": PROCESSORS["matrix"]})
    x = _sources(G_t, 2, None)
    plan = prepare_render(G_t)

    def render(omega, gain):
        return render_grafx(x, PROCESSORS, {**params, "gain": {"gain": gain}, KEY: omega}, plan)[0]

    omega = _omega(G_t.num_edges).requires_grad_()
    gain = params["gain"]["gain"].clone().requires_grad_()
    assert torch.autograd.gradcheck(render, (omega, gain))


def test_extreme_edge_gates_keep_finite_gradients():
    G_t = _wide_fan_in(3, fan=2)
    params = random_parameters(G_t, {"gain": PROCESSORS["gain"]})
    omega = torch.full((G_t.num_edges, 1), 40.0, dtype=torch.float64)
    omega[::2] = -40.0
    omega.requires_grad_()
    out = render_grafx(
        _sources(G_t, 2, None), PROCESSORS, {**params, KEY: omega}, prepare_render(G_t)
    )[0]
    out.square().sum().backward()
    assert bool(omega.grad.isfinite().all())


def test_float32_edge_gates_keep_the_sources_dtype():
    G_t = _wide_fan_in(3, fan=2)
    params = random_parameters(G_t, {"gain": PROCESSORS["gain"]}, dtype=torch.float32)
    params[KEY] = torch.zeros(G_t.num_edges, 1)
    x = _sources(G_t, 1, None).float()
    assert render_grafx(x, PROCESSORS, params, prepare_render(G_t))[0].dtype == torch.float32


def test_edge_gates_of_the_wrong_shape_are_refused_by_name():
    G_t = _wide_fan_in(3, fan=2)
    params = random_parameters(G_t, {"gain": PROCESSORS["gain"]})
    params[KEY] = torch.zeros(G_t.num_edges + 1, 1, dtype=torch.float64)
    with pytest.raises(ParameterError, match=rf"edge_gate.*\({G_t.num_edges}, 1\)"):
        render_grafx(_sources(G_t, 1, None), PROCESSORS, params, prepare_render(G_t))


def test_a_node_type_named_like_the_edge_gate_key_is_refused():
    G = GRAFX(config=NodeConfigs(["edge_gate"]))
    a, b, c = G.add("in"), G.add("edge_gate"), G.add("out")
    G.connect(a, b)
    G.connect(b, c)
    with pytest.raises(ParameterError, match="reserved"):
        add_edge_gates({}, G)
    # The engine refuses it too, before reading the type's parameters as gates.
    G_t = convert_to_tensor(G)
    with pytest.raises(ParameterError, match="node type named 'edge_gate', the reserved key"):
        render_grafx(
            torch.zeros(1, 1, 8),
            {"edge_gate": PROCESSORS["gain"]},
            {KEY: torch.zeros(2, 1)},
            prepare_render(G_t),
        )


def test_gate_helpers_set_read_and_penalise_edge_gates():
    G, _, _, parameters = _console()
    gated = add_edge_gates(parameters, G, mix=0.25)
    E = G.number_of_edges()
    torch.testing.assert_close(edge_gates(gated), torch.full((E,), 0.25, dtype=torch.float64))
    with_nodes = float(gate_l1(gated))
    torch.testing.assert_close(with_nodes - float(gate_l1(parameters)), 0.25 * E)
    s, d, _, _ = graph_edges(G)[0]
    set_edge_gate(gated, G, s, d, 1.0)
    assert float(edge_gates(gated)[0]) == 1.0
    with pytest.raises(Exception, match=f"no edge from node {d} to node {s}"):
        set_edge_gate(gated, G, d, s, 0.5)
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        set_edge_gate(gated, G, s, d, 1.5)
    with pytest.raises(ParameterError, match="no edge gates"):
        edge_gates(parameters)


def test_edge_gates_fit_and_round_trip_through_a_graph_file(tmp_path):
    from grafx.fit import fit_parameters
    from grafx.io import load_graph, save_graph

    G, sequence, processors, parameters = _console()
    x = torch.randn(3, 2, 4096, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    gated = add_edge_gates(parameters, G, mix=0.5)
    target = GraphRenderer(G, processors, sequence)(x, parameters)[0].detach()  # gates at 1
    result = fit_parameters(
        G, processors, gated, x, target, type_sequence=sequence, steps=30, lr=0.1, crop_len=None
    )
    assert float(edge_gates(result.parameters).mean()) > 0.5  # the paths open towards 1
    assert result.history[-1] < result.history[0]

    path = tmp_path / "gated.json"
    save_graph(G, path, parameters=result.parameters)
    G2, loaded = load_graph(path)
    torch.testing.assert_close(loaded[KEY], result.parameters[KEY], rtol=0, atol=0)
    torch.testing.assert_close(
        GraphRenderer(G2, processors, sequence)(x, loaded)[0],
        GraphRenderer(G, processors, sequence)(x, result.parameters)[0],
    )
    loaded[KEY] = loaded[KEY][1:]
    with pytest.raises((GraphFileError, ParameterError), match="edge gates"):
        save_graph(G, tmp_path / "bad.json", parameters=loaded)


def test_info_names_the_gates_a_file_holds(tmp_path):
    import contextlib
    import io

    from grafx.cli import main
    from grafx.io import save_graph

    G, _, processors, parameters = _console()
    save_graph(
        G, tmp_path / "G.json", parameters=add_edge_gates(parameters, G), processors=processors
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["info", str(tmp_path / "G.json")]) == 0
    lines = printed.getvalue().splitlines()
    assert "node gates (dry/wet): eq, gain_pan, imager" in lines
    assert f"edge gates: one per edge ({G.number_of_edges()})" in lines


def test_graph_batches_carry_edge_gates_graph_after_graph():
    # batch_grafx keeps each graph's edges in order, graph after graph, so the gates of a batch
    # are each graph's gates concatenated (what grafx fit-many --pack does with every tree).
    from grafx.data import batch_grafx
    from grafx.presets import build_mixing_console, console_parameters, console_processors
    from grafx.render.renderer import concat_rows

    chain = ["eq", "gain_pan"]
    processors = console_processors(chain)
    graphs, trees, sources, alone = [], [], [], []
    for k, tracks in enumerate((2, 3)):
        G, sequence = build_mixing_console(tracks, chain=chain)
        tree = add_edge_gates(console_parameters(G, processors, dtype=torch.float64), G)
        tree[KEY] = _omega(G.number_of_edges(), seed=k)
        x = torch.randn(
            tracks, 2, 1024, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + k)
        )
        graphs.append(G)
        trees.append(tree)
        sources.append(x)
        alone.append(GraphRenderer(G, processors, sequence)(x, tree)[0])
    G_t = convert_to_tensor(batch_grafx(graphs))
    G_fast = reorder_for_fast_render(G_t)
    fast = permute_parameters(concat_rows(trees), G_t, G_fast)
    together = render_grafx(torch.cat(sources), processors, fast, prepare_render(G_fast))[0]
    for expected, got in zip(alone, together.unbind(0), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
