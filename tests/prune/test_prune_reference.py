"""The tolerance's reference loss: the graph as given (default) or the best seen so far."""

from __future__ import annotations

import json

import pytest
import torch

from grafx.errors import ConfigError
from grafx.fit import FitConfig, render_mix
from grafx.losses import MixLoss
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import PruneConfig, prune_graph

CHAIN = ["imager", "gain_pan"]
RATE = 16000
TAU = 0.3
FADERS = [(-1.5, 0.0), (6.0, 0.4), (-4.0, 0.8)]  # the hidden console's (gain dB, pan)


def _poor_fit():
    """Neutral imagers and faders 1 dB off: the first round's fine-tuning lowers the loss 4x."""
    G, sequence = build_mixing_console(3, chain=CHAIN)
    processors = console_processors(CHAIN)

    def faders(offset):
        return {
            f"track{i}/gain_pan": {"gain_db": g + offset, "pan": p}
            for i, (g, p) in enumerate(FADERS)
        }

    hidden = console_parameters(G, processors, RATE, faders(0.0))
    fitted = console_parameters(G, processors, RATE, faders(1.0))
    x = torch.randn(3, 2, 8192, generator=torch.Generator().manual_seed(2)) * 0.2
    target = render_mix(G, processors, hidden, x, sequence)
    options = {
        "loss_fn": MixLoss(RATE), "type_sequence": sequence, "tolerance": TAU, "rounds": 3,
        "finetune_steps": 60, "sparsity": 0.0,
        "fit_config": FitConfig(lr=0.05, crop_len=None, progress=False, final_lr=1.0),
    }  # fmt: skip
    return G, processors, fitted, x, target, options


def _best_so_far(result) -> list[float]:
    """The lowest loss known before each round: the given graph's, then each round's."""
    losses = [result.loss_before, *(r["loss"] for r in result.rounds)]
    return [min(losses[: k + 1]) for k in range(len(result.rounds))]


def test_the_best_reference_keeps_a_later_round_from_spending_what_fine_tuning_won():
    G, processors, fitted, x, target, options = _poor_fit()
    given = prune_graph(G, processors, fitted, x, target, **options)
    best = prune_graph(G, processors, fitted, x, target, reference="best", **options)
    # the same first round; its fine-tuning takes the loss far below the given graph's
    assert given.rounds[0]["removed"] == best.rounds[0]["removed"]
    won = best.rounds[0]["loss"]
    assert won < 0.5 * best.loss_before
    # with the fixed reference the next round spends that room: the result is within tau of
    # the graph it was given, yet far worse than the best graph the search itself found
    assert given.loss_after <= (1 + TAU) * given.loss_before
    assert len(given.removed) > len(best.removed)
    assert given.loss_after > (1 + TAU) * won
    # with the best-so-far reference every round's limit follows the lowest loss seen so far,
    # and the pruned graph is within tau of the best graph the search found
    for info, reference in zip(best.rounds, _best_so_far(best), strict=True):
        assert info["limit"] == pytest.approx((1 + TAU) * reference, rel=1e-12)
    assert best.loss_after <= (1 + TAU) * min(_best_so_far(best))
    mix = render_mix(best.graph, processors, best.parameters, x)
    assert float(MixLoss(RATE)(mix, target)) == pytest.approx(best.loss_after, rel=1e-5)
    # and the fixed reference's limit never moved
    assert {info["limit"] for info in given.rounds} == {(1 + TAU) * given.loss_before}


def test_the_reference_is_checked_and_kept_in_the_resumable_state(tmp_path):
    with pytest.raises(ConfigError, match="prune reference must be one of"):
        PruneConfig(reference="worst").check()
    G, processors, fitted, x, target, options = _poor_fit()
    options.update(rounds=1, finetune_steps=2)
    prune_graph(G, processors, fitted, x, target, state_dir=tmp_path, reference="best", **options)
    state = json.loads((tmp_path / "prune-state.json").read_text())
    assert state["reference"] == "best"
    with pytest.raises(ConfigError, match="holds a pruning search with"):
        prune_graph(G, processors, fitted, x, target, state_dir=tmp_path, **options)
    # a state written before the option existed reads as the fixed reference
    del state["reference"]
    (tmp_path / "prune-state.json").write_text(json.dumps(state))
    lines = []
    prune_graph(G, processors, fitted, x, target, state_dir=tmp_path, log=lines.append, **options)
    assert lines[0].startswith("resuming after round 1")
