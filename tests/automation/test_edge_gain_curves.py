"""Edge gains as curves: ``render_grafx(..., edge_gains=(E, K), timeline=)`` per sample,
bit-identity of flat curves, crops, gradients, errors, and rows interpolated per read."""

import numpy as np
import pytest
import torch

import grafx.render.edges as edges_module
from grafx.automation import Timeline, automate_parameters
from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.errors import NotSupportedError, ParameterError
from grafx.fit import GraphRenderer
from grafx.gates import EDGE_GATE_KEY, add_edge_gates, graph_edges
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render import prepare_render, render_grafx
from grafx.render.reorder import reorder_for_fast_render

SR = 1000
CHAIN = ("eq", "gain_pan", "reverb")


def _console(num_buses, gates):
    """A console's processors, plan and parameters in the plan's row order (and, with
    ``gates``, static edge gates at random levels)."""
    torch.manual_seed(0)
    G, sequence = build_mixing_console(num_tracks=4, num_buses=num_buses, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=SR)
    params = console_parameters(G, processors, SR)
    if gates:
        params = add_edge_gates(params, G)
        with torch.no_grad():
            params[EDGE_GATE_KEY].copy_(torch.randn_like(params[EDGE_GATE_KEY]) * 2)
    renderer = GraphRenderer(G, processors, sequence)
    return renderer, processors, renderer._permute(params)


@pytest.mark.parametrize("num_buses", [0, 2])  # 2 buses: scatter fan-ins (a matrix product)
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("gates", ["none", "static", "curves"])
@pytest.mark.parametrize("grad", [False, True])
def test_a_flat_gain_curve_renders_bit_for_bit_like_static_gains(num_buses, batched, gates, grad):
    renderer, processors, params = _console(num_buses, gates != "none")
    plan = renderer.render_data
    timeline = Timeline.uniform(1.5, 0.5, SR)
    if gates == "curves":
        params = automate_parameters(params, processors, [EDGE_GATE_KEY], timeline)
    count = plan.num_edges
    gains = torch.rand(count, generator=torch.Generator().manual_seed(1)) * 2
    curves = gains[:, None].expand(count, timeline.num_knots).clone().requires_grad_(grad)
    sources = torch.randn((3, 4, 2, 1500) if batched else (4, 2, 1500)) * 0.3
    with torch.set_grad_enabled(grad):
        static, _ = render_grafx(
            sources, processors, params, plan, edge_gains=gains, timeline=timeline
        )
        moving, _ = render_grafx(
            sources, processors, params, plan, edge_gains=curves, timeline=timeline
        )
    assert torch.equal(static, moving)
    assert moving.requires_grad == grad


