"""Presets: one node's settings saved from one graph and recalled on another."""

import json

import pytest

from grafx.errors import GraphFileError, ParameterError
from grafx.io.preset import apply_preset, load_preset, save_preset
from grafx.presets import (
    build_mixing_console,
    console_parameters,
    console_processors,
    get_node_settings,
)

CHAIN = ("eq", "compressor", "gain_pan", "reverb")


def consoles():
    G_a, _ = build_mixing_console(3, chain=CHAIN)
    G_b, _ = build_mixing_console(1, num_buses=1, chain=CHAIN)
    processors = console_processors(CHAIN)
    fitted = {
        "track2/eq": {"eq_gains_db": [4.0, -1.5, 0.0, 2.5], "eq_q": 1.2},
        "track2/compressor": {"threshold_db": -14.0, "ratio": 5.0, "knee_db": 3.0},
        "track2/gain_pan": {"gain_db": -4.0, "pan": -0.3},
        "track2/reverb": {"reverb_mix": 0.4},
    }
    params_a = console_parameters(G_a, processors, sample_rate=32000, settings=fitted)
    params_b = console_parameters(G_b, processors, sample_rate=32000)
    return G_a, params_a, G_b, params_b, processors


@pytest.mark.parametrize("node_type", CHAIN)
def test_settings_recalled_on_another_graph(tmp_path, node_type):
    G_a, params_a, G_b, params_b, processors = consoles()
    path = tmp_path / f"{node_type}.json"
    saved = save_preset(path, params_a, G_a, f"track2/{node_type}", processors, 32000)
    assert load_preset(path) == saved
    apply_preset(path, params_b, G_b, f"bus0/{node_type}", processors)
    expected = get_node_settings(params_a, G_a, f"track2/{node_type}", processors, 32000)
    recalled = get_node_settings(params_b, G_b, f"bus0/{node_type}", processors, 32000)
    assert recalled.keys() == expected.keys()
    for key, value in expected.items():
        assert recalled[key] == pytest.approx(value, rel=1e-5, abs=1e-5), key
    # the other node of that type in graph B keeps its neutral settings
    neutral = get_node_settings(params_b, G_b, f"track0/{node_type}", processors, 32000)
    assert neutral != recalled


def test_preset_at_another_sample_rate_keeps_frequencies_in_hz(tmp_path):
    G_a, params_a, G_b, params_b, processors = consoles()
    save_preset(tmp_path / "eq.json", params_a, G_a, "track2/eq", processors, 32000)
    apply_preset(tmp_path / "eq.json", params_b, G_b, "track0/eq", processors, sample_rate=48000)
    recalled = get_node_settings(params_b, G_b, "track0/eq", processors, 48000)
    assert recalled["eq_freqs_hz"] == pytest.approx([120.0, 700.0, 3000.0, 8000.0], rel=1e-4)


def test_preset_errors_name_file_node_and_type(tmp_path):
    G_a, params_a, G_b, params_b, processors = consoles()
    path = tmp_path / "eq.json"
    save_preset(path, params_a, G_a, "track2/eq", processors)
    with pytest.raises(
        ParameterError,
        match=r"eq.json: a preset for ParametricEqualizer cannot be applied to node "
        r"'bus0/compressor' \('compressor'\), a Compressor",
    ):
        apply_preset(path, params_b, G_b, "bus0/compressor", processors)
    document = json.loads(path.read_text())
    document["settings"]["eq_gain"] = 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(
        ParameterError, match=r"eq.json: node 'bus0/eq': eq: unknown setting\(s\) \['eq_gain'\]"
    ):
        apply_preset(path, params_b, G_b, "bus0/eq", processors)
    path.write_text('{"format": "grafx-graph"}')
    with pytest.raises(GraphFileError, match="eq.json: not a grafx preset"):
        load_preset(path)
    path.write_text('{"format": "grafx-preset", "version": 9}')
    with pytest.raises(GraphFileError, match="eq.json: unsupported preset version 9"):
        load_preset(path)
    path.write_text('{"format": "grafx-preset", "version": 1, "node_type": "eq"}')
    with pytest.raises(GraphFileError, match="eq.json: field 'processor' must be a dict"):
        load_preset(path)
    path.write_text("{not json")
    with pytest.raises(GraphFileError, match="eq.json: not a valid preset file"):
        load_preset(path)
    with pytest.raises(GraphFileError, match="missing.json: cannot read"):
        load_preset(tmp_path / "missing.json")
    with pytest.raises(ParameterError, match="no node 99 in the graph"):
        save_preset(path, params_a, G_a, 99, processors)
