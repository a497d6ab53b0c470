"""Automation in graph files: curves and their knots round-trip, render, and bad files are refused."""

import json

import pytest
import torch

from grafx.automation import Timeline, automate_parameters
from grafx.errors import GraphFileError
from grafx.io import load, save_graph
from grafx.io.graph_file import read_graph_document
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render import render_mix

SR = 1000
LENGTH = 2000  # 2 s
CHAIN = ("eq", "gain_pan", "reverb")


def _automated(tmp_path, tensors="inline"):
    torch.manual_seed(0)
    G, sequence = build_mixing_console(num_tracks=2, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=SR)
    params = console_parameters(G, processors, SR)
    timeline = Timeline.uniform(LENGTH / SR, 0.5, SR, method="cubic")
    params = automate_parameters(params, processors, ["gain_pan", "reverb", "eq"], timeline)
    for node_type in ("gain_pan", "reverb"):
        for value in params[node_type].values():
            if value.ndim == 3 and value.shape[-1] == timeline.num_knots:
                value.add_(torch.randn_like(value) * 0.3)
    path = tmp_path / "G.json"
    save_graph(
        G, path, params, tensors=tensors, processors=processors, sample_rate=SR, timeline=timeline
    )
    return G, processors, params, timeline, path, sequence


@pytest.mark.parametrize("tensors", ["inline", "safetensors"])
def test_an_automated_console_round_trips_bit_for_bit(tmp_path, tensors):
    G, processors, params, timeline, path, _ = _automated(tmp_path, tensors)
    model = load(path)
    assert model.timeline == timeline
    assert model.sample_rate == SR
    for node_type, value in params.items():
        for key, tensor in value.items():
            loaded = model.parameters[node_type][key]
            assert loaded.dtype == tensor.dtype and torch.equal(loaded, tensor), (node_type, key)
    document = json.loads(path.read_text())
    assert document["automation"] == {
        "knot_times": [0.0, 0.5, 1.0, 1.5, 2.0],
        "method": "cubic",
        "duration": 2.0,
    }
    assert "sample_rate" not in document["automation"]


def test_the_loaded_file_renders_the_in_memory_automated_mix(tmp_path):
    G, processors, params, timeline, path, sequence = _automated(tmp_path)
    stems = torch.randn(2, 2, LENGTH)
    expected = render_mix(G, processors, params, stems, sequence, timeline=timeline)
    model = load(path)
    got = render_mix(
        model.graph, model.processors, model.parameters, stems, timeline=model.timeline
    )
    assert torch.equal(got, expected)
    static = render_mix(G, processors, console_parameters(G, processors, SR), stems, sequence)
    assert not torch.allclose(got, static)  # the moves are heard


def test_a_file_without_automation_has_no_timeline(tmp_path):
    G, _ = build_mixing_console(num_tracks=1, chain=("gain_pan",))
    processors = console_processors(("gain_pan",))
    save_graph(G, tmp_path / "G.json", console_parameters(G, processors), processors=processors)
    assert load(tmp_path / "G.json").timeline is None
    assert "automation" not in json.loads((tmp_path / "G.json").read_text())


def _edit(path, change):
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _curve_entry(document, node_type, key):
    return document["parameters"][node_type][key]


def test_a_curve_on_a_parameter_that_cannot_move_is_refused(tmp_path):
    G, processors, params, timeline, path, _ = _automated(tmp_path)
    # the reverb's parameters are not time-varying: give one of them a knot axis
    key = next(k for k in params["reverb"] if k != "drywet_weight")
    params["reverb"][key] = params["reverb"][key][..., None].repeat(
        *([1] * params["reverb"][key].ndim), timeline.num_knots
    )
    save_graph(G, path, params, processors=processors, sample_rate=SR, timeline=timeline)
    with pytest.raises(GraphFileError, match=rf"G.json.*'reverb'.*{key}.*not take it as time-var"):
        load(path)


def test_a_curve_without_automation_is_refused(tmp_path):
    _, _, _, _, path, _ = _automated(tmp_path)
    _edit(path, lambda d: d.pop("automation"))
    with pytest.raises(
        GraphFileError, match=r"G.json: parameters\['eq'\].log_gain is a curve.*no 'automation'"
    ):
        load(path)


@pytest.mark.parametrize(
    "knots, problem",
    [
        ([0.0, 1.0, 0.5, 1.5, 2.0], "must increase"),
        ([0.0, 0.5, 1.0, 1.5, 2.5], "after the song's end"),
        ([-0.5, 0.5, 1.0, 1.5, 2.0], "before the start"),
    ],
)
def test_knots_not_increasing_or_outside_the_clip_are_refused(tmp_path, knots, problem):
    _, _, _, _, path, _ = _automated(tmp_path)
    _edit(path, lambda d: d["automation"].update(knot_times=knots))
    with pytest.raises(GraphFileError, match=rf"G.json: automation: .*{problem}"):
        read_graph_document(path)


def test_a_curve_whose_length_is_not_the_knot_count_is_refused(tmp_path):
    _, _, _, _, path, _ = _automated(tmp_path)
    _edit(path, lambda d: d["automation"].update(knot_times=[0.0, 1.0, 2.0]))
    with pytest.raises(
        GraphFileError, match=r"G.json: parameters\['eq'\].log_gain is a curve of 5 values.*3 knots"
    ):
        load(path)


def test_nan_in_a_curve_is_refused(tmp_path):
    G, processors, params, timeline, path, _ = _automated(tmp_path)
    params["gain_pan"]["log_gain"][1, 0, 2] = float("nan")
    save_graph(G, path, params, processors=processors, sample_rate=SR, timeline=timeline)
    with pytest.raises(GraphFileError, match=r"G.json.*'gain_pan'.*log_gain holds NaN"):
        load(path)


def test_a_bad_automation_field_is_refused(tmp_path):
    _, _, _, _, path, _ = _automated(tmp_path)
    _edit(path, lambda d: d.update(automation={"knot_times": 3}))
    with pytest.raises(GraphFileError, match=r"G.json: automation: expected"):
        read_graph_document(path)
    _edit(path, lambda d: d.update(automation={"knot_times": [0.0, 1.0], "method": "spline"}))
    with pytest.raises(GraphFileError, match=r"G.json: automation: .*unknown interpolation"):
        read_graph_document(path)
