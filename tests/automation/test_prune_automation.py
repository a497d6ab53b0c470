"""Pruning an automated fit: candidates scored with the timeline, curves kept or dropped."""

import json
import math

import numpy as np
import pytest
import torch

from grafx.automation import Timeline, automate_parameters
from grafx.fit import GraphRenderer
from grafx.gates import DRYWET_KEY
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import prune_graph
from grafx.prune.evaluator import Evaluator
from grafx.prune.ranking import prunable
from grafx.prune.rewire import remove_nodes

SR = 1000
LENGTH = 1500
CHAIN = ("eq", "gain_pan", "reverb")


def _automated():
    """A 2-track console whose faders and reverb sends move; track1's reverb is bypassed."""
    torch.manual_seed(0)
    G, sequence = build_mixing_console(num_tracks=2, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=SR)
    params = console_parameters(G, processors, SR)
    params = {t: {k: v.double() for k, v in d.items()} for t, d in params.items()}
    with torch.no_grad():  # every processor does something
        params["eq"]["log_gain"] += torch.randn_like(params["eq"]["log_gain"]) * 0.5
    timeline = Timeline.uniform(LENGTH / SR, 0.5, SR)
    params = automate_parameters(params, processors, ["gain_pan", "reverb"], timeline)
    with torch.no_grad():
        params["gain_pan"]["log_gain"].add_(torch.randn_like(params["gain_pan"]["log_gain"]))
        params["reverb"][DRYWET_KEY][0, 0] = torch.tensor([-2.0, 0.0, 2.0, 0.0])  # a swell
        params["reverb"][DRYWET_KEY][1] = -math.inf  # bypassed all along
    stems = torch.randn(2, 2, LENGTH, dtype=torch.float64) * 0.2
    return G, sequence, processors, params, timeline, stems


def test_removing_a_bypassed_node_of_an_automated_graph_leaves_the_mix_and_curves_unchanged():
    G, sequence, processors, params, timeline, stems = _automated()
    bypassed = G.find_node("track1/reverb")
    H, pruned = remove_nodes(G, params, [bypassed])
    full = GraphRenderer(G, processors, sequence)(stems, params, timeline)[0]
    after = GraphRenderer(H, processors)(stems, pruned, timeline)[0]
    torch.testing.assert_close(after, full, rtol=1e-12, atol=1e-12)
    assert torch.equal(pruned["reverb"][DRYWET_KEY], params["reverb"][DRYWET_KEY][:1])
    assert torch.equal(pruned["gain_pan"]["log_gain"], params["gain_pan"]["log_gain"])


def test_a_moving_gate_stays_a_candidate_and_is_scored_with_the_timeline():
    G, sequence, processors, params, timeline, stems = _automated()
    target = GraphRenderer(G, processors, sequence)(stems, params, timeline)[0]
    evaluator = Evaluator(G, processors, params, stems, target, _mse, sequence, timeline=timeline)
    swelling = G.find_node("track0/reverb")
    assert prunable(G, swelling, evaluator)
    assert evaluator.loss(set()) == 0.0
    # closing the swelling send: exactly the mix of the graph without it, timeline and all
    H, pruned = remove_nodes(G, params, [swelling])
    without = GraphRenderer(H, processors)(stems, pruned, timeline)[0]
    assert evaluator.loss({swelling}) == pytest.approx(float(_mse(without, target)), rel=1e-9)
    # an excerpt (rendered from rest) sees its own stretch of the curves
    excerpt = evaluator.excerpt(500, 1000)
    renderer = GraphRenderer(G, processors, sequence)
    crop = renderer(stems[..., 500:1000], params, timeline.crop(500))[0]
    assert torch.equal(excerpt.mix(set()), crop)
    assert not torch.allclose(crop, renderer(stems[..., 500:1000], params, timeline)[0])


def _mse(estimate, target):
    return (estimate - target).square().mean()


def test_prune_graph_removes_the_bypassed_node_of_an_automated_fit_and_keeps_the_curves():
    G, sequence, processors, params, timeline, stems = _automated()
    target = GraphRenderer(G, processors, sequence)(stems, params, timeline)[0]
    result = prune_graph(
        G,
        processors,
        params,
        stems,
        target,
        loss_fn=_mse,
        type_sequence=sequence,
        sample_rate=SR,
        timeline=timeline,
        method="brute",
        rounds=1,
        finetune_steps=0,
        tolerance=1e-9,
        tolerance_mode="absolute",
        band_tolerance_db=None,
        loudness_tolerance_lu=None,
    )
    assert result.removed == [G.find_node("track1/reverb")]
    assert torch.equal(result.parameters["reverb"][DRYWET_KEY], params["reverb"][DRYWET_KEY][:1])
    assert torch.equal(result.parameters["gain_pan"]["log_gain"], params["gain_pan"]["log_gain"])
    mix = GraphRenderer(result.graph, processors)(stems, result.parameters, timeline)[0]
    torch.testing.assert_close(mix, target, rtol=1e-12, atol=1e-12)


def test_grafx_prune_works_on_an_automated_fit_folder(tmp_path):
    import soundfile as sf

    from grafx.cli import main
    from grafx.io import load

    rate, length = 8000, 8000
    t = np.arange(length) / rate
    a, b = 0.4 * np.sin(2 * np.pi * 220 * t), 0.4 * np.sin(2 * np.pi * 330 * t)
    sf.write(tmp_path / "a.wav", a, rate)
    sf.write(tmp_path / "b.wav", b, rate)
    ride = np.linspace(0.2, 1.0, length)
    sf.write(tmp_path / "mix.wav", np.stack([0.7 * a + 0.5 * b * ride] * 2, 1), rate, "FLOAT")
    fit, out = tmp_path / "fit", tmp_path / "pruned"
    before = torch.get_num_threads()
    try:
        argv = ["fit", "--stems", tmp_path / "a.wav", tmp_path / "b.wav"]
        argv += ["--target", tmp_path / "mix.wav", "--steps", 3, "--quiet", "--out", fit]
        argv += ["--automate", "gain_pan,reverb", "--knots-every", 0.5]
        assert main([str(x) for x in argv]) == 0
        argv = ["prune", fit, "--out", out, "--rounds", 1, "--finetune-steps", 1, "--quiet"]
        assert main([str(x) for x in argv]) == 0
    finally:
        torch.set_num_threads(before)
    fitted, pruned = load(fit / "graph.json"), load(out / "pruned.json")
    assert pruned.timeline == fitted.timeline
    kept = {n for n, d in pruned.graph.nodes(data=True) if d["node_type"] == "gain_pan"}
    assert pruned.parameters["gain_pan"]["log_gain"].shape == (len(kept), 2, 3)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["loss_after"] <= summary["loss_before"] * 1.01 + 1e-12
    # pruned.wav is pruned.json rendered with its curves
    rendered = tmp_path / "render.wav"
    sources = [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert (
        main(["render", str(out / "pruned.json"), "--sources", *sources, "-o", str(rendered)]) == 0
    )
    np.testing.assert_allclose(
        sf.read(rendered, always_2d=True)[0],
        sf.read(out / "pruned.wav", always_2d=True)[0],
        atol=1e-5,
    )
