import math

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError
from grafx.processors import FDNReverb
from grafx.processors.fdn import t60_from_z_t60, z_t60_from_t60

SR = 8000.0


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def fdn(num_bands=1):
    return FDNReverb(delays=(31, 37, 41, 53), num_bands=num_bands, ir_len=8192, sample_rate=SR)


def ir_of(reverb, t60s, seed=0):
    t60 = torch.tensor([t60s], dtype=torch.float64)
    z = z_t60_from_t60(t60, reverb.t60_min, reverb.t60_max)
    b, c = rand(1, 4, seed=seed), rand(1, 2, 4, seed=seed + 1)
    return reverb.impulse_response(z, b, c)[0, 0]


def numpy_fdn(t60, b, c, delays, n, sr):
    """Sample by sample: lines s_i, out y = c . s(n - m), feedback A (Householder), gain g^m."""
    M = len(delays)
    A = np.eye(M) - 2 / M
    g = 10 ** (-3 / (t60 * sr))
    buffers = [np.zeros(n + max(delays)) for _ in range(M)]
    y = np.zeros(n)
    for i in range(n):
        outs = np.array([buffers[k][i] * g ** delays[k] for k in range(M)])
        y[i] = c @ outs
        into = A @ outs + b * (1.0 if i == 0 else 0.0)
        for k in range(M):
            buffers[k][i + delays[k]] = into[k]
    return y


def test_impulse_response_matches_a_sample_loop():
    reverb = fdn()
    h = ir_of(reverb, [0.08])
    b, c = rand(1, 4, seed=0)[0].numpy(), rand(1, 2, 4, seed=1)[0, 0].numpy()
    expected = numpy_fdn(0.08, b, c, [31, 37, 41, 53], 1500, SR)
    # frequency sampling aliases the tail beyond 8192 samples: 8192 / (0.08 * 8000) T60s, -768 dB
    np.testing.assert_allclose(h[:1500].numpy(), expected, atol=1e-10)


def test_decay_is_60_db_in_t60():
    # h(T1)[n] / h(T2)[n] = (g1 / g2)^n exactly (the lossless FDN with z -> z / g).
    reverb = fdn()
    h1, h2 = ir_of(reverb, [0.1]), ir_of(reverb, [0.3])
    g1, g2 = 10 ** (-3 / (0.1 * SR)), 10 ** (-3 / (0.3 * SR))
    n = torch.arange(2000, dtype=torch.float64)
    torch.testing.assert_close(h1[:2000], h2[:2000] * (g1 / g2) ** n, atol=1e-10, rtol=1e-7)
    energy = h1.square()
    early, late = energy[200:600].sum(), energy[1000:1400].sum()  # 800 samples = 0.1 s apart
    assert 10 * math.log10(float(early / late)) == pytest.approx(60.0, abs=3.0)


def test_t60_per_band_shortens_the_highs():
    reverb = fdn(num_bands=2)
    h = ir_of(reverb, [1.0, 0.1])
    # late part (0.25 s on), Hann-windowed so that the lows do not leak into the high bins
    window = torch.hann_window(4000, dtype=torch.float64)
    spectrum_late = torch.fft.rfft(h[2000:6000] * window).abs()
    low, high = spectrum_late[:100].mean(), spectrum_late[-300:].mean()
    assert float(low / high) > 1e3  # T60 1 s in the lows, about 0.13 s at 3.4-4 kHz


def test_gradcheck_extremes_and_dtype():
    reverb = FDNReverb(delays=(5, 7, 11), num_bands=2, ir_len=64, sample_rate=SR)
    x = rand(2, 2, 40).requires_grad_()
    params = {
        k: 0.5 * rand(2, *((v,) if isinstance(v, int) else v), seed=i)
        for i, (k, v) in enumerate(reverb.parameter_size().items())
    }
    names = list(params)

    def run(x, *values):
        return reverb(x, **dict(zip(names, values, strict=True)))

    assert torch.autograd.gradcheck(run, (x, *(p.requires_grad_() for p in params.values())))
    for value in (-20.0, 20.0):
        x32 = rand(2, 1, 64, dtype=torch.float32).requires_grad_()
        p32 = {k: torch.full(v.shape, value, requires_grad=True) for k, v in params.items()}
        y = reverb(x32, **p32)
        assert y.dtype == torch.float32 and y.shape == (2, 2, 64)
        (y.square().sum() + y.sum()).backward()
        assert all(torch.isfinite(p.grad).all() for p in p32.values())


def test_activation_inverse_and_errors():
    t = torch.tensor([0.1, 1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(t60_from_z_t60(z_t60_from_t60(t, 0.05, 4.0), 0.05, 4.0), t)
    with pytest.raises(ConfigError, match="FDNReverb: delays"):
        FDNReverb(delays=(5,))
    with pytest.raises(ConfigError, match="FDNReverb: ir_len"):
        FDNReverb(delays=(500, 600), ir_len=1000)


def test_fit_recovers_a_t60():
    reverb = fdn()
    x = torch.zeros(1, 1, 2000, dtype=torch.float64)
    x[..., 0] = 1.0
    b, c = rand(1, 4, seed=0), rand(1, 2, 4, seed=1)
    mix = torch.full((1, 1), 10.0, dtype=torch.float64)  # all wet
    target_z = z_t60_from_t60(torch.tensor([[0.2]], dtype=torch.float64), 0.05, 4.0)
    target = reverb(x, z_t60=target_z, input_gains=b, output_gains=c, z_mix=mix)
    z = torch.full((1, 1), -2.0, dtype=torch.float64, requires_grad=True)  # T60 0.5 s
    optimizer = torch.optim.Adam([z], lr=5e-2)
    for _ in range(150):
        optimizer.zero_grad()
        y = reverb(x, z_t60=z, input_gains=b, output_gains=c, z_mix=mix)
        (y - target).square().mean().backward()
        optimizer.step()
    assert float(t60_from_z_t60(z.detach(), 0.05, 4.0)) == pytest.approx(0.2, rel=0.01)
