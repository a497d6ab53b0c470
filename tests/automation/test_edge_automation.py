"""Automated edge gates (sends): curves (E, 1, K) per sample, bit-identity, files, fit, readout."""

import json

import numpy as np
import pytest
import torch

from grafx.automation import Timeline, automate_parameters, curve_keys, static_parameters
from grafx.automation.readout import automation_readout
from grafx.automation.smoothness import CurveSmoothness
from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.errors import ConfigError, GraphFileError, ParameterError
from grafx.fit import GraphRenderer
from grafx.fit.automate import automate_fit_parameters, check_automate
from grafx.fit.penalty import PenaltyContext
from grafx.gates import EDGE_GATE_KEY, add_edge_gates, edge_gates, gate_l1, graph_edges
from grafx.io import load, save_graph
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors.core.drywet import mix_from_drywet_weight
from grafx.render import prepare_render, render_grafx
from grafx.render.reorder import reorder_for_fast_render

SR = 1000
CHAIN = ("eq", "gain_pan", "reverb")


def _console(num_buses, dtype=torch.float32):
    torch.manual_seed(0)
    G, sequence = build_mixing_console(num_tracks=4, num_buses=num_buses, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=SR)
    params = console_parameters(G, processors, SR)
    params = {t: {k: v.to(dtype) for k, v in d.items()} for t, d in params.items()}
    params = add_edge_gates(params, G)
    with torch.no_grad():  # every edge its own level, some near 0, some near 1
        params[EDGE_GATE_KEY].copy_(torch.randn_like(params[EDGE_GATE_KEY]) * 2)
    return G, sequence, processors, params


@pytest.mark.parametrize("num_buses", [0, 2])  # 2 buses: a scatter fan-in (matrix product)
@pytest.mark.parametrize("batched", [False, True])
def test_a_flat_edge_curve_renders_bit_for_bit_like_the_static_gate(num_buses, batched):
    G, sequence, processors, params = _console(num_buses)
    timeline = Timeline.uniform(1.5, 0.5, SR)
    curves = automate_parameters(params, processors, [EDGE_GATE_KEY], timeline)
    assert curves[EDGE_GATE_KEY].shape == (G.number_of_edges(), 1, 4)
    assert curve_keys(curves, processors) == [EDGE_GATE_KEY]
    shape = (3, 4, 2, 1500) if batched else (4, 2, 1500)
    sources = torch.randn(shape) * 0.3
    renderer = GraphRenderer(G, processors, sequence)
    static, _ = renderer(sources, params)
    moving, _ = renderer(sources, curves, timeline)
    assert torch.equal(static, moving)


def _fan_in(num_inputs=3):
    """``num_inputs`` in nodes summed into out: edge e carries source e (edge order = rows)."""
    G = GRAFX(config=NodeConfigs([]))
    out = G.add("out")
    for _ in range(num_inputs):
        G.connect(G.add("in"), out)
    return G, prepare_render(reorder_for_fast_render(convert_to_tensor(G)))


def test_a_moving_edge_curve_scales_each_sample_as_numpy_interp():
    G, plan = _fan_in()
    length, knots = 800, (0.0, 0.2, 0.5, 0.8)
    timeline = Timeline(knots, SR)
    rng = np.random.default_rng(2)
    omega = rng.standard_normal((3, 1, 4)) * 2
    sources = rng.standard_normal((3, 1, length))
    output, _ = render_grafx(
        torch.from_numpy(sources),
        {},
        {EDGE_GATE_KEY: torch.from_numpy(omega)},
        plan,
        timeline=timeline,
    )
    times = np.arange(length) / SR
    sources_of = [s for s, _, _, _ in graph_edges(G)]  # in nodes are ids 1..3, edges in row order
    expected = np.zeros(length)
    for row, source in enumerate(sources_of):
        w = 1 / (1 + np.exp(-np.interp(times, knots, omega[row, 0])))
        expected += w * sources[source - 1, 0]
    np.testing.assert_allclose(output[0, 0].numpy(), expected, rtol=1e-12, atol=1e-12)
    # a crop sees its own stretch of the curves
    cropped, _ = render_grafx(
        torch.from_numpy(sources[..., 300:500]),
        {},
        {EDGE_GATE_KEY: torch.from_numpy(omega)},
        plan,
        timeline=timeline.crop(300),
    )
    np.testing.assert_allclose(cropped[0, 0].numpy(), expected[300:500], rtol=1e-12, atol=1e-12)


