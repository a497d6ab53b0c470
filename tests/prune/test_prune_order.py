"""The hybrid's ranking: by measured cost (default, on the song or an excerpt) or by gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError
from grafx.fit import render_mix
from grafx.gates import set_node_gate
from grafx.losses import MixLoss
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import PruneConfig, prune_graph
from grafx.prune.search import _loudest_stretch, _ranking, _search_round

RATE = 16000


class Additive:
    """A loss whose every removal adds a known cost: the search's answer is known exactly."""

    def __init__(self, costs: dict[int, float]):
        self.costs, self.count = costs, 0

    def loss(self, closed: set[int]) -> float:
        self.count += 1
        return 1.0 + sum(self.costs[n] for n in closed)

    def accepts(self, closed: set[int], limit: float) -> bool:
        return self.loss(closed) <= limit


# node 1: a low gate but a costly removal; 2 and 3: high gates, cheap; 4: needed
COSTS = {1: 0.08, 2: 0.03, 3: 0.03, 4: 0.5}
GATES = {1: 0.2, 2: 0.9, 3: 0.91, 4: 0.95}


def _removed(tolerance: float, order: str) -> list[int]:
    config = PruneConfig(tolerance=tolerance, method="hybrid", order=order, patience=3)
    evaluator = Additive(COSTS)
    ranked = _ranking(evaluator, list(COSTS), GATES, config)
    return sorted(_search_round(evaluator, list(COSTS), ranked, 1.0 + tolerance, config))


def test_gate_order_is_not_monotone_in_the_tolerance():
    # the larger tolerance spends its budget on node 1 and has no room left for 2 and 3
    assert _removed(0.07, "gate") == [2, 3]
    assert _removed(0.10, "gate") == [1]


def test_cost_order_removes_the_most_a_budget_allows_and_is_monotone():
    removed = {tau: _removed(tau, "cost") for tau in (0.0, 0.02, 0.07, 0.10, 0.2, 1.0)}
    assert removed == {
        0.0: [],
        0.02: [],
        0.07: [2, 3],
        0.10: [2, 3],
        0.2: [1, 2, 3],
        1.0: [1, 2, 3, 4],
    }
    taus = sorted(removed)
    for small, large in zip(taus, taus[1:], strict=False):
        assert set(removed[small]) <= set(removed[large])


def test_cost_ranking_measures_each_candidate_once_and_breaks_ties_by_gate():
    config = PruneConfig(method="hybrid", order="cost")
    evaluator = Additive(COSTS)
    assert _ranking(evaluator, list(COSTS), GATES, config) == [2, 3, 1, 4]
    assert evaluator.count == len(COSTS)
    assert _ranking(evaluator, list(COSTS), GATES, PruneConfig(order="gate")) == [1, 2, 3, 4]
    with pytest.raises(ConfigError, match="prune order must be one of"):
        PruneConfig(order="random").check()


def _neutral_behind_low_gates():
    """Faders that matter behind low gates (0.3), neutral imagers behind high ones (0.99)."""
    chain = ["imager", "gain_pan"]
    G, sequence = build_mixing_console(3, chain=chain)
    processors = console_processors(chain)
    settings = {
        f"track{i}/gain_pan": {"gain_db": g, "pan": p}
        for i, (g, p) in enumerate([(-9.0, -0.5), (6.0, 0.4), (-4.0, 0.8)])
    }
    hidden = console_parameters(G, processors, RATE, settings)
    for i in range(3):
        set_node_gate(hidden, G, f"track{i}/gain_pan", 0.3)
    fitted = {t: {k: v.clone() for k, v in p.items()} for t, p in hidden.items()}
    fitted["gain_pan"]["log_gain"] += 0.02  # not a perfect fit: the loss is above 0
    x = torch.randn(3, 2, 8192, generator=torch.Generator().manual_seed(2)) * 0.2
    target = render_mix(G, processors, hidden, x, sequence)
    imagers = {G.find_node(f"track{i}/imager") for i in range(3)}
    return G, sequence, processors, fitted, x, target, imagers


def test_cost_order_finds_neutral_processors_that_the_gate_order_never_tries():
    G, sequence, processors, fitted, x, target, imagers = _neutral_behind_low_gates()
    common = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "tolerance": 0.01, "rounds": 2,
        "finetune_steps": 0, "method": "hybrid", "patience": 3,
    }  # fmt: skip
    by_gate = prune_graph(G, processors, fitted, x, target, order="gate", **common)
    assert by_gate.removed == []  # three faders refused in a row end the round
    by_cost = prune_graph(G, processors, fitted, x, target, order="cost", **common)
    assert set(by_cost.removed) == imagers
    assert by_cost.loss_after <= 1.01 * by_cost.loss_before
    assert by_cost.removed_per_type == {"imager": (3, 3), "gain_pan": (0, 3)}


