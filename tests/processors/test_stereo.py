import math

import pytest
import torch

from grafx.errors import AudioError, ParameterError
from grafx.processors import (
    MidSideToStereo,
    MonoToStereo,
    SideGainImager,
    StereoGain,
    StereoToMidSide,
)


def rand(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_stereo_gain_is_the_seed_formula():
    x, g = rand(3, 2, 50), rand(3, 2, seed=1)
    expected = x * torch.exp(g)[..., None]  # the seed page's StereoGain, line for line
    torch.testing.assert_close(StereoGain()(x, g), expected, rtol=0, atol=0)
    mono = rand(3, 1, 50)
    y = StereoGain()(mono, g)
    assert y.shape == (3, 2, 50)
    torch.testing.assert_close(y[:, 1], mono[:, 0] * torch.exp(g[:, 1:2]))
    assert StereoGain().parameter_size() == {"log_gain": 2}


def test_stereo_gain_has_no_pan_law_of_its_own():
    # Audit: the docstring called StereoGain a panner; its two gains are free, and only the
    # physical settings follow the constant-power law (l^2 + r^2 = 2 * 10^(G/10), unity centre).
    x = torch.ones(1, 1, 4, dtype=torch.float64)
    g = torch.tensor([[math.log(2.0), math.log(0.5)]], dtype=torch.float64)
    y = StereoGain()(x, g)
    torch.testing.assert_close(y[0, :, 0], torch.tensor([2.0, 0.5], dtype=torch.float64))
    proc = StereoGain()
    for pan in (-0.9, -0.3, 0.0, 0.6):
        gains = proc.settings_to_parameters({"gain_db": -3.0, "pan": pan})["log_gain"].exp()
        assert float(gains.square().sum()) == pytest.approx(2 * 10 ** (-3.0 / 10), rel=1e-12)
    doc = " ".join(StereoGain.__doc__.split())
    assert "no pan law in the processor" in doc and "so this also pans" not in doc


def test_side_gain_imager_values():
    x = rand(3, 2, 40)
    torch.testing.assert_close(SideGainImager()(x, torch.zeros(3, 1, dtype=torch.float64)), x)
    g = torch.tensor([[0.0], [math.log(2.0)], [-30.0]], dtype=torch.float64)
    y = SideGainImager()(x, g)
    left, right = x[:, 0], x[:, 1]
    s = torch.exp(g) * (left - right)
    torch.testing.assert_close(y[:, 0], 0.5 * (left + right + s))
    torch.testing.assert_close(y[:, 1], 0.5 * (left + right - s))
    torch.testing.assert_close(y[2, 0], y[2, 1])  # side gain ~0 collapses to mono


def test_midside_round_trip_exact_and_list_return():
    x = rand(4, 2, 64)
    for normalize in (True, False):
        outs = StereoToMidSide(normalize)(x)
        assert isinstance(outs, list) and [o.shape for o in outs] == [(4, 1, 64)] * 2
        c = 1 / math.sqrt(2) if normalize else 1.0
        torch.testing.assert_close(outs[0][:, 0], c * (x[:, 0] + x[:, 1]))
        torch.testing.assert_close(outs[1][:, 0], c * (x[:, 0] - x[:, 1]))
        back = MidSideToStereo(normalize)(*outs)
        torch.testing.assert_close(back, x, rtol=0, atol=1e-15)
    # normalized mid/side preserves energy
    mid, side = StereoToMidSide()(x)
    torch.testing.assert_close(mid.square().sum() + side.square().sum(), x.square().sum())


def test_mono_to_stereo():
    x = rand(2, 1, 30)
    y = MonoToStereo()(x)
    assert y.shape == (2, 2, 30)
    torch.testing.assert_close(y[:, 0], x[:, 0])
    torch.testing.assert_close(y[:, 1], x[:, 0])
    y[:, 0] += 1  # an independent copy, not a view of the input
    torch.testing.assert_close(y[:, 1], x[:, 0])


@pytest.mark.parametrize(
    ("processor", "inputs"),
    [
        (SideGainImager(), [(3, 1, 8)]),
        (MonoToStereo(), [(3, 2, 8)]),
        (StereoToMidSide(), [(3, 1, 8)]),
        (MidSideToStereo(), [(3, 2, 8), (3, 2, 8)]),
        (StereoGain(), [(3, 3, 8)]),
        (StereoGain(), [(3, 8)]),
    ],
)
def test_wrong_channels_raise_audio_error(processor, inputs):
    signals = [torch.zeros(s) for s in inputs]
    params = {k: torch.zeros(3, v) for k, v in processor.parameter_size().items()}
    with pytest.raises(AudioError, match=type(processor).__name__):
        processor(*signals, **params)


@pytest.mark.parametrize("processor", [StereoGain(), SideGainImager()])
def test_wrong_parameter_shape(processor):
    with pytest.raises(ParameterError, match=f"{type(processor).__name__}.*log_gain"):
        processor(torch.zeros(2, 2, 8), log_gain=torch.zeros(2, 3))


@pytest.mark.parametrize("processor", [StereoGain(), SideGainImager()])
def test_gradcheck_extremes_batched_dtype(processor):
    size = processor.parameter_size()["log_gain"]
    x = rand(3, 2, 32).requires_grad_()
    g = rand(3, size, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: processor(a, log_gain=b), (x, g))
    x0 = x.detach().clone()
    for value in (-20.0, 20.0):
        gv = torch.full((3, size), value, dtype=torch.float64, requires_grad=True)
        xv = x.detach().clone().requires_grad_()
        y = processor(xv, log_gain=gv)
        y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(gv.grad).all()
        assert torch.isfinite(xv.grad).all()
    torch.testing.assert_close(x.detach(), x0)
    g = g.detach()
    one_by_one = torch.cat([processor(x0[i : i + 1], log_gain=g[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(processor(x0, log_gain=g), one_by_one)
    assert processor(x0.float(), log_gain=g.float()).dtype == torch.float32
    assert processor(x0, log_gain=g).dtype == torch.float64
