"""prune_graph: finds bypassed processors, keeps the loss within tolerance, resumes; GateSparsity."""

from __future__ import annotations

import math

import pytest
import torch

from grafx.errors import ConfigError, GraphError
from grafx.fit import fit_parameters, render_mix
from grafx.gates import gate_l1, set_node_gate
from grafx.losses import MixLoss
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import GateSparsity, PruneConfig, prune_graph

CHAIN = ["imager", "gain_pan"]
RATE = 16000


def _case():
    """A console whose hidden mix bypasses 3 of its 6 processors; 'fitted' is slightly off."""
    G, sequence = build_mixing_console(3, chain=CHAIN)
    processors = console_processors(CHAIN)
    settings = {
        "track0/gain_pan": {"gain_db": -8.0, "pan": -0.6},
        "track1/imager": {"width": 2.5},
        "track2/gain_pan": {"gain_db": 5.0, "pan": 0.7},
    }
    hidden = console_parameters(G, processors, RATE, settings)
    bypassed = [G.find_node(n) for n in ("track0/imager", "track1/gain_pan", "track2/imager")]
    fitted = {t: {k: v.clone() for k, v in p.items()} for t, p in hidden.items()}
    for node in bypassed:
        set_node_gate(hidden, G, node, 0.0)
        set_node_gate(fitted, G, node, 0.05)  # the fit drove their gates down
    fitted["gain_pan"]["log_gain"] += 0.02  # and is not perfect
    x = torch.randn(3, 2, 8192, generator=torch.Generator().manual_seed(1)) * 0.2
    x[:, 1] = 0.3 * x[:, 1] + 0.7 * x[:, 0]  # some stereo, so the imager matters
    target = render_mix(G, processors, hidden, x, sequence)
    return G, sequence, processors, fitted, x, target, set(bypassed)


@pytest.mark.parametrize("method", ["hybrid", "drywet", "brute"])
def test_the_search_removes_exactly_the_bypassed_processors(method):
    G, sequence, processors, fitted, x, target, bypassed = _case()
    result = prune_graph(
        G, processors, fitted, x, target, loss_fn=MixLoss(RATE), type_sequence=sequence,
        tolerance=0.01, method=method, rounds=2, finetune_steps=0,
    )  # fmt: skip
    assert set(result.removed) == bypassed
    assert result.rho == pytest.approx(0.5) and result.num_processors == 6
    assert result.loss_after <= 1.01 * result.loss_before
    assert result.removed_per_type == {"imager": (2, 3), "gain_pan": (1, 3)}
    assert set(result.graph.nodes) == set(G.nodes) - bypassed
    # the result's loss is the pruned graph's real loss
    mix = render_mix(result.graph, processors, result.parameters, x)
    assert float(MixLoss(RATE)(mix, target)) == pytest.approx(result.loss_after, rel=1e-5)


def test_drywet_bisection_needs_fewer_loss_checks_than_brute_force():
    G, sequence, processors, fitted, x, target, _ = _case()
    common = {"loss_fn": MixLoss(RATE), "rounds": 1, "finetune_steps": 0}
    brute = prune_graph(G, processors, fitted, x, target, method="brute", **common)
    drywet = prune_graph(G, processors, fitted, x, target, method="drywet", **common)
    assert drywet.evaluations < brute.evaluations == 1 + 6 + 1  # reference, 6 tries, pruned


def test_resumed_search_matches_an_uninterrupted_one(tmp_path):
    G, _, processors, fitted, x, target, _ = _case()
    options = {"loss_fn": MixLoss(RATE), "finetune_steps": 2, "tolerance": 0.05}
    whole = prune_graph(G, processors, fitted, x, target, rounds=2, **options)
    lines = []
    prune_graph(G, processors, fitted, x, target, rounds=1, state_dir=tmp_path, **options)
    resumed = prune_graph(
        G, processors, fitted, x, target, rounds=2, state_dir=tmp_path, log=lines.append, **options
    )
    assert lines[0].startswith("resuming after round 1")
    assert resumed.removed == whole.removed and len(resumed.rounds) == len(whole.rounds)
    assert resumed.loss_after == pytest.approx(whole.loss_after, rel=1e-5)
    with pytest.raises(ConfigError, match="holds a pruning search with"):
        prune_graph(G, processors, fitted, x, target, state_dir=tmp_path, method="brute")


@pytest.mark.parametrize("tolerance", [-0.01, math.nan, math.inf])
def test_a_bad_tolerance_is_refused(tolerance):
    with pytest.raises(ConfigError, match="prune tolerance must be"):
        PruneConfig(tolerance=tolerance).check()


def test_other_bad_options_and_graphs():
    G, _, processors, fitted, x, target, _ = _case()
    with pytest.raises(ConfigError, match="prune method must be one of"):
        prune_graph(G, processors, fitted, x, target, method="random")
    with pytest.raises(ConfigError, match="rounds=0 is out of range"):
        PruneConfig(rounds=0).check()
    plain = {t: {k: v for k, v in p.items() if k != "drywet_weight"} for t, p in fitted.items()}
    with pytest.raises(ConfigError, match="ranks processors by their dry/wet gates"):
        prune_graph(G, processors, plain, x, target, method="hybrid")
    # brute force needs no gates: it opens temporary ones
    result = prune_graph(
        G, processors, plain, x, target, loss_fn=MixLoss(RATE), method="brute", rounds=1,
        finetune_steps=0, tolerance=0.0,
    )  # fmt: skip
    assert "drywet_weight" not in result.parameters["imager"]
    only_io, _ = build_mixing_console(1, chain=["imager"])
    only_io.remove(only_io.find_node("track0/imager"))
    with pytest.raises(GraphError, match="no processor to prune"):
        prune_graph(only_io, {}, {}, x[:1], target)


def test_gate_sparsity_adds_the_weighted_l1_and_closes_unused_gates():
    G, sequence, processors, fitted, x, target, _ = _case()
    start = console_parameters(G, processors, RATE)
    identity = render_mix(G, processors, start, x, sequence)  # every processor is neutral
    penalty = GateSparsity(0.1, ramp=0.0)
    result = fit_parameters(
        G, processors, start, x, identity, lambda a, b: (a - b).pow(2).mean(), steps=20,
        lr=0.05, crop_len=None, progress=False, type_sequence=sequence,
        penalties={"sparsity": penalty},
    )  # fmt: skip
    assert result.penalty_history["sparsity"][0] == pytest.approx(0.1 * float(gate_l1(start)))
    # neutral imagers and faders change nothing, so the penalty alone moves their gates down
    for node_type in CHAIN:
        moved = result.parameters[node_type]["drywet_weight"] - start[node_type]["drywet_weight"]
        assert bool((moved < -0.3).all()), node_type  # Adam: about lr a step, cosine-decayed
    assert GateSparsity().weight_at(0.25) == pytest.approx(0.25e-4)
