import math

import pytest
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.fit import render_mix
from grafx.presets import (
    DEFAULT_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    gain_pan_from_log_gain,
    get_node_settings,
    set_node_settings,
    stereo_log_gain,
)
from grafx.render import compute_render_order

pytestmark = pytest.mark.usefixtures("one_thread")

LIGHT = ("eq", "imager", "gain_pan", "delay", "reverb")


def test_console_structure_and_names():
    G, type_sequence = build_mixing_console(6, num_buses=2, track_to_bus=[0, 0, 1, 1, 1, 0])
    n = len(DEFAULT_CHAIN)
    assert G.number_of_nodes() == 1 + 2 * n + 6 * (n + 1)
    assert G.number_of_edges() == G.number_of_nodes() - 1  # a tree into out
    assert type_sequence == ["in", *DEFAULT_CHAIN, *DEFAULT_CHAIN, "out"]
    bus1_eq = G.find_node("bus1/eq")
    feeding = sorted(G.nodes[u]["name"] for u, _ in G.in_edges(bus1_eq))
    assert feeding == ["track2/reverb", "track3/reverb", "track4/reverb"]
    out = G.find_node("out")
    assert sorted(G.nodes[u]["name"] for u, _ in G.in_edges(out)) == ["bus0/reverb", "bus1/reverb"]
    path = [G.find_node(f"track5/{t}") for t in ("in", *DEFAULT_CHAIN)]
    assert all(G.has_edge(a, b) for a, b in zip(path, path[1:], strict=False))


@pytest.mark.parametrize("num_buses", [0, 3])
def test_fixed_type_sequence_is_a_shortest_schedule(num_buses):
    G, type_sequence = build_mixing_console(7, num_buses=num_buses)
    fixed, _ = compute_render_order(G, method="fixed", fixed_order=type_sequence)
    optimal, _ = compute_render_order(G, method="optimal")
    assert fixed == type_sequence
    assert len(fixed) == len(optimal) == 2 + len(DEFAULT_CHAIN) * (2 if num_buses else 1)


def test_console_errors():
    with pytest.raises(ConfigError, match="num_tracks must be a positive integer"):
        build_mixing_console(0)
    with pytest.raises(ConfigError, match="repeats a type"):
        build_mixing_console(2, chain=["eq", "eq"])
    with pytest.raises(ConfigError, match=r"reserved type\(s\) \['mix'\]"):
        build_mixing_console(2, chain=["eq", "mix"])
    with pytest.raises(ConfigError, match="track_to_bus must give a bus in 0..1"):
        build_mixing_console(2, num_buses=2, track_to_bus=[0, 2])
    with pytest.raises(ConfigError, match="track_names must be 2 distinct names"):
        build_mixing_console(2, track_names=["a", "a"])
    with pytest.raises(ConfigError, match="no built-in processor for type 'fuzz'"):
        console_processors(["fuzz"])


def test_pan_law_is_constant_power_and_unity_in_the_centre():
    pans = torch.linspace(-0.9, 0.9, 7, dtype=torch.float64)
    log_gain = stereo_log_gain(-6.0, pans)
    power = torch.exp(2 * log_gain).sum(-1)
    torch.testing.assert_close(power, torch.full_like(power, 2 * 10 ** (-6 / 10)))
    torch.testing.assert_close(stereo_log_gain(0.0, 0.0), torch.zeros(2, dtype=torch.float64))
    gain_db, pan = gain_pan_from_log_gain(log_gain)
    torch.testing.assert_close(gain_db, torch.full_like(gain_db, -6.0))
    torch.testing.assert_close(pan, pans)
    left, right = torch.exp(stereo_log_gain(0.0, 0.999))
    assert left < 0.003 and right == pytest.approx(math.sqrt(2), rel=1e-5)


def test_gain_pan_render_matches_the_pan_law():
    G, sequence = build_mixing_console(2, chain=["gain_pan"])
    processors = console_processors(["gain_pan"])
    settings = {
        "track0/gain_pan": {"gain_db": -6.0, "pan": 0.5, "mix": 0.75},
        "track1/gain_pan": {"pan": -1},
    }
    params = console_parameters(G, processors, settings=settings)
    impulses = torch.zeros(2, 1, 8)
    impulses[0, 0, 0] = 1.0
    impulses[1, 0, 1] = 1.0
    mix = render_mix(G, processors, params, impulses, sequence)
    theta = math.pi / 4 * 1.5
    g = 10 ** (-6 / 20) * math.sqrt(2)
    # Every console processor is behind its dry/wet gate: w * f(u) + (1 - w) * u.
    wet = torch.tensor([g * math.cos(theta), g * math.sin(theta)])
    torch.testing.assert_close(mix[:, 0], 0.75 * wet + 0.25)
    wet = torch.exp(stereo_log_gain(0.0, -0.999)).float()
    torch.testing.assert_close(mix[:, 1], 0.99 * wet + 0.01)  # the default mix, 0.99


