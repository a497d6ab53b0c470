"""Rendering automated parameters: curves against numpy, constant curves, crops, gradients."""

import numpy as np
import pytest
import torch

from grafx.automation import Timeline
from grafx.errors import ParameterError
from grafx.fit import GraphRenderer
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors import Panner

SR = 200
LENGTH = 400  # 2 s


def _console(chain=("eq", "gain_pan"), tracks=2, **overrides):
    G, sequence = build_mixing_console(num_tracks=tracks, chain=chain)
    processors = console_processors(chain, **overrides)
    return G, processors, GraphRenderer(G, processors, sequence)


def _stems(tracks=2, dtype=torch.float32):
    torch.manual_seed(0)
    return torch.randn(tracks, 2, LENGTH, dtype=dtype)


def _curve(static, knots):
    """A curve that holds ``static`` at every knot: ``(N, *shape, K)``."""
    return static[..., None].expand(*static.shape, knots).clone()


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_constant_curves_render_bit_identically(method):
    G, processors, renderer = _console(("eq", "gain_pan", "pan"), pan=Panner())
    params = console_parameters(G, processors, SR)
    params["gain_pan"]["log_gain"] = torch.randn(2, 2) * 0.3
    params["pan"].update(z_pan=torch.randn(2, 1), log_gain=torch.randn(2, 1) * 0.2)
    params["pan"]["drywet_weight"] = torch.randn(2, 1)
    stems = _stems()
    static, _ = renderer(stems, params)
    timeline = Timeline.uniform(LENGTH / SR, 0.5, SR, method=method)
    moving = {  # every gain, pan and gate as a flat curve
        **params,
        "gain_pan": {k: _curve(v, timeline.num_knots) for k, v in params["gain_pan"].items()},
        "pan": {k: _curve(v, timeline.num_knots) for k, v in params["pan"].items()},
    }
    automated, _ = renderer(stems, moving, timeline=timeline)
    assert torch.equal(static, automated)


def test_a_fader_ride_matches_numpy():
    G, processors, renderer = _console(("gain_pan",), tracks=1)
    knots = (0.0, 0.5, 1.25, 2.0)
    ride = np.array([[-1.0, 0.5], [0.0, 0.0], [0.7, -0.3], [-0.2, 0.1]]).T  # (2 channels, K)
    params = {"gain_pan": {"log_gain": torch.tensor(ride, dtype=torch.float64)[None]}}
    stems = _stems(1, torch.float64)
    out, _ = renderer(stems, params, timeline=Timeline(knots, SR))
    t = np.arange(LENGTH) / SR
    gains = np.stack([np.exp(np.interp(t, knots, ride[c])) for c in range(2)])
    np.testing.assert_allclose(out.numpy(), stems[0].numpy() * gains, rtol=1e-12, atol=1e-14)


def test_a_pan_sweep_follows_the_law_sample_by_sample():
    G, processors, renderer = _console(("pan",), tracks=1, pan=Panner())
    pans = np.array([-0.9, 0.0, 0.8])
    z = torch.atanh(torch.tensor(pans, dtype=torch.float64))
    params = {
        "pan": {"z_pan": z.reshape(1, 1, 3), "log_gain": torch.zeros(1, 1, 3, dtype=torch.float64)}
    }
    mono = torch.ones(1, 1, LENGTH, dtype=torch.float64)
    out, _ = renderer(mono, params, timeline=Timeline((0.0, 1.0, 2.0), SR))
    pan_t = np.tanh(np.interp(np.arange(LENGTH) / SR, [0, 1, 2], z.numpy()))
    theta = np.pi / 4 * (pan_t + 1)
    np.testing.assert_allclose(out.numpy(), np.stack([np.cos(theta), np.sin(theta)]), atol=1e-12)


