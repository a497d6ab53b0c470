import math

import pytest
import torch
from torch import nn

from grafx.data import GRAFX
from grafx.errors import AudioError, ConfigError, GraphFileError, ParameterError
from grafx.fit import crop_bounds, evaluate_loss, fit_parameters, load_checkpoint
from grafx.losses import StereoSTFTLoss
from grafx.render import GraphRenderer


class Gain(nn.Module):
    """Test processor: y = exp(log_gain) * x, one gain per channel."""

    def forward(self, x, log_gain):
        return x * torch.exp(log_gain)[..., None]

    def parameter_size(self):
        return {"log_gain": (2,)}


def two_track_graph():
    G = GRAFX(config=["gain"])
    out = G.add("out")
    for _ in range(2):
        _, end = G.add_serial_chain(["in", "gain"])
        G.connect(end, out)
    return G


def sources(length=2048):
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 2, length, generator=g) * torch.tensor([[[1.0]], [[0.3]]])


HIDDEN = torch.tensor([[0.4, -0.5], [-0.7, 0.2]])


def setup(length=2048):
    G, processors = two_track_graph(), {"gain": Gain()}
    x = sources(length)
    target = GraphRenderer(G, processors)(x, {"gain": {"log_gain": HIDDEN}})[0].detach()
    start = {"gain": {"log_gain": torch.zeros(2, 2)}}
    return G, processors, x, target, start


LOSS = StereoSTFTLoss(fft_sizes=(64, 256))
FAST = {"progress": False, "crop_len": 1024, "warmup_len": 128}


def test_fit_recovers_hidden_gains_and_lowers_the_loss():
    G, processors, x, target, start = setup()
    result = fit_parameters(G, processors, start, x, target, LOSS, steps=80, lr=0.08, **FAST)
    assert result.steps == 80 and len(result.history) == 80
    fitted = result.parameters["gain"]["log_gain"]
    torch.testing.assert_close(fitted, HIDDEN, atol=0.03, rtol=0)
    renderer = GraphRenderer(G, processors)
    before = evaluate_loss(renderer, LOSS, start, x, target)
    after = evaluate_loss(renderer, LOSS, result.parameters, x, target)
    assert after < before / 10
    assert start["gain"]["log_gain"].abs().sum() == 0  # the input is not modified


def test_same_seed_same_run_and_crops_depend_on_seed():
    G, processors, x, target, start = setup()
    a = fit_parameters(G, processors, start, x, target, LOSS, steps=5, seed=3, **FAST)
    b = fit_parameters(G, processors, start, x, target, LOSS, steps=5, seed=3, **FAST)
    assert a.history == b.history
    assert crop_bounds(2048, 1024, 128, 3, 0) != crop_bounds(2048, 1024, 128, 4, 0)


