import math

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.errors import ConfigError
from grafx.processors import Phaser

SR = 8000.0


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def logit(p):
    return torch.full((1, 1), math.log(p / (1 - p)), dtype=torch.float64)


def test_static_phaser_equals_scipy_allpass_chain():
    # depth ~0: a fixed chain of 4 all-passes at 1 kHz, mixed 50/50, as scipy.signal.lfilter.
    proc = Phaser(sample_rate=SR, center_hz=1000.0, num_stages=4, n_fft=256)
    x = rand(1, 1, 4000)
    y = proc(
        x,
        z_rate=logit(0.5),
        z_depth=torch.full((1, 1), -40.0, dtype=torch.float64),
        z_mix=logit(0.5),
    )
    t = math.tan(math.pi * 1000.0 / SR)
    a = (t - 1) / (t + 1)
    wet = x[0, 0].numpy()
    for _ in range(4):
        wet = scipy.signal.lfilter([a, 1.0], [1.0, a], wet)
    expected = 0.5 * x[0, 0].numpy() + 0.5 * wet
    middle = slice(500, 3500)  # the STFT's frame-wise filter is circular per frame: edges differ
    error = np.abs(y[0, 0, middle].numpy() - expected[middle]).max()
    assert error < 0.02 * np.abs(expected).max()


def test_notch_of_a_static_phaser():
    # Each stage's phase is -pi/2 at f_c: two stages give -pi there, and a 50/50 mix cancels a
    # sine at f_c (to the frame-wise filter's leakage between bins: more than 60 dB down).
    proc = Phaser(sample_rate=SR, center_hz=1000.0, num_stages=2, n_fft=512)
    n = np.arange(8000)
    x = torch.tensor(np.sin(2 * np.pi * 1000.0 * n / SR))[None, None]
    y = proc(
        x,
        z_rate=logit(0.5),
        z_depth=torch.full((1, 1), -40.0, dtype=torch.float64),
        z_mix=logit(0.5),
    )
    assert float(y[..., 1000:7000].abs().max()) < 1e-3


# Gradcheck and extreme parameters: test_modulation.py::test_gradcheck_and_extremes[phaser].


def test_fit_recovers_the_mix():
    proc = Phaser(sample_rate=SR, n_fft=128)
    x = rand(1, 1, 1024)
    target = proc(x, z_rate=logit(0.3), z_depth=logit(0.5), z_mix=logit(0.7))
    mix = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([mix], lr=5e-2)
    for _ in range(200):
        optimizer.zero_grad()
        (
            proc(x, z_rate=logit(0.3), z_depth=logit(0.5), z_mix=mix) - target
        ).square().mean().backward()
        optimizer.step()
    assert float(torch.sigmoid(mix.detach())) == pytest.approx(0.7, abs=0.01)


def test_errors_are_named():
    with pytest.raises(ConfigError, match="Phaser: center_hz"):
        Phaser(sample_rate=8000, center_hz=5000)
    with pytest.raises(ConfigError, match="Phaser: n_fft"):
        Phaser(n_fft=30)


def test_signals_shorter_than_a_frame():
    zero = torch.zeros(2, 1, dtype=torch.float64)
    dry = torch.full((2, 1), -40.0, dtype=torch.float64)
    y = Phaser(sample_rate=SR, n_fft=1024)(rand(2, 2, 100), z_rate=zero, z_depth=zero, z_mix=dry)
    torch.testing.assert_close(y, rand(2, 2, 100))  # all dry: the input back
