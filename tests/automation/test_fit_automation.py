"""Fitting automation: curves recovered from a ride made by numpy, the smoothness penalty."""

import numpy as np
import pytest
import torch

from grafx.automation import Timeline, automate_parameters, curve_keys, static_parameters
from grafx.automation.smoothness import CurveSmoothness, curve_roughness
from grafx.errors import ConfigError
from grafx.fit import GraphRenderer, fit_parameters
from grafx.fit.penalty import PenaltyContext
from grafx.presets import build_mixing_console, console_parameters, console_processors

SR = 1000
SECONDS = 4.0


def _mse(estimate, target):
    return (estimate - target).square().mean()


def _ride(times):
    """A fader ride in dB: hold, dip 8 dB, come back up (not a grafx curve: a numpy envelope)."""
    return np.interp(times, [0, 1.2, 1.8, 2.6, 3.2, SECONDS], [0, 0, -8, -8, -2, -2])


def test_a_fitted_fader_ride_follows_the_true_one():
    torch.manual_seed(0)
    chain = ("gain_pan",)
    G, sequence = build_mixing_console(num_tracks=1, chain=chain)
    processors = console_processors(chain)
    length = int(SR * SECONDS)
    stems = torch.randn(1, 2, length, dtype=torch.float64) * 0.1
    times = np.arange(length) / SR
    target = stems[0] * torch.from_numpy(10 ** (_ride(times) / 20))
    timeline = Timeline.uniform(SECONDS, 0.25, SR)
    start = {"gain_pan": {"log_gain": torch.zeros(1, 2, dtype=torch.float64)}}
    params = automate_parameters(start, processors, ["gain_pan"], timeline)
    result = fit_parameters(
        G,
        processors,
        params,
        stems,
        target,
        _mse,
        steps=300,
        lr=0.05,
        crop_len=1000,
        warmup_len=0,
        type_sequence=sequence,
        progress=False,
        timeline=timeline,
    )
    fitted_db = result.parameters["gain_pan"]["log_gain"][0] * 20 / np.log(10)  # (2, K)
    true_db = torch.from_numpy(_ride(np.array(timeline.knot_times)))
    for channel in range(2):
        error = (fitted_db[channel] - true_db).square().mean().sqrt()
        assert float(error) < 1.0, (channel, fitted_db[channel], true_db)


def test_a_crop_batch_renders_each_crop_on_its_own_stretch():
    chain = ("gain_pan",)
    G, sequence = build_mixing_console(num_tracks=1, chain=chain)
    processors = console_processors(chain)
    length = 2000
    stems = torch.randn(1, 2, length, dtype=torch.float64)
    timeline = Timeline.uniform(length / SR, 0.5, SR)
    curves = {"gain_pan": {"log_gain": torch.randn(1, 2, timeline.num_knots, dtype=torch.float64)}}
    target = GraphRenderer(G, processors, sequence)(stems, curves, timeline)[0]
    # Fitting from the true curves: the loss over several crops per step is exactly zero.
    result = fit_parameters(
        G,
        processors,
        curves,
        stems,
        target,
        _mse,
        steps=2,
        lr=1e-9,
        crop_len=300,
        warmup_len=50,
        crops_per_step=3,
        type_sequence=sequence,
        progress=False,
        timeline=timeline,
    )
    assert max(result.history) < 1e-28


def test_smoothness_matches_numpy():
    rng = np.random.default_rng(1)
    curve = rng.standard_normal((3, 2, 7))
    tv = np.abs(np.diff(curve, axis=-1)).sum(-1).mean()
    bend = np.square(np.diff(curve, 2, axis=-1)).sum(-1).mean()
    t = torch.from_numpy(curve)
    assert float(curve_roughness(t, "tv")) == pytest.approx(tv, rel=1e-12)
    assert float(curve_roughness(t, "curvature")) == pytest.approx(bend, rel=1e-12)
    assert float(curve_roughness(t[..., :1] * torch.ones(7))) == 0.0
    penalty = CurveSmoothness(0.5, ["gain_pan/log_gain", "pan/z_pan"])
    params = {"gain_pan": {"log_gain": t}, "pan": {"z_pan": t[:, :1] * 2}}
    value = penalty.value(PenaltyContext(0, 0.0, params, None))
    expected = tv + np.abs(np.diff(2 * curve[:, :1], axis=-1)).sum(-1).mean()
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_the_penalty_keeps_a_static_target_static():
    torch.manual_seed(0)
    chain = ("gain_pan",)
    G, sequence = build_mixing_console(num_tracks=1, chain=chain)
    processors = console_processors(chain)
    stems = torch.randn(1, 2, 2000, dtype=torch.float64) * 0.1
    target = stems[0] * 0.5
    timeline = Timeline.uniform(2.0, 0.25, SR)
    params = automate_parameters(
        {"gain_pan": {"log_gain": torch.zeros(1, 2, dtype=torch.float64)}},
        processors,
        ["gain_pan"],
        timeline,
    )
    names = curve_keys(params, processors)
    assert names == ["gain_pan/log_gain"]
    result = fit_parameters(
        G,
        processors,
        params,
        stems,
        target,
        _mse,
        steps=300,
        lr=0.1,
        crop_len=400,
        warmup_len=0,
        type_sequence=sequence,
        progress=False,
        timeline=timeline,
        penalties={"smooth": CurveSmoothness(1e-3, names)},
    )
    curve = result.parameters["gain_pan"]["log_gain"]
    assert float(curve_roughness(curve)) < 0.05  # nats over the whole song
    static = static_parameters(result.parameters, processors)["gain_pan"]["log_gain"]
    np.testing.assert_allclose(static.numpy(), np.log(0.5), atol=0.03)


def test_automating_a_type_that_takes_no_curve_is_refused():
    chain = ("imager", "gain_pan")
    G, _ = build_mixing_console(num_tracks=1, chain=chain)
    processors = console_processors(chain)
    params = console_parameters(G, processors, 44100)
    timeline = Timeline((0.0, 1.0), 44100)
    # The imager takes no curve, but its gate may move: only the gate becomes a curve.
    moving = automate_parameters(params, processors, ["imager"], timeline)
    assert curve_keys(moving, processors) == ["imager/drywet_weight"]
    ungated = {
        **params,
        "imager": {k: v for k, v in params["imager"].items() if k != "drywet_weight"},
    }
    with pytest.raises(ConfigError, match="cannot automate type 'imager'.*'gain_pan'"):
        automate_parameters(ungated, processors, ["imager"], timeline)
    with pytest.raises(ConfigError, match="cannot automate type 'delay'"):
        automate_parameters(params, processors, ["delay"], timeline)
    with pytest.raises(ConfigError, match="kind must be"):
        CurveSmoothness(1.0, [], kind="wiggly")