def test_edge_curves_pass_gradcheck():
    _, plan = _fan_in(2)
    timeline = Timeline((0.0, 0.01, 0.03), SR, method="cubic")
    torch.manual_seed(3)
    sources = torch.randn(2, 1, 32, dtype=torch.float64)
    omega = torch.randn(2, 1, 3, dtype=torch.float64, requires_grad=True)

    def render(gate):
        return render_grafx(sources, {}, {EDGE_GATE_KEY: gate}, plan, timeline=timeline)[0]

    assert torch.autograd.gradcheck(render, (omega,))


def test_bad_edge_curves_get_clear_errors():
    _, plan = _fan_in(2)
    sources = torch.randn(2, 1, 50)
    timeline = Timeline((0.0, 0.02, 0.04), SR)
    with pytest.raises(ParameterError, match="'edge_gate' are curves .* no timeline"):
        render_grafx(sources, {}, {EDGE_GATE_KEY: torch.zeros(2, 1, 3)}, plan)
    with pytest.raises(ParameterError, match="'edge_gate': the curves have 4 values .* 3 knots"):
        render_grafx(sources, {}, {EDGE_GATE_KEY: torch.zeros(2, 1, 4)}, plan, timeline=timeline)
    with pytest.raises(ParameterError, match=r"shape \(2, 2, 3\); expected \(2, 1, K\)"):
        render_grafx(sources, {}, {EDGE_GATE_KEY: torch.zeros(2, 2, 3)}, plan, timeline=timeline)
    with pytest.raises(ConfigError, match="no static edge gates"):
        automate_parameters({}, {}, [EDGE_GATE_KEY], timeline)


def _moving_file(tmp_path, types=(EDGE_GATE_KEY, "gain_pan")):
    G, sequence, processors, params = _console(0, torch.float64)
    timeline = Timeline.uniform(2.0, 0.5, SR)
    params = automate_parameters(params, processors, types, timeline)
    rows = [r for r, (_, d, _, _) in enumerate(graph_edges(G)) if d == 0]  # sends into out
    with torch.no_grad():
        params[EDGE_GATE_KEY][rows[0], 0] = torch.tensor([3.0, 3.0, -3.0, -3.0, 3.0])
    path = tmp_path / "G.json"
    save_graph(G, path, params, processors=processors, sample_rate=SR, timeline=timeline)
    return G, sequence, processors, params, timeline, path, rows[0]


def test_edge_curves_round_trip_through_graph_files_and_read_out(tmp_path):
    G, sequence, processors, params, timeline, path, row = _moving_file(tmp_path)
    model = load(path)
    assert model.timeline == timeline
    assert torch.equal(model.parameters[EDGE_GATE_KEY], params[EDGE_GATE_KEY])
    sources = torch.randn(4, 2, 2000, dtype=torch.float64) * 0.1
    renderer = GraphRenderer(G, processors, sequence)
    expected = renderer(sources, params, timeline)[0]
    again = GraphRenderer(model.graph, model.processors, sequence)(
        sources, model.parameters, model.timeline
    )[0]
    assert torch.equal(expected, again)
    assert static_parameters(params, processors)[EDGE_GATE_KEY].shape == (G.number_of_edges(), 1)


def test_edge_curve_readout_matches_the_sigmoid_in_db(tmp_path):
    G, _, processors, params, timeline, _, row = _moving_file(tmp_path)
    source = graph_edges(G)[row][0]
    line = next(
        x for x in automation_readout(G, params, processors, timeline)[source] if "send" in x
    )
    high = 20 * np.log10(1 / (1 + np.exp(-3.0)))
    low = 20 * np.log10(1 / (1 + np.exp(3.0)))
    assert line.startswith(f"send to out (dB): {low:.3g} .. {high:.3g}; main moves: ")
    assert f"{high:.3g} -> {low:.3g} (0.5-1 s)" in line
    assert f"{low:.3g} -> {high:.3g} (1.5-2 s)" in line


@pytest.mark.parametrize(
    "edit, message",
    [
        ("knots", "'edge_gate'.* curves of 5 values per row, but the file's automation has 3"),
        ("no_automation", "'edge_gate'.* curves .* no 'automation' field"),
        ("nan", "'edge_gate'.* NaN"),
    ],
)
def test_bad_edge_curves_in_files_are_refused(tmp_path, edit, message):
    G, _, processors, params, timeline, path, _ = _moving_file(tmp_path, [EDGE_GATE_KEY])
    if edit == "nan":
        with torch.no_grad():
            params[EDGE_GATE_KEY][0, 0, 1] = float("nan")
        save_graph(G, path, params, processors=processors, sample_rate=SR, timeline=timeline)
    else:
        document = json.loads(path.read_text())
        if edit == "knots":
            document["automation"]["knot_times"] = [0.0, 1.0, 2.0]
        else:
            document.pop("automation")
        path.write_text(json.dumps(document))
    with pytest.raises(GraphFileError, match=message):
        load(path)