def _fan_in(num_inputs=3):
    """``num_inputs`` in nodes summed into out: edge e carries source e (edge order = rows)."""
    G = GRAFX(config=NodeConfigs([]))
    out = G.add("out")
    for _ in range(num_inputs):
        G.connect(G.add("in"), out)
    return G, prepare_render(reorder_for_fast_render(convert_to_tensor(G)))


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_a_moving_gain_curve_scales_each_sample_and_a_crop_sees_its_segment(method):
    G, plan = _fan_in()
    length, knots = 800, (0.0, 0.2, 0.5, 0.8)
    timeline = Timeline(knots, SR, method=method)
    rng = np.random.default_rng(2)
    gains = rng.uniform(-1.0, 2.0, (3, 4))
    omega = rng.standard_normal((3, 1)) * 2  # static edge gates multiply the curves
    sources = torch.from_numpy(rng.standard_normal((3, 1, length)))
    curves = torch.from_numpy(gains)
    parameters = {EDGE_GATE_KEY: torch.from_numpy(omega)}
    output, _ = render_grafx(sources, {}, parameters, plan, edge_gains=curves, timeline=timeline)
    times = np.arange(length) / SR
    expected = np.zeros(length)
    for row, (source, _, _, _) in enumerate(graph_edges(G)):  # in nodes are ids 1..3
        if method == "linear":
            level = np.interp(times, knots, gains[row])
        else:
            from scipy.interpolate import PchipInterpolator

            level = PchipInterpolator(knots, gains[row])(np.clip(times, 0, knots[-1]))
        w = 1 / (1 + np.exp(-omega[row, 0]))
        expected += w * level * sources[source - 1, 0].numpy()
    np.testing.assert_allclose(output[0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)
    # a crop sees its own stretch of the curves: the whole render, sliced
    cropped, _ = render_grafx(
        sources[..., 300:500],
        {},
        parameters,
        plan,
        edge_gains=curves,
        timeline=timeline.crop(300),
    )
    torch.testing.assert_close(cropped, output[..., 300:500], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("gate_curves", [False, True])
def test_gain_curves_pass_gradcheck(gate_curves):
    _, plan = _fan_in(2)
    timeline = Timeline((0.0, 0.01, 0.03), SR, method="cubic")
    generator = torch.Generator().manual_seed(3)
    sources = torch.randn(2, 1, 32, dtype=torch.float64, generator=generator)
    gains = torch.randn(2, 3, dtype=torch.float64, generator=generator).requires_grad_()
    shape = (2, 1, 3) if gate_curves else (2, 1)
    omega = torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_()

    def render(g, w):
        parameters = {EDGE_GATE_KEY: w}
        return render_grafx(sources, {}, parameters, plan, edge_gains=g, timeline=timeline)[0]

    assert torch.autograd.gradcheck(render, (gains, omega))


def test_bad_gain_curves_get_clear_errors():
    _, plan = _fan_in(2)
    sources = torch.randn(2, 1, 50)
    timeline = Timeline((0.0, 0.02, 0.04), SR)

    def render(gains, timeline=timeline):
        return render_grafx(sources, {}, {}, plan, edge_gains=gains, timeline=timeline)

    with pytest.raises(ParameterError, match=r"shape \(2, 3\) are curves .* no timeline"):
        render(torch.ones(2, 3), None)
    with pytest.raises(ParameterError, match="curves have 4 values per edge .* 3 knots"):
        render(torch.ones(2, 4))
    bad = torch.ones(2, 3)
    bad[1, 2] = float("nan")
    with pytest.raises(ParameterError, match=r"curves of edge\(s\) \[1\] hold NaN"):
        render(bad)
    with pytest.raises(ParameterError, match=r"shape \(3, 3\); expected \(2,\).* curves \(2, K\)"):
        render(torch.ones(3, 3))
    with pytest.raises(NotSupportedError, match="per batch row"):
        render(torch.ones(3, 2))


def test_only_the_read_edges_are_interpolated_and_flat_reads_not_at_all(monkeypatch):
    renderer, processors, params = _console(2, gates=False)
    plan = renderer.render_data
    timeline = Timeline.uniform(1.0, 0.25, SR)
    count = plan.num_edges
    curves = torch.ones(count, timeline.num_knots)
    bus_edges = [e for e in range(count) if e % 3 == 0]  # some edges move, others stay flat
    curves[bus_edges] = torch.linspace(0.5, 1.5, timeline.num_knots)
    rows = []
    original = edges_module.interpolate_edge_rows

    def spy(values, *args, **kwargs):
        rows.append(values.shape[0])
        return original(values, *args, **kwargs)

    monkeypatch.setattr(edges_module, "interpolate_edge_rows", spy)
    sources = torch.randn(4, 2, 1000) * 0.3
    with torch.no_grad():
        render_grafx(sources, processors, params, plan, edge_gains=curves, timeline=timeline)
    reads = [r for step in plan.steps[1:] for r in step.reads]
    moving = [
        len(edges)
        for r in reads
        for edges in (r.edges, r.extra.edges if r.extra is not None else None)
        if edges is not None and len(edges) and any(int(e) in bus_edges for e in edges)
    ]
    assert sorted(rows) == sorted(moving)  # one call per read of a moving edge, its rows only
    assert max(rows) < count


@pytest.mark.parametrize("num_buses", [1, 2])
def test_flat_reads_beside_moving_ones_render_like_the_per_sample_path(num_buses):
    # One edge moves at a time: a fan-in may then read flat edges (one weight per edge) beside
    # a moving one (one per sample); without gradients that must render as with them.
    renderer, processors, params = _console(num_buses, gates=True)
    plan = renderer.render_data
    timeline = Timeline.uniform(1.0, 0.25, SR)
    sources = torch.randn(4, 2, 1000) * 0.3
    for edge in range(plan.num_edges):
        curves = torch.full((plan.num_edges, timeline.num_knots), 0.8)
        curves[edge] = torch.linspace(0.2, 1.4, timeline.num_knots)
        with torch.no_grad():
            fast, _ = render_grafx(
                sources, processors, params, plan, edge_gains=curves, timeline=timeline
            )
        slow, _ = render_grafx(
            sources,
            processors,
            params,
            plan,
            edge_gains=curves.requires_grad_(),
            timeline=timeline,
        )
        assert torch.equal(fast, slow.detach()), edge
