"""MixLoss (the mixing-graphs paper's loss) against a direct numpy/scipy computation."""

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.errors import AudioError, ConfigError
from grafx.losses import MixLoss

EPS = 1e-8


def reference_magnitudes(x, n, sample_rate):
    """A-weighted 96-band HTK-mel magnitudes of one channel, framed sample by sample."""
    hop = n // 4
    window = scipy.signal.get_window("hann", n, fftbins=True)
    padded = np.pad(x, n // 2)
    frames = np.stack([padded[t * hop : t * hop + n] * window for t in range(1 + len(x) // hop)])
    mag = np.sqrt(np.abs(np.fft.rfft(frames, axis=-1)) ** 2 + EPS)  # (T, F)
    freqs = np.linspace(0, sample_rate / 2, n // 2 + 1)
    f2 = np.maximum(freqs, 1e-3) ** 2
    ra = (
        12194.0**2
        * f2**2
        / ((f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2))
    )
    a_gain = 10 ** ((20 * np.log10(ra) + 2.0) / 20)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    points = 700 * (10 ** (np.linspace(0, mel(sample_rate / 2), 98) / 2595) - 1)
    bank = np.zeros((96, len(freqs)))
    for m in range(96):
        lo, mid, hi = points[m : m + 3]
        for k, f in enumerate(freqs):
            bank[m, k] = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
    band = (mag * a_gain) @ bank.T  # (T, M)
    return np.sqrt(band**2 + EPS)


def reference_resolution(est, tgt, n, sample_rate):
    """SC + log L1 over a stack of channels ``(C, L)``."""
    x = np.stack([reference_magnitudes(c, n, sample_rate) for c in est])
    y = np.stack([reference_magnitudes(c, n, sample_rate) for c in tgt])
    sc = np.sqrt(((y - x) ** 2).sum()) / (np.sqrt((y**2).sum()) + EPS)
    return sc + np.abs(np.log(y) - np.log(x)).mean()


def reference_mix_loss(est, tgt, sample_rate):
    def multi(a, b):
        return np.mean([reference_resolution(a, b, n, sample_rate) for n in (512, 1024, 4096)])

    def mid_side(z):
        return (z[:1] + z[1:]) / 2, (z[:1] - z[1:]) / 2

    (em, es), (tm, ts) = mid_side(est), mid_side(tgt)
    return 0.5 * multi(est, tgt) + 0.25 * multi(em, tm) + 0.25 * multi(es, ts)


def signals(length, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    left = np.sin(2 * np.pi * 440 * t) + 0.3 * rng.standard_normal(length)
    right = 0.5 * np.sin(2 * np.pi * 3000 * t) + 0.2 * rng.standard_normal(length)
    return np.stack([left, right])


def test_mix_loss_matches_a_direct_numpy_computation():
    est, tgt = signals(5000, 0), signals(5000, 1) * np.array([[0.7], [1.3]])
    loss = MixLoss(sample_rate=16000)
    value = loss(torch.from_numpy(est), torch.from_numpy(tgt))
    expected = reference_mix_loss(est, tgt, 16000)
    assert value.dtype == torch.float64 and value.ndim == 0
    np.testing.assert_allclose(value.item(), expected, rtol=1e-7)
    assert expected > 0.1


def test_mix_loss_batched_pools_the_items():
    # (B, 2, L): every term pools all items (SC over the whole batch, log-L1 mean over all).
    items = [signals(3000, seed) for seed in range(4)]
    est, tgt = np.stack(items[:2]), np.stack(items[2:])
    loss = MixLoss(sample_rate=16000)
    value = loss(torch.from_numpy(est), torch.from_numpy(tgt)).item()

    def pooled(a, b):
        return np.mean([reference_resolution(a, b, n, 16000) for n in (512, 1024, 4096)])

    def mid_side(z):
        return (z[:, 0] + z[:, 1]) / 2, (z[:, 0] - z[:, 1]) / 2

    (em, es), (tm, ts) = mid_side(est), mid_side(tgt)
    expected = (
        0.5 * pooled(est.reshape(4, -1), tgt.reshape(4, -1))
        + 0.25 * pooled(em, tm)
        + 0.25 * pooled(es, ts)
    )
    np.testing.assert_allclose(value, expected, rtol=1e-7)
    assert loss(torch.from_numpy(est), torch.from_numpy(est)).item() == 0.0


def test_mix_loss_float32_gradients_are_finite_on_silence():
    loss = MixLoss(sample_rate=30000)
    x = torch.zeros(2, 4000, requires_grad=True)
    value = loss(x, torch.randn(2, 4000))
    value.backward()
    assert value.dtype == torch.float32
    assert torch.isfinite(x.grad).all()


def test_mix_loss_bad_input():
    with pytest.raises(ConfigError, match="sample_rate must be positive"):
        MixLoss(sample_rate=0)
    with pytest.raises(AudioError, match=r"MixLoss: expected stereo audio.*\(1, 100\)"):
        MixLoss(16000)(torch.zeros(1, 100), torch.zeros(1, 100))