def test_a_fit_automates_sends_by_the_name_edge_gate():
    G, sequence = build_mixing_console(num_tracks=2, chain=("gain_pan",))
    processors = console_processors(("gain_pan",))
    params = console_parameters(G, processors, SR)
    assert check_automate([EDGE_GATE_KEY, "gain_pan"], G, processors, params, None) == [
        EDGE_GATE_KEY,
        "gain_pan",
    ]
    timeline = Timeline.uniform(1.0, 0.5, SR)
    moving = automate_fit_parameters(G, params, processors, [EDGE_GATE_KEY], timeline)
    assert moving[EDGE_GATE_KEY].shape == (G.number_of_edges(), 1, 3)
    assert EDGE_GATE_KEY not in params  # the caller's dict is not changed
    # penalties and gates read the curves: a flat curve costs no roughness, L1 by the mean
    with torch.no_grad():
        moving[EDGE_GATE_KEY][0, 0] = torch.tensor([0.0, 1.0, 3.0])
    smooth = CurveSmoothness(1.0, curve_keys(moving, processors))
    value = smooth.value(PenaltyContext(0, 0.0, moving, None))
    assert float(value) == pytest.approx(3.0 / G.number_of_edges())
    w = mix_from_drywet_weight(moving[EDGE_GATE_KEY][:, 0])
    static = {k: v for k, v in moving.items() if k != EDGE_GATE_KEY}
    assert float(gate_l1(moving) - gate_l1(static)) == pytest.approx(float(w.mean(-1).sum()))
    assert torch.equal(edge_gates(moving), w.amax(-1))


def test_grafx_fit_automates_sends_end_to_end(tmp_path, capsys, monkeypatch):
    import soundfile as sf

    import grafx.fit.report
    from grafx.automation.readout import SEND_SETTING
    from grafx.cli import main

    drawn = []  # the automation report.png is given
    plot_report = grafx.fit.report.plot_report

    def spy(*args, **kwargs):
        drawn.append(kwargs.get("automation"))
        return plot_report(*args, **kwargs)

    monkeypatch.setattr(grafx.fit.report, "plot_report", spy)

    rate, length = 8000, 8000
    t = np.arange(length) / rate
    a, b = 0.4 * np.sin(2 * np.pi * 220 * t), 0.4 * np.sin(2 * np.pi * 330 * t)
    swell = np.linspace(0.1, 1.0, length)  # b's send swells in
    sf.write(tmp_path / "a.wav", a, rate)
    sf.write(tmp_path / "b.wav", b, rate)
    mix = np.stack([0.7 * a + 0.5 * b * swell] * 2, axis=1)
    sf.write(tmp_path / "mix.wav", mix, rate, subtype="FLOAT")
    out = tmp_path / "fit"
    stems = ["--stems", tmp_path / "a.wav", tmp_path / "b.wav", "--target", tmp_path / "mix.wav"]
    before = torch.get_num_threads()
    try:
        for steps in (2, 4):  # the second run resumes from the first one's checkpoint
            argv = ["fit", *stems, "--steps", steps, "--quiet", "--out", out]
            argv += ["--automate", "gain_pan,edge_gate", "--knots-every", 0.5]
            assert main([str(x) for x in argv]) == 0
    finally:
        torch.set_num_threads(before)
    model = load(out / "graph.json")
    gate = model.parameters[EDGE_GATE_KEY]
    assert gate.shape == (model.graph.number_of_edges(), 1, 3)
    assert not torch.equal(gate[..., 0], gate[..., -1])  # the sends moved
    sends = {c.label: c for c in drawn[-1] if c.setting == SEND_SETTING}
    assert {"a -> out", "b -> out"} <= set(sends)  # under the stems' names
    assert any(c.setting == "gain_db" for c in drawn[-1])  # the faders too
    capsys.readouterr()
    assert main(["info", str(out / "graph.json"), "--settings"]) == 0
    assert "automated send to " in capsys.readouterr().out
    rendered = tmp_path / "render.wav"
    sources = [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert (
        main(["render", str(out / "graph.json"), "--sources", *sources, "-o", str(rendered)]) == 0
    )
    np.testing.assert_allclose(
        sf.read(rendered, always_2d=True)[0],
        sf.read(out / "fitted.wav", always_2d=True)[0],
        atol=1e-5,
    )