def test_a_crop_sees_its_stretch_of_the_curve():
    G, processors, renderer = _console(("gain_pan",), tracks=2)
    timeline = Timeline.uniform(LENGTH / SR, 0.25, SR, method="cubic")
    params = {"gain_pan": {"log_gain": torch.randn(2, 2, timeline.num_knots, dtype=torch.float64)}}
    stems = _stems(2, torch.float64)
    whole, _ = renderer(stems, params, timeline=timeline)
    start, stop = 123, 311
    crop, _ = renderer(stems[..., start:stop], params, timeline=timeline.crop(start))
    torch.testing.assert_close(crop, whole[..., start:stop], rtol=1e-12, atol=1e-14)


def test_batched_sources_share_the_curves():
    G, processors, renderer = _console(("gain_pan",), tracks=2)
    timeline = Timeline.uniform(LENGTH / SR, 0.5, SR)
    params = {"gain_pan": {"log_gain": torch.randn(2, 2, timeline.num_knots)}}
    a, b = _stems(2), _stems(2) * 0.5 + 0.1
    batch, _ = renderer(torch.stack([a, b]), params, timeline=timeline)
    for row, stems in enumerate((a, b)):
        one, _ = renderer(stems, params, timeline=timeline)
        torch.testing.assert_close(batch[row], one)


def test_a_moving_node_gate_blends_sample_by_sample():
    G, processors, renderer = _console(("gain_pan",), tracks=1)
    gate = torch.tensor([[[-4.0, 4.0]]], dtype=torch.float64)  # (1 node, 1, 2 knots)
    params = {
        "gain_pan": {
            "log_gain": torch.full((1, 2), 0.5, dtype=torch.float64),
            "drywet_weight": gate,
        }
    }
    stems = _stems(1, torch.float64)
    out, _ = renderer(stems, params, timeline=Timeline((0.0, 2.0), SR))
    w = 1 / (1 + np.exp(-np.interp(np.arange(LENGTH) / SR, [0, 2], [-4, 4])))
    x = stems[0].numpy()
    np.testing.assert_allclose(out.numpy(), w * np.exp(0.5) * x + (1 - w) * x, atol=1e-12)


def test_gradcheck_through_a_render():
    G, processors, renderer = _console(("gain_pan", "pan"), tracks=1, pan=Panner())
    stems = torch.randn(1, 2, 48, dtype=torch.float64)
    timeline = Timeline((0.0, 0.1, 0.24), SR, method="cubic")

    def render(gains, pans):
        params = {"gain_pan": {"log_gain": gains}, "pan": {"z_pan": pans, "log_gain": pans * 0}}
        return renderer(stems, params, timeline=timeline)[0]

    gains = torch.randn(1, 2, 3, dtype=torch.float64, requires_grad=True)
    pans = torch.randn(1, 1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(render, (gains, pans))


def test_curve_errors_name_the_type_and_key():
    G, processors, renderer = _console(("imager", "gain_pan"), tracks=1)
    params = console_parameters(G, processors, SR)
    timeline = Timeline((0.0, 1.0, 2.0), SR)
    imager = {
        **params["imager"],
        "log_gain": params["imager"]["log_gain"][..., None].expand(-1, -1, 3),
    }
    with pytest.raises(ParameterError, match="'imager'.*'log_gain'.*not take it as time-varying"):
        renderer(_stems(1), {**params, "imager": imager}, timeline=timeline)
    moving = {**params, "gain_pan": {"log_gain": torch.zeros(1, 2, 3)}}
    with pytest.raises(ParameterError, match="no timeline"):
        renderer(_stems(1), moving)
    moving = {**params, "gain_pan": {"log_gain": torch.zeros(1, 2, 4)}}
    with pytest.raises(ParameterError, match="4 values per row but the timeline has 3 knots"):
        renderer(_stems(1), moving, timeline=timeline)


def test_a_control_signal_of_the_wrong_length_is_refused_by_name():
    from grafx.processors import StereoGain

    with pytest.raises(ParameterError, match=r"StereoGain: control signal 'log_gain' has shape"):
        StereoGain()(torch.randn(2, 2, 50), log_gain=torch.zeros(2, 2, 49))
    out = StereoGain()(torch.ones(2, 2, 50), log_gain=torch.zeros(2, 2, 50))
    assert torch.equal(out, torch.ones(2, 2, 50))
