"""The readout of automated settings: range and main moves in physical units."""

import math

import pytest
import torch

from grafx.automation import Timeline
from grafx.automation.readout import automation_readout
from grafx.presets import build_mixing_console, console_processors


def test_a_fader_ride_reads_back_in_db_with_its_moves():
    G, _ = build_mixing_console(num_tracks=1, chain=("gain_pan",))
    processors = console_processors(("gain_pan",))
    timeline = Timeline((0.0, 1.0, 2.0, 3.0), 100)
    db = torch.tensor([0.0, 0.0, -12.0, -6.0], dtype=torch.float64)
    log_gain = (db * math.log(10) / 20).expand(1, 2, 4).clone()  # both channels ride together
    params = {"gain_pan": {"log_gain": log_gain}}
    (node,) = [n for n in G.nodes if G.nodes[n]["node_type"] == "gain_pan"]
    lines = automation_readout(G, params, processors, timeline)[node]
    (gain,) = [line for line in lines if line.startswith("gain_db")]
    assert gain.startswith("gain_db: -12 .. 0; main moves: ")
    assert "0 -> -12 (1-2 s)" in gain and "-12 -> -6 (2-3 s)" in gain
    assert not any(line.startswith("pan") for line in lines)  # the pan holds still


def test_static_parameters_have_no_readout():
    G, _ = build_mixing_console(num_tracks=1, chain=("gain_pan",))
    processors = console_processors(("gain_pan",))
    params = {"gain_pan": {"log_gain": torch.zeros(1, 2)}}
    assert automation_readout(G, params, processors, Timeline((0.0, 1.0), 100)) == {}


def test_fader_curves_are_in_db_at_the_knots_under_the_node_names(tmp_path):
    from grafx.automation.readout import fader_curves
    from grafx.fit.report import plot_report

    G, _ = build_mixing_console(num_tracks=2, chain=("gain_pan",), track_names=["kick", "bass"])
    processors = console_processors(("gain_pan",))
    timeline = Timeline((0.0, 1.0, 2.0), 100)
    db = torch.tensor([[0.0, -6.0, -3.0], [-2.0, -2.0, -2.0]], dtype=torch.float64)
    log_gain = (db * math.log(10) / 20)[:, None, :].expand(2, 2, 3).clone()
    curves = fader_curves(G, {"gain_pan": {"log_gain": log_gain}}, processors, timeline)
    assert len(curves) == 1  # the bass holds still
    name, times, values = curves[0]
    assert name == "kick/gain_pan" and times == [0.0, 1.0, 2.0]
    assert values == pytest.approx([0.0, -6.0, -3.0], abs=1e-9)
    audio = torch.randn(2, 200)
    path = plot_report(tmp_path / "r.png", [1.0, 0.5], audio, audio, 100, faders=curves, dpi=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
