import math

import numpy as np
import pytest
import torch

from grafx.errors import AudioError, ConfigError, ParameterError
from grafx.processors import Panner, StereoGain
from grafx.processors.functional.panner import pan_from_z_pan, z_pan_from_pan


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def z_of(pan):
    return z_pan_from_pan(torch.tensor([[pan]], dtype=torch.float64))


@pytest.mark.parametrize(
    ("law", "center_db", "hard_db"),
    [("constant_power", -3.0103, 0.0), ("-4.5dB", -4.5154, 0.0), ("linear", -6.0206, 0.0)],
)
def test_pan_laws_centre_and_edges(law, center_db, hard_db):
    x = torch.ones(1, 1, 4, dtype=torch.float64)
    zero = torch.zeros(1, 1, dtype=torch.float64)
    y = Panner(law)(x, z_pan=zero, log_gain=zero)
    assert 20 * math.log10(float(y[0, 0, 0])) == pytest.approx(center_db, abs=1e-3)
    torch.testing.assert_close(y[0, 0], y[0, 1])
    normalized = Panner(law, normalize_center=True)(x, z_pan=zero, log_gain=zero)
    torch.testing.assert_close(normalized, torch.ones(1, 2, 4, dtype=torch.float64))
    left = Panner(law)(x, z_pan=z_of(-0.999999), log_gain=zero)
    assert 20 * math.log10(float(left[0, 0, 0])) == pytest.approx(hard_db, abs=1e-3)
    assert float(left[0, 1, 0]) < 2e-3


def test_pan_laws_match_the_formulas_at_every_position():
    x = torch.ones(1, 1, 1, dtype=torch.float64)
    for p in np.linspace(-0.95, 0.95, 9):
        theta, t = np.pi / 4 * (p + 1), (p + 1) / 2
        expected = {
            "constant_power": (np.cos(theta), np.sin(theta)),
            "-4.5dB": (np.sqrt((1 - t) * np.cos(theta)), np.sqrt(t * np.sin(theta))),
            "linear": (1 - t, t),
        }
        for law, (gl, gr) in expected.items():
            y = Panner(law)(x, z_pan=z_of(p), log_gain=torch.zeros(1, 1, dtype=torch.float64))
            np.testing.assert_allclose(y[0, :, 0].numpy(), [gl, gr], rtol=1e-12)


def test_console_law_equals_stereo_gain_settings():
    # The console's gain/pan (StereoGain from gain_db/pan settings) is this Panner's
    # constant-power law normalised to unity in the centre.
    x = rand(1, 2, 32)
    for gain_db, pan in [(0.0, 0.0), (-6.0, -0.5), (3.0, 0.9)]:
        sg = StereoGain()
        lg = sg.settings_to_parameters({"gain_db": gain_db, "pan": pan})["log_gain"][None]
        panner = Panner("constant_power", normalize_center=True)
        p = {
            k: v[None]
            for k, v in panner.settings_to_parameters({"gain_db": gain_db, "pan": pan}).items()
        }
        torch.testing.assert_close(panner(x, **p), sg(x, log_gain=lg), rtol=1e-12, atol=0)
        back = panner.parameters_to_settings({k: v[0] for k, v in p.items()})
        assert back == pytest.approx({"gain_db": gain_db, "pan": pan})


@pytest.mark.parametrize("law", ["constant_power", "-4.5dB", "linear"])
def test_gradcheck_and_extremes(law):
    panner = Panner(law)
    x = rand(3, 2, 16).requires_grad_()
    z, g = rand(3, 1, seed=1).requires_grad_(), rand(3, 1, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, z, g: panner(x, z_pan=z, log_gain=g), (x, z, g))
    for value in (-20.0, 20.0):
        x32 = rand(2, 1, 16, dtype=torch.float32).requires_grad_()
        z32, g32 = (torch.full((2, 1), value, requires_grad=True) for _ in range(2))
        y = panner(x32, z_pan=z32, log_gain=g32)
        (y.square().sum() + y.sum()).backward()
        assert all(torch.isfinite(t.grad).all() for t in (x32, z32, g32))


def test_fit_recovers_a_pan_position():
    panner = Panner("-4.5dB")
    x = rand(1, 1, 64)
    target = panner(x, z_pan=z_of(0.4), log_gain=torch.full((1, 1), -0.5, dtype=torch.float64))
    z = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    g = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([z, g], lr=5e-2)
    for _ in range(300):
        optimizer.zero_grad()
        (panner(x, z_pan=z, log_gain=g) - target).square().mean().backward()
        optimizer.step()
    assert float(pan_from_z_pan(z.detach())) == pytest.approx(0.4, abs=1e-3)
    assert float(g.detach()) == pytest.approx(-0.5, abs=1e-3)


def test_errors_are_named():
    with pytest.raises(ConfigError, match="Panner: unknown law 'sine'"):
        Panner("sine")
    zero = torch.zeros(2, 1)
    with pytest.raises(AudioError, match="Panner: input must have 1 or 2 channel"):
        Panner()(torch.zeros(2, 3, 8), z_pan=zero, log_gain=zero)
    with pytest.raises(ParameterError, match="Panner: .*'z_pan'"):
        Panner()(torch.zeros(2, 2, 8), z_pan=torch.zeros(2, 2), log_gain=zero)
    with pytest.raises(ParameterError, match="Panner: pan must be strictly between"):
        Panner().settings_to_parameters({"pan": 1.0})