def test_interrupted_fit_resumes_with_the_same_steps(tmp_path):
    G, processors, x, target, start = setup()
    opts = dict(FAST, lr=0.05, optimizer="adamw", weight_decay=0.01, steps=8)
    full = fit_parameters(G, processors, start, x, target, LOSS, **opts)
    ckpt = str(tmp_path / "ckpt")

    def ctrl_c(step, loss):
        if step == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_parameters(
            G,
            processors,
            start,
            x,
            target,
            LOSS,
            checkpoint=ckpt,
            callback=ctrl_c,
            checkpoint_every=3,
            **opts,
        )
    assert load_checkpoint(ckpt)["step"] == 5  # saved on Ctrl-C
    assert (tmp_path / "ckpt.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    resumed = fit_parameters(G, processors, start, x, target, LOSS, checkpoint=ckpt, **opts)
    assert resumed.history == full.history
    torch.testing.assert_close(resumed.parameters, full.parameters, rtol=0, atol=0)
    state = load_checkpoint(ckpt)
    assert state["step"] == 8 and sorted(state["parameters"]) == ["gain/log_gain"]
    again = fit_parameters(G, processors, start, x, target, LOSS, checkpoint=ckpt, **opts)
    assert again.history == full.history  # a finished fit resumes to itself
    assert again.already_finished and again.steps == 8 and again.elapsed == 0.0


def test_learning_rate_follows_a_half_cosine():
    from grafx.fit import FitConfig
    from grafx.fit.config import learning_rate as _cosine_rate

    config = FitConfig(steps=5, lr=1.0, final_lr=0.2)
    rates = [_cosine_rate(config, s) for s in range(5)]
    expected = [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(5)]
    assert rates == pytest.approx(expected)
    assert rates[0] == 1.0 and rates[-1] == pytest.approx(0.2)


def test_early_stop_when_the_loss_stops_improving():
    G, processors, x, target, _ = setup()
    at_target = {"gain": {"log_gain": HIDDEN.clone()}}
    result = fit_parameters(
        G, processors, at_target, x, target, LOSS, steps=100, lr=1e-6, patience=3, **FAST
    )
    assert result.stopped_early and result.steps < 10


def test_several_crops_per_step_match_the_mean_of_single_crops():
    G, processors, x, target, start = setup()
    bounds = crop_bounds(2048, 512, 64, 0, 0, count=3)
    assert all(0 <= r <= s and s - r <= 64 and e - s == 512 for r, s, e in bounds)
    from grafx.fit.loop import _loss_on_crops

    mse = lambda a, b: ((a - b) ** 2).mean()  # noqa: E731
    params = {"gain": {"log_gain": torch.full((2, 2), 0.1)}}
    renderer = GraphRenderer(G, processors)
    batched = _loss_on_crops(renderer, mse, params, x, target, bounds)
    single = [_loss_on_crops(renderer, mse, params, x, target, [b]) for b in bounds]
    torch.testing.assert_close(batched, sum(single) / 3)


def test_errors():
    G, processors, x, target, start = setup()
    with pytest.raises(AudioError, match="2 'in' node\\(s\\) but 3 source\\(s\\)"):
        fit_parameters(G, processors, start, torch.zeros(3, 2, 2048), target, LOSS, **FAST)
    bad = target.clone()
    bad[0, 5] = float("nan")
    with pytest.raises(AudioError, match="target contain NaN/Inf"):
        fit_parameters(G, processors, start, x, bad, LOSS, **FAST)
    with pytest.raises(AudioError, match="L = 2048"):
        fit_parameters(G, processors, start, x, target[:, :100], LOSS, **FAST)
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        fit_parameters(G, processors, start, x, target, LOSS, optimizer="sgd", **FAST)
    with pytest.raises(ConfigError, match="lr=0"):
        fit_parameters(G, processors, start, x, target, LOSS, lr=0, **FAST)
    huge = {"gain": {"log_gain": torch.full((2, 2), 200.0)}}
    with pytest.raises(ParameterError, match="fit step 0: the loss is"):
        fit_parameters(G, processors, huge, x, target, LOSS, steps=1, **FAST)


def test_checkpoint_errors(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(GraphFileError, match="ckpt.safetensors: cannot read checkpoint"):
        load_checkpoint(tmp_path / "ckpt")
    save_file({"a": torch.zeros(1)}, tmp_path / "ckpt.safetensors", {"grafx": '{"format": "x"}'})
    with pytest.raises(GraphFileError, match="not a grafx fit checkpoint"):
        load_checkpoint(tmp_path / "ckpt")
    G, processors, x, target, start = setup()
    ckpt = str(tmp_path / "run")
    fit_parameters(G, processors, start, x, target, LOSS, steps=1, checkpoint=ckpt, **FAST)
    other = {"gain": {"log_gain": torch.zeros(2, 2)}, "extra": {"w": torch.zeros(2)}}
    with pytest.raises(ConfigError, match=r"another fit \(parameters.* --restart"):
        fit_parameters(G, processors, other, x, target, LOSS, steps=2, checkpoint=ckpt, **FAST)


def test_a_fit_that_is_not_on_a_terminal_logs_lines_not_redraws(caplog, capsys):
    import logging

    caplog.set_level(logging.INFO, logger="grafx.progress")
    G, processors, x, target, start = setup()
    options = {**FAST, "progress": True}
    result = fit_parameters(G, processors, start, x, target, LOSS, steps=20, **options)
    assert result.steps == 20
    lines = [r.getMessage() for r in caplog.records if r.name == "grafx.progress"]
    assert len(lines) == 1 and lines[0].startswith("fit: step 20/20 (100%), loss ")
    assert lines[0].count("step/s") == 1
    assert "\r" not in capsys.readouterr().err


def poisoned_loss(bad_calls):
    """LOSS, but NaN at the calls (from 1) for which ``bad_calls(call)`` is true."""
    calls = []

    def loss(estimate, reference):
        calls.append(1)
        value = LOSS(estimate, reference)
        return value * float("nan") if bad_calls(len(calls)) else value

    return loss


def test_a_nan_step_rolls_back_to_the_last_good_state_at_a_lower_rate(tmp_path):
    from grafx.fit import FitConfig
    from grafx.fit.config import learning_rate

    G, processors, x, target, start = setup()
    opts = dict(FAST, steps=10, checkpoint_every=2, lr=0.05)
    clean = fit_parameters(G, processors, start, x, target, LOSS, **opts)
    ckpt = str(tmp_path / "nan")
    # Calls 1-3 are steps 0-2; call 4 (step 3) is NaN: back to the state kept at step 2.
    result = fit_parameters(
        G, processors, start, x, target, poisoned_loss(lambda c: c == 4), checkpoint=ckpt, **opts
    )
    assert result.steps == 10 and len(result.history) == 10
    assert all(math.isfinite(v) for v in result.history)
    assert torch.isfinite(result.parameters["gain"]["log_gain"]).all()
    assert result.rollbacks == [
        {"step": 3, "problem": "the loss is nan", "to_step": 2, "lr_factor": 0.5}
    ]
    assert result.lr_factor == 0.5
    # Steps 0-2 are the clean run's; from step 3 on the rate is halved, so the path differs.
    assert result.history[:3] == clean.history[:3] and result.history[3] != clean.history[3]
    state = load_checkpoint(ckpt)
    expected = 0.5 * learning_rate(FitConfig(**opts), 9)
    assert state["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(expected)
    assert state["extra"]["lr_factor"] == 0.5 and state["extra"]["rollbacks"] == result.rollbacks


def test_repeated_nan_steps_end_the_fit_with_the_good_state_checkpointed(tmp_path):
    G, processors, x, target, start = setup()
    ckpt = str(tmp_path / "nan")
    always = poisoned_loss(lambda c: c >= 4)  # steps 0-2 fine, NaN from step 3 on
    with pytest.raises(
        ParameterError,
        match=r"^fit step 2: the loss is nan; 3 rollback\(s\) to the last good state at a lower "
        r"learning rate did not help; the furthest good state \(step 3\) is checkpointed: "
        r"running the fit again resumes it at the lowered rate, or start afresh with a lower "
        r"learning rate \(e.g. --restart --lr 0.00125\)",
    ):
        fit_parameters(
            G, processors, start, x, target, always, steps=10, lr=0.02, checkpoint=ckpt,
            checkpoint_every=2, **FAST,
        )  # fmt: skip
    state = load_checkpoint(ckpt)
    assert state["step"] == 3 and all(math.isfinite(v) for v in state["history"])
    assert [r["to_step"] for r in state["extra"]["rollbacks"]] == [2, 2, 2]
    assert state["extra"]["lr_factor"] == 0.125
    # Running the same fit again resumes the good state at the lowered rate.
    resumed = fit_parameters(
        G, processors, start, x, target, LOSS, steps=10, lr=0.02, checkpoint=ckpt, **FAST
    )
    assert resumed.start == 3 and resumed.steps == 10 and resumed.lr_factor == 0.125
    assert resumed.history[:3] == state["history"]
    # Without rollbacks, the first NaN ends the fit.
    with pytest.raises(
        ParameterError,
        match=r"^fit step 3: the loss is nan; fit with a lower learning rate \(e.g. --lr 0.01\)",
    ):
        fit_parameters(
            G, processors, start, x, target, poisoned_loss(lambda c: c >= 4), steps=10,
            max_rollbacks=0, **FAST,
        )  # fmt: skip
