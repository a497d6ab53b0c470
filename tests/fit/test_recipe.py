"""The console recipe's options, crops with warm-up, budgets and bad input of the fit loop."""

import pytest
import torch
from torch import nn

from grafx.data import GRAFX
from grafx.errors import AudioError, ConfigError
from grafx.fit import FitConfig, crop_bounds, fit_parameters, load_checkpoint
from grafx.fit.recipe import check_sample_rate, recipe_config, recipe_loss, recipe_penalties
from grafx.losses import BandLoss, MixLoss
from grafx.render import GraphRenderer


class Delay(nn.Module):
    """y[n] = g x[n - D] (zero initial state): a processor with memory of D samples."""

    D = 40

    def forward(self, x, log_gain):
        delayed = nn.functional.pad(x, (self.D, 0))[..., : x.shape[-1]]
        return delayed * torch.exp(log_gain)[..., None]

    def parameter_size(self):
        return {"log_gain": (1,)}


def mse(a, b):
    return ((a - b) ** 2).mean()


def setup(length=1000):
    G = GRAFX(config=["delay"])
    out = G.add("out")
    _, end = G.add_serial_chain(["in", "delay"])
    G.connect(end, out)
    processors = {"delay": Delay()}
    x = torch.randn(1, 2, length, generator=torch.Generator().manual_seed(0))
    params = {"delay": {"log_gain": torch.zeros(1, 1)}}
    target = GraphRenderer(G, processors)(x, params)[0].detach()
    return G, processors, x, target, params


def test_recipe_config_is_the_papers():
    config = recipe_config(30000)
    assert (config.optimizer, config.lr, config.crop_len, config.warmup_len) == (
        "adamw",
        0.01,
        84000,
        30000,
    )
    assert recipe_config(44100, crop_seconds=None).crop_len is None
    assert recipe_config(30000, steps=7, minutes=2.0).minutes == 2.0
    assert isinstance(recipe_loss(30000), BandLoss) and recipe_loss(30000).sample_rate == 30000
    paper = recipe_loss(30000, "paper")
    assert isinstance(paper, MixLoss) and paper.sample_rate == 30000
    penalties = recipe_penalties()
    assert penalties["gain_staging"].weight == 1e-3
    assert penalties["gain_staging"].types == ("eq", "reverb", "delay")
    assert recipe_penalties(node_types=["in", "gain_pan", "out"]) == {}


def test_recipe_errors():
    with pytest.raises(ConfigError, match="4000 Hz is below the 8000 Hz"):
        check_sample_rate(4000, "x.wav")
    with pytest.raises(ConfigError, match="below the 8000 Hz"):
        recipe_config(7999)
    with pytest.raises(ConfigError, match=r"crop \(1.0 s\) must be longer than its warm-up"):
        recipe_config(30000, crop_seconds=1.0, warmup_seconds=1.0)


def spy_fit(x, target, G, processors, params, **options):
    calls = []

    def loss(estimate, crop_target):
        calls.append((estimate.detach().clone(), crop_target.clone()))
        return ((estimate - crop_target) ** 2).mean()

    fit_parameters(G, processors, params, x, target, loss, progress=False, **options)
    assert len(calls) == options["steps"]
    return calls


def test_only_the_crop_after_the_warm_up_is_scored():
    G, processors, x, target, params = setup()
    full = GraphRenderer(G, processors)(x, params)[0].detach()
    options = {"steps": 4, "crop_len": 300, "warmup_len": Delay.D, "lr": 1e-9}
    calls = spy_fit(x, target, G, processors, params, **options)
    for step, (estimate, crop_target) in enumerate(calls):
        render, start, stop = crop_bounds(1000, 300, Delay.D, 0, step)[0]
        assert stop - start == 300 and estimate.shape == (2, 300)
        assert start - render == min(start, Delay.D)
        torch.testing.assert_close(crop_target, target[..., start:stop], rtol=0, atol=0)
        # The warm-up is as long as the memory: the scored crop equals the full render's.
        torch.testing.assert_close(estimate, full[..., start:stop], rtol=0, atol=1e-6)
    # Changing the target outside the scored crops (e.g. in the warm-up) changes nothing.
    scored = torch.zeros(1000, dtype=torch.bool)
    for step in range(4):
        _, start, stop = crop_bounds(1000, 300, Delay.D, 0, step)[0]
        scored[start:stop] = True
    assert not scored.all()
    changed = target.clone()
    changed[:, ~scored] = 5.0
    again = spy_fit(x, changed, G, processors, params, **options)
    for (e1, t1), (e2, t2) in zip(calls, again, strict=True):
        assert torch.equal(e1, e2) and torch.equal(t1, t2)


def test_without_warm_up_the_crop_misses_the_state():
    G, processors, x, target, params = setup()
    calls = spy_fit(x, target, G, processors, params, steps=3, crop_len=300, warmup_len=0)
    starts = [crop_bounds(1000, 300, 0, 0, i)[0][1] for i in range(3)]
    assert any(start >= Delay.D for start in starts)
    for (estimate, crop_target), start in zip(calls, starts, strict=True):
        if start >= Delay.D:
            # The first D samples of the crop are zeros (no history) instead of the signal.
            assert estimate[:, : Delay.D].abs().max() == 0
            assert crop_target[:, : Delay.D].abs().max() > 0


def test_step_and_time_budgets():
    G, processors, x, target, params = setup()
    common = {"crop_len": 300, "warmup_len": 40, "progress": False}
    timed = fit_parameters(G, processors, params, x, target, mse, steps=50, minutes=1e-9, **common)
    assert timed.steps == 1 and timed.stop_reason == "minutes"
    counted = fit_parameters(G, processors, params, x, target, mse, steps=3, **common)
    assert counted.steps == 3 and counted.stop_reason == "steps"
    with pytest.raises(ConfigError, match="steps=0 is out of range"):
        FitConfig(steps=0).check()
    with pytest.raises(ConfigError, match="minutes=0 is out of range"):
        FitConfig(minutes=0).check()


def test_time_budget_counts_the_time_before_a_resume(tmp_path):
    G, processors, x, target, params = setup()
    ckpt = str(tmp_path / "run")
    options = {"crop_len": 300, "warmup_len": 40, "progress": False, "checkpoint": ckpt}
    fit_parameters(G, processors, params, x, target, mse, steps=2, **options)
    state = load_checkpoint(tmp_path / "run")
    assert state["extra"]["elapsed"] > 0
    # A budget already spent before the resume: reported as finished, no step taken.
    resumed = fit_parameters(
        G, processors, params, x, target, mse, steps=10, minutes=1e-9, **options
    )
    assert resumed.steps == 2 and resumed.stop_reason == "minutes" and resumed.already_finished


def test_bad_input_is_refused():
    G, processors, x, target, params = setup()
    with pytest.raises(ConfigError, match="crop_len=2000 is longer than the audio \\(1000"):
        fit_parameters(G, processors, params, x, target, mse, crop_len=2000, progress=False)
    with pytest.raises(AudioError, match="every stem is silent"):
        fit_parameters(G, processors, params, 0 * x, target, mse, progress=False)
    with pytest.raises(AudioError, match="the target is silent"):
        fit_parameters(G, processors, params, x, 0 * target, mse, progress=False)
