import math

import numpy as np
import pytest
import torch

from grafx.errors import AudioError, ConfigError
from grafx.losses import (
    MultiResolutionSTFTLoss,
    StereoSTFTLoss,
    STFTLoss,
    a_weighting_db,
    mel_filterbank,
    stft_magnitude,
)


def noise(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_stft_magnitude_matches_numpy_frames():
    x = noise(300)
    n, hop = 64, 16
    mag = stft_magnitude(x, n, hop, n, eps=0.0).numpy()
    padded = np.pad(x.numpy(), n // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic Hann
    frames = [padded[t * hop : t * hop + n] * window for t in range(1 + 300 // hop)]
    reference = np.abs(np.fft.rfft(np.stack(frames), axis=-1)).T
    np.testing.assert_allclose(mag, reference, rtol=1e-10, atol=1e-10)


def test_double_amplitude_gives_half_convergence_and_log_two():
    # |2X - X| / |2X| = 1/2 and |ln 2X - ln X| = ln 2 in every bin (eps negligible on noise).
    x = noise(2, 2048)
    loss = STFTLoss(256, eps=1e-14)
    torch.testing.assert_close(loss(x, 2 * x), torch.tensor(0.5 + math.log(2), dtype=x.dtype))
    sc_only = STFTLoss(256, w_log_mag=0.0, eps=1e-14)
    torch.testing.assert_close(sc_only(x, 2 * x), torch.tensor(0.5, dtype=x.dtype))


def test_multi_resolution_is_the_mean_over_resolutions():
    x, y = noise(2, 2048, seed=1), noise(2, 2048, seed=2)
    mr = MultiResolutionSTFTLoss((128, 512), eps=1e-12)
    expected = (STFTLoss(128, eps=1e-12)(x, y) + STFTLoss(512, eps=1e-12)(x, y)) / 2
    torch.testing.assert_close(mr(x, y), expected)
    torch.testing.assert_close(
        MultiResolutionSTFTLoss((128, 512), eps=1e-14)(x, 2 * x),
        torch.tensor(0.5 + math.log(2), dtype=x.dtype),
    )


def test_stereo_loss_weights_lr_mid_side():
    # Dual-mono audio has silent side channels on both sides: the side term is exactly 0, so
    # the loss is (w_lr + w_mid) * (1/2 + ln 2).
    x = noise(1, 2048).expand(2, 2048)
    loss = StereoSTFTLoss(w_lr=1.0, w_mid=0.5, w_side=0.5, fft_sizes=(256,), eps=1e-14)
    expected = 1.5 * (0.5 + math.log(2))
    torch.testing.assert_close(loss(x, 2 * x), torch.tensor(expected, dtype=x.dtype))
    # Swapping channels changes nothing on L/R magnitudes as a whole... but flips the side sign
    # (same magnitude) and keeps the mid: the loss of [l, r] against [r, l] is the L/R term only.
    lr = noise(2, 2048, seed=3)
    swapped = lr.flip(0)
    full = loss(lr, swapped)
    lr_only = StereoSTFTLoss(1.0, 0.0, 0.0, fft_sizes=(256,), eps=1e-14)(lr, swapped)
    torch.testing.assert_close(full, lr_only)
    assert full > 0.1


def test_mono_uses_only_the_lr_term():
    x = noise(3, 1, 1024)
    stereo = StereoSTFTLoss(fft_sizes=(128,), eps=1e-14)
    plain = MultiResolutionSTFTLoss((128,), eps=1e-14)
    torch.testing.assert_close(stereo(x, 2 * x), plain(x, 2 * x))


def test_a_weighting_matches_iec_table():
    f = torch.tensor([100.0, 1000.0, 10000.0], dtype=torch.float64)
    # IEC 61672-1 table: -19.1 dB, 0.0 dB, -2.5 dB.
    torch.testing.assert_close(
        a_weighting_db(f), torch.tensor([-19.1, 0.0, -2.5], dtype=torch.float64), atol=0.06, rtol=0
    )


def test_mel_filterbank_partition_of_unity_and_peak():
    fb = mel_filterbank(1025, 20, 16000.0, f_min=0.0, f_max=8000.0, dtype=torch.float64)
    assert fb.shape == (20, 1025)
    bins = torch.linspace(0, 8000, 1025, dtype=torch.float64)
    centres = 700 * (10 ** (torch.linspace(0, 2595 * math.log10(1 + 8000 / 700), 22) / 2595) - 1)
    inside = (bins >= centres[1]) & (bins <= centres[-2])
    # Neighbouring triangles share their edges, so they sum to 1 between the first and last centres.
    torch.testing.assert_close(fb[:, inside].sum(0), torch.ones(int(inside.sum()), dtype=fb.dtype))
    assert fb.max() <= 1.0 + 1e-12


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_mels": 16, "sample_rate": 16000}, {"a_weighting": True, "sample_rate": 16000}],
)
def test_finite_gradients_on_silence(kwargs):
    loss = StereoSTFTLoss(fft_sizes=(64, 256), **kwargs)
    silent = torch.zeros(2, 2, 512, dtype=torch.float64, requires_grad=True)
    value = loss(silent, torch.zeros(2, 2, 512, dtype=torch.float64))
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(silent.grad).all()
    silent.grad = None
    value = loss(silent, noise(2, 2, 512))
    value.backward()
    assert torch.isfinite(value) and value > 1.0
    assert torch.isfinite(silent.grad).all()


def test_weighted_loss_differs_from_plain_and_is_zero_on_equal_inputs():
    x, y = noise(1, 1024, seed=4), noise(1, 1024, seed=5)
    plain = STFTLoss(256)(x, y)
    mel = STFTLoss(256, num_mels=20, sample_rate=16000)
    assert mel(x, x).item() == 0.0
    assert not torch.isclose(mel(x, y), plain)


def test_dtype_follows_input():
    x = torch.randn(1, 512)
    assert StereoSTFTLoss(fft_sizes=(64,))(x[None], x[None]).dtype == torch.float32
    assert (
        StereoSTFTLoss(fft_sizes=(64,))(x[None].double(), x[None].double()).dtype == torch.float64
    )


def test_errors_name_the_problem():
    with pytest.raises(AudioError, match=r"estimate \(1, 10\) and target \(1, 11\)"):
        STFTLoss(8)(torch.zeros(1, 10), torch.zeros(1, 11))
    with pytest.raises(AudioError, match="C = 1 or 2"):
        StereoSTFTLoss(fft_sizes=(8,))(torch.zeros(3, 16), torch.zeros(3, 16))
    with pytest.raises(ConfigError, match="need sample_rate"):
        STFTLoss(64, num_mels=10)
    with pytest.raises(ConfigError, match="win_length"):
        STFTLoss(64, win_length=128)
    with pytest.raises(ConfigError, match="same non-zero length"):
        MultiResolutionSTFTLoss((64, 128), hop_lengths=(16,))
    with pytest.raises(ConfigError, match="f_max"):
        mel_filterbank(65, 10, 8000, f_max=9000)