def test_console_parameters_physical_units():
    G, _ = build_mixing_console(2, chain=LIGHT)
    processors = console_processors(LIGHT)
    settings = {
        "track1/eq": {"eq_gains_db": [6.0, -3.0, 0.0, 2.0], "eq_freqs_hz": [100, 1000, 4000, 8000]},
        "track1/imager": {"width": 2.0},
        "track0/reverb": {"reverb_mix": 0.3},
        "track0/delay": {"delay_mix": 0.2},
    }
    params = console_parameters(G, processors, sample_rate=32000, settings=settings)
    from grafx.processors.functional.filter import omega_from_w0

    eq = params["eq"]
    torch.testing.assert_close(
        40 * eq["log_gain"][1, 0] / math.log(10), torch.tensor([6.0, -3, 0, 2])
    )
    omega = omega_from_w0(eq["w0"][1, 0].double())
    torch.testing.assert_close(
        omega * 32000 / (2 * math.pi),
        torch.tensor([100.0, 1000, 4000, 8000], dtype=torch.float64),
        rtol=1e-5,
        atol=1e-3,
    )
    assert torch.all(eq["log_gain"][0] == 0)  # the other track is flat
    assert get_node_settings(params, G, "track1/imager") == pytest.approx(
        {"width": 2.0, "mix": 0.99}
    )
    assert get_node_settings(params, G, "track0/reverb") == pytest.approx({"mix": 0.3})
    assert get_node_settings(params, G, "track1/delay") == pytest.approx({"mix": 0.1})
    assert get_node_settings(params, G, "track0/gain_pan") == pytest.approx(
        {"gain_db": 0, "pan": 0, "mix": 0.99}, abs=1e-6
    )
    set_node_settings(params, G, "track0/gain_pan", processors, gain_db=3.0, pan=-0.25, mix=0.5)
    assert get_node_settings(params, G, "track0/gain_pan") == pytest.approx(
        {"gain_db": 3.0, "pan": -0.25, "mix": 0.5}
    )
    # effective: the gate folded in; left/right gains w g + 1 - w
    left, right = torch.exp(stereo_log_gain(3.0, -0.25))
    want_db, want_pan = gain_pan_from_log_gain(torch.log(0.5 * torch.stack([left, right]) + 0.5))
    assert get_node_settings(params, G, "track0/gain_pan", effective=True) == pytest.approx(
        {"gain_db": float(want_db), "pan": float(want_pan), "mix": 0.5}
    )
    assert get_node_settings(params, G, "track1/imager", effective=True) == pytest.approx(
        {"width": 0.99 * 2.0 + 0.01, "mix": 0.99}
    )


def test_setting_errors():
    G, _ = build_mixing_console(1, chain=LIGHT)
    processors = console_processors(LIGHT)
    params = console_parameters(G, processors)
    with pytest.raises(ParameterError, match=r"gain_pan: unknown setting\(s\) \['volume'\]"):
        set_node_settings(params, G, "track0/gain_pan", processors, volume=3)
    with pytest.raises(ParameterError, match="width must be positive"):
        set_node_settings(params, G, "track0/imager", processors, width=0)
    with pytest.raises(ParameterError, match=r"reverb_mix must be in \(0, 1\)"):
        set_node_settings(params, G, "track0/reverb", processors, reverb_mix=1.0)
    with pytest.raises(ParameterError, match=r"eq: mix must be in \(0, 1\)"):
        set_node_settings(params, G, "track0/eq", processors, mix=0.0)
    ungated = {k: {n: v for n, v in p.items() if n != "drywet_weight"} for k, p in params.items()}
    with pytest.raises(ParameterError, match=r"eq: setting 'mix' needs a gate; gate it first"):
        set_node_settings(ungated, G, "track0/eq", processors, mix=0.5)
    with pytest.raises(ParameterError, match="below fs/2"):
        set_node_settings(params, G, "track0/eq", processors, eq_freqs_hz=30000, sample_rate=44100)
