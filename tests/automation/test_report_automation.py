"""report.png's automation panels: faders and sends (dB), EQ bands, thresholds, ... in physical
units under the stems' names, the largest moves of many stems, the small ones counted."""

import copy
import math

import pytest
import torch

from grafx.automation import Timeline, automate_parameters
from grafx.automation.readout import SEND_SETTING, automation_curves
from grafx.data.conversion import edges_in_tensor_order
from grafx.fit.report import MAX_PANEL_LINES, automation_panels, report_figure
from grafx.gates import EDGE_GATE_KEY, add_edge_gates
from grafx.mixing.console import set_node_settings
from grafx.presets import build_mixing_console, console_parameters, console_processors

SR = 8000
CHAIN = ("eq", "compressor", "gain_pan")
KNOTS = (0.0, 0.5, 1.0, 1.5)
RIDE = [0.0, -6.0, -6.0, -2.0]  # the vocals' fader, dB
BAND = [0.0, 0.0, 4.0, 6.0]  # the vocals' EQ band 2, dB
THRESHOLD = [-20.0, -20.0, -32.0, -32.0]  # the vocals' compressor, dB
SWELL = [-4.0, -1.0, 2.0, 4.0]  # the drums' send to the bus: omega of its edge gate


def _moving_console():
    G, _ = build_mixing_console(
        num_tracks=2, num_buses=1, chain=CHAIN, track_names=["vocals", "drums"]
    )
    processors = console_processors(CHAIN, sample_rate=SR)
    static = add_edge_gates(console_parameters(G, processors, SR), G)
    timeline = Timeline(KNOTS, SR)
    curves = automate_parameters(static, processors, [*CHAIN, EDGE_GATE_KEY], timeline)
    per_knot = []
    for k in range(len(KNOTS)):
        p = copy.deepcopy(static)
        set_node_settings(p, G, "vocals/gain_pan", processors, gain_db=RIDE[k])
        set_node_settings(p, G, "vocals/eq", processors, eq_gains_db=[0.0, BAND[k], 0.0, 0.0])
        set_node_settings(p, G, "vocals/compressor", processors, threshold_db=THRESHOLD[k])
        per_knot.append(p)
    for node_type in CHAIN:
        for key, value in curves[node_type].items():
            if value.ndim == static[node_type][key].ndim + 1:
                stacked = torch.stack([p[node_type][key] for p in per_knot], -1)
                curves[node_type][key] = stacked.detach()
    (row,) = [
        r
        for r, (s, d, _, _, _) in enumerate(edges_in_tensor_order(G))
        if G.nodes[s]["name"] == "drums/gain_pan" and G.nodes[d]["name"].startswith("bus0")
    ]
    with torch.no_grad():
        curves[EDGE_GATE_KEY][row, 0] = torch.tensor(SWELL)
    return G, processors, curves, timeline


def _db(omega):
    return [20 * math.log10(1 / (1 + math.exp(-w))) for w in omega]


def test_automation_curves_are_every_moving_setting_in_physical_units():
    G, processors, curves, timeline = _moving_console()
    found = {(c.label, c.setting): c for c in automation_curves(G, curves, processors, timeline)}
    assert set(found) == {
        ("vocals/gain_pan", "gain_db"),
        ("vocals/eq band 2", "eq_gains_db"),
        ("vocals/compressor", "threshold_db"),
        ("drums -> bus0", SEND_SETTING),
    }
    expected = {
        "gain_db": RIDE,
        "eq_gains_db": BAND,
        "threshold_db": THRESHOLD,
        SEND_SETTING: _db(SWELL),
    }
    for curve in found.values():
        assert curve.times == list(KNOTS)
        assert curve.values == pytest.approx(expected[curve.setting], abs=1e-4)


def test_the_report_draws_sends_eq_bands_and_thresholds_under_the_stems_names():
    G, processors, curves, timeline = _moving_console()
    moving = automation_curves(G, curves, processors, timeline)
    audio = torch.randn(2, 400)
    fig = report_figure([1.0, 0.5], audio, audio, 100, automation=moving)
    try:
        drawn = {}
        for ax in fig.axes:
            if ax.get_title().startswith("fitted automation: "):
                title = ax.get_title().removeprefix("fitted automation: ")
                lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
                drawn[title] = (ax.get_ylabel(), lines)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    assert set(drawn) == {"faders and sends", "EQ band gains", "dynamics thresholds"}
    unit, lines = drawn["faders and sends"]
    assert unit == "level (dB)" and set(lines) == {"vocals/gain_pan", "drums -> bus0"}
    assert lines["drums -> bus0"] == pytest.approx(_db(SWELL), abs=1e-9)
    assert lines["vocals/gain_pan"] == pytest.approx(RIDE, abs=1e-4)
    unit, lines = drawn["EQ band gains"]
    assert unit == "gain (dB)" and lines["vocals/eq band 2"] == pytest.approx(BAND, abs=1e-4)
    unit, lines = drawn["dynamics thresholds"]
    assert unit == "threshold (dB)"
    assert lines["vocals/compressor"] == pytest.approx(THRESHOLD, abs=1e-4)


def test_many_stems_draw_the_largest_moves_and_count_the_others():
    from grafx.automation.readout import SettingCurve

    times = [0.0, 1.0]
    moves = [0.1 * k for k in range(16)]  # 16 faders moving 0 .. 1.5 dB
    curves = [SettingCurve(f"stem{k}", "gain_db", times, [0.0, -m]) for k, m in enumerate(moves)]
    curves.append(SettingCurve("stem0/eq band 1", "eq_freqs_hz", times, [100.0, 101.0]))
    curves.append(SettingCurve("stem1/eq band 1", "eq_freqs_hz", times, [100.0, 200.0]))
    panels = automation_panels(curves)
    faders, freqs = panels
    assert faders.title == "faders and sends" and freqs.title == "EQ band frequencies"
    # 0.5 dB and more: 10 faders move enough, the 8 largest are drawn, largest first
    assert [name for name, _, _ in faders.curves] == [f"stem{k}" for k in range(15, 7, -1)]
    assert len(faders.curves) == MAX_PANEL_LINES and faders.hidden == 16 - MAX_PANEL_LINES
    # a frequency moves by its ratio: 1 % is under the 2 % drawn, an octave is drawn
    assert freqs.log and [c[0] for c in freqs.curves] == ["stem1/eq band 1"]
    assert freqs.hidden == 1
    fader_tuples = [(c.label, c.times, c.values) for c in curves[:16]]  # fader_curves' form
    assert automation_panels(fader_tuples)[0].curves == faders.curves
    audio = torch.randn(2, 400)
    fig = report_figure([1.0], audio, audio, 100, automation=curves)
    try:
        titles = [ax.get_title() for ax in fig.axes]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    assert "fitted automation: faders and sends (8 smaller moves not drawn)" in titles