def test_recovery_removes_a_processor_whose_work_another_can_take_over():
    # faders on three tracks and on their bus: the fit split a -6 dB level into -3 and -3 dB
    # (one track a little off), so removing any one fader alone costs far more than the
    # tolerance, yet fine-tuning the others makes up for it exactly
    G, sequence = build_mixing_console(3, num_buses=1, chain=["gain_pan"])
    processors = console_processors(["gain_pan"])
    hidden = console_parameters(
        G, processors, RATE, {f"track{i}/gain_pan": {"gain_db": -6.0} for i in range(3)}
    )
    set_node_gate(hidden, G, "bus0/gain_pan", 0.0)
    settings = {f"track{i}/gain_pan": {"gain_db": -3.0} for i in range(3)}
    settings["track0/gain_pan"] = {"gain_db": -2.5}
    settings["bus0/gain_pan"] = {"gain_db": -3.0}
    fitted = console_parameters(G, processors, RATE, settings)
    x = torch.randn(3, 2, 8192, generator=torch.Generator().manual_seed(3)) * 0.2
    target = render_mix(G, processors, hidden, x, sequence)
    from grafx.fit import FitConfig

    common = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "tolerance": 0.05, "rounds": 4,
        "finetune_steps": 0, "sparsity": 0.0,
        "fit_config": FitConfig(lr=0.05, crop_len=None, progress=False, final_lr=1.0),
    }  # fmt: skip
    plain = prune_graph(G, processors, fitted, x, target, recover_steps=0, **common)
    assert plain.removed == []
    tried = prune_graph(G, processors, fitted, x, target, recover_steps=60, **common)
    assert tried.rounds[0].get("recovered") is True
    # the retries go on after the first removal: the three track faders go, one after the
    # other, and the bus fader takes over their -6 dB
    names = [G.nodes[n]["name"] for n in tried.rounds[0]["removed"]]
    assert sorted(names) == [f"track{i}/gain_pan" for i in range(3)]
    # and the pruned graph is within the tolerance, checked for real
    mix = render_mix(tried.graph, processors, tried.parameters, x)
    assert float(MixLoss(RATE)(mix, target)) == pytest.approx(tried.loss_after, rel=1e-5)
    assert tried.loss_after <= 1.05 * tried.loss_before
    with pytest.raises(ConfigError, match="recover_steps=-1 is out of range"):
        PruneConfig(recover_steps=-1).check()


def test_an_absolute_tolerance_allows_loss_before_plus_tau():
    G, sequence, processors, fitted, x, target, imagers = _neutral_behind_low_gates()
    common = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "rounds": 1, "finetune_steps": 0,
    }  # fmt: skip
    limits = {}
    for mode, tau in (("relative", 0.01), ("absolute", 0.01)):
        lines = []
        result = prune_graph(
            G, processors, fitted, x, target, tolerance=tau, tolerance_mode=mode,
            log=lines.append, **common,
        )  # fmt: skip
        limits[mode] = float(lines[0].split("(limit ")[1].split(")")[0])
        assert result.loss_after <= limits[mode] + 1e-6
    before = result.loss_before
    assert limits["relative"] == pytest.approx(1.01 * before, abs=1e-5)  # 5 decimals logged
    assert limits["absolute"] == pytest.approx(before + 0.01, abs=1e-5)
    with pytest.raises(ConfigError, match="prune tolerance_mode must be one of"):
        PruneConfig(tolerance_mode="percent").check()


def test_loudest_stretch_against_a_sliding_sum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1000)) * 0.1
    x[:, 613:700] *= 8.0  # a loud stretch
    energy = (x**2).sum(0)
    length = 120
    sums = [energy[i : i + length].sum() for i in range(1000 - length + 1)]
    start, stop = _loudest_stretch(torch.from_numpy(x).float(), length)
    assert (start, stop) == (int(np.argmax(sums)), int(np.argmax(sums)) + length)
    assert 580 <= start <= 613 and stop >= 700
    assert _loudest_stretch(torch.from_numpy(x), 1000) == (0, 1000)
    assert _loudest_stretch(torch.from_numpy(x), 5000) == (0, 1000)


def test_excerpt_ranking_removes_the_same_and_accepts_on_the_whole_song():
    G, sequence, processors, fitted, x, target, imagers = _neutral_behind_low_gates()
    common = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "tolerance": 0.01, "rounds": 2,
        "finetune_steps": 0, "method": "hybrid", "patience": 3, "order": "cost",
    }  # fmt: skip
    whole = prune_graph(G, processors, fitted, x, target, **common)
    excerpt = prune_graph(G, processors, fitted, x, target, rank_samples=4096, **common)
    assert set(excerpt.removed) == set(whole.removed) == imagers
    first, first_whole = excerpt.rounds[0], whole.rounds[0]
    assert first["excerpt_renders"] == 6  # each of the 6 processors ranked once, on 4096
    # the full-length checks are those of the whole-song search less its 6 ranking renders
    assert first["renders"] == first_whole["renders"] - 6
    assert "excerpt_renders" not in first_whole
    mix = render_mix(excerpt.graph, processors, excerpt.parameters, x)
    real = float(MixLoss(RATE)(mix, target))
    assert real == pytest.approx(excerpt.loss_after, rel=1e-5)
    assert real <= 1.01 * excerpt.loss_before
    # an excerpt as long as the song is the whole song
    same = prune_graph(G, processors, fitted, x, target, rank_samples=x.shape[-1], **common)
    assert same.removed == whole.removed and same.rounds[0]["renders"] == first_whole["renders"]


def test_rank_samples_is_checked_and_kept_with_a_saved_search(tmp_path):
    with pytest.raises(ConfigError, match="rank_samples=-1 is out of range"):
        PruneConfig(rank_samples=-1).check()
    G, sequence, processors, fitted, x, target, _ = _neutral_behind_low_gates()
    common = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "rounds": 1, "finetune_steps": 0,
        "state_dir": tmp_path / "state",
    }  # fmt: skip
    prune_graph(G, processors, fitted, x, target, rank_samples=4096, **common)
    with pytest.raises(ConfigError, match="rank_samples"):
        prune_graph(G, processors, fitted, x, target, rank_samples=2048, **common)
