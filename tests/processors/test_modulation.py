import math

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.processors import Chorus, Flanger, Phaser

SR = 8000.0


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def logit(p):
    return torch.full((1, 1), math.log(p / (1 - p)), dtype=torch.float64)


def numpy_modulated_delay(x, rate, depth, mix, d0, sr, phases):
    C, L = x.shape
    y = np.zeros_like(x)

    def at(c, k):
        return x[c, k] if 0 <= k < L else 0.0

    for c in range(C):
        for n in range(L):
            d = d0 + depth / 2 * (1 - np.cos(2 * np.pi * rate * n / sr + phases[c]))
            pos = n - d
            i = int(np.floor(pos))
            frac = pos - i
            y[c, n] = (1 - mix) * x[c, n] + mix * ((1 - frac) * at(c, i) + frac * at(c, i + 1))
    return y


@pytest.mark.parametrize("cls", [Chorus, Flanger])
def test_matches_a_numpy_loop(cls):
    proc = cls(sample_rate=SR)
    x = rand(1, 2, 400)
    rate_p, depth_p, mix_p = 0.3, 0.6, 0.4
    y = proc(x, z_rate=logit(rate_p), z_depth=logit(depth_p), z_mix=logit(mix_p))
    expected = numpy_modulated_delay(
        x[0].numpy(),
        proc.max_rate_hz * rate_p,
        proc.max_depth * depth_p,
        mix_p,
        proc.base_delay,
        SR,
        [0.0, proc.stereo_phase],
    )
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-12)


def test_static_delay_is_an_exact_shift():
    # depth ~0: an integer base delay of 8 samples (1 ms at 8 kHz) moves an impulse by 8.
    proc = Flanger(sample_rate=SR, base_delay_ms=1.0)
    x = torch.zeros(1, 1, 32, dtype=torch.float64)
    x[..., 3] = 1.0
    y = proc(
        x,
        z_rate=logit(0.5),
        z_depth=torch.full((1, 1), -40.0, dtype=torch.float64),
        z_mix=logit(0.5),
    )
    expected = torch.zeros_like(x)
    expected[..., 3], expected[..., 11] = 0.5, 0.5
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Chorus(sample_rate=SR),
        lambda: Flanger(sample_rate=SR),
        lambda: Phaser(sample_rate=SR, n_fft=16),
    ],
    ids=["chorus", "flanger", "phaser"],
)
def test_gradcheck_and_extremes(make):
    # The three modulation effects share their parameters: z_rate, z_depth, z_mix (B, 1).
    proc = make()
    x = rand(2, 2, 48).requires_grad_()
    params = [0.5 * rand(2, 1, seed=i + 1).requires_grad_() for i in range(3)]

    def run(x, r, d, m):
        return proc(x, z_rate=r, z_depth=d, z_mix=m)

    assert torch.autograd.gradcheck(run, (x, *params))
    for value in (-20.0, 20.0):
        x32 = rand(2, 2, 64, dtype=torch.float32).requires_grad_()
        p32 = [torch.full((2, 1), value, requires_grad=True) for _ in range(3)]
        y = run(x32, *p32)
        assert y.dtype == torch.float32
        (y.square().sum() + y.sum()).backward()
        assert all(torch.isfinite(t.grad).all() for t in (x32, *p32))


def test_fit_recovers_depth_and_mix():
    proc = Chorus(sample_rate=SR, max_rate_hz=50.0)
    # Low tones (periods of 160 and 114 samples): the loss is smooth in the delay, and the
    # neutral start (half depth, 40 samples) is within a quarter period of the target (24).
    t = torch.arange(800, dtype=torch.float64) / SR
    x = (torch.sin(2 * math.pi * 50 * t) + 0.5 * torch.sin(2 * math.pi * 70 * t))[None, None]
    target = proc(x, z_rate=logit(0.4), z_depth=logit(0.3), z_mix=logit(0.6))
    depth = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    mix = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([depth, mix], lr=5e-2)
    for _ in range(300):
        optimizer.zero_grad()
        (proc(x, z_rate=logit(0.4), z_depth=depth, z_mix=mix) - target).square().mean().backward()
        optimizer.step()
    assert float(torch.sigmoid(depth.detach())) == pytest.approx(0.3, abs=0.01)
    assert float(torch.sigmoid(mix.detach())) == pytest.approx(0.6, abs=0.01)


def test_errors_are_named():
    with pytest.raises(ConfigError, match="Chorus: max_depth_ms"):
        Chorus(max_depth_ms=0)
    with pytest.raises(ConfigError, match="Flanger: base_delay_ms"):
        Flanger(base_delay_ms=-1)
    zero = torch.zeros(2, 1)
    with pytest.raises(ParameterError, match="Chorus: .*'z_mix'"):
        Chorus()(torch.zeros(2, 2, 8), z_rate=zero, z_depth=zero, z_mix=torch.zeros(2, 3))
