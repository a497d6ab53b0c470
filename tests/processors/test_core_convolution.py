import numpy as np
import pytest
import scipy.signal
import torch

from grafx.errors import AudioError, ConfigError, ParameterError
from grafx.processors.core.convolution import FIRConvolution, convolve, fast_fft_len
from grafx.processors.core.midside import (
    apply_processor_channel,
    check_processor_channel,
    lr_to_ms,
    ms_to_lr,
)


def numpy_convolve(x, h):
    return np.stack([np.convolve(a, b) for a, b in zip(x, h, strict=True)])


# Same-parity lengths are the case the original library got wrong; cover both parities and
# both the direct (short filter) and FFT (long filter) paths.
@pytest.mark.parametrize("input_len", [100, 101, 512])
@pytest.mark.parametrize("fir_len", [1, 7, 8, 64, 65, 300, 1001])
def test_convolve_matches_numpy(input_len, fir_len):
    rng = np.random.default_rng(input_len * 10_000 + fir_len)
    x, h = rng.standard_normal((3, input_len)), rng.standard_normal((3, fir_len))
    full = numpy_convolve(x, h)
    tx, th = torch.from_numpy(x), torch.from_numpy(h)
    np.testing.assert_allclose(convolve(tx, th, "full").numpy(), full, atol=1e-10)
    np.testing.assert_allclose(convolve(tx, th, "causal").numpy(), full[:, :input_len], atol=1e-10)
    start = fir_len // 2
    np.testing.assert_allclose(
        convolve(tx, th, "zerophase").numpy(), full[:, start : start + input_len], atol=1e-10
    )


def test_convolve_broadcasts_channels_and_keeps_dtype():
    x = torch.randn(4, 1, 300)
    h = torch.randn(4, 2, 100)
    y = FIRConvolution()(x, h)
    assert y.shape == (4, 2, 300) and y.dtype == torch.float32
    torch.testing.assert_close(y[:, 1], convolve(x[:, 0], h[:, 1]))


def test_convolve_gradcheck():
    x = torch.randn(2, 1, 24, dtype=torch.float64, requires_grad=True)
    for fir_len in (5, 20):
        h = torch.randn(2, 2, fir_len, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a, b: convolve(a, b, "zerophase"), (x, h))


def test_fast_fft_len_is_smooth_and_large_enough():
    for n in (1, 17, 1000, 2**17 + 59999):
        m = fast_fft_len(n)
        assert m >= n
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        assert k == 1


def test_convolve_bad_mode():
    with pytest.raises(ParameterError, match="sideways"):
        convolve(torch.zeros(1, 4), torch.zeros(1, 2), mode="sideways")


def test_midside_round_trip_is_exact():
    x = torch.randn(3, 2, 50, dtype=torch.float64)
    ms = lr_to_ms(x)
    torch.testing.assert_close(ms[:, 0], (x[:, 0] + x[:, 1]) / 2, rtol=0, atol=0)
    torch.testing.assert_close(ms_to_lr(ms), x, rtol=0, atol=1e-15)


def test_processor_channel_modes():
    x = torch.randn(2, 2, 10)
    gains = torch.tensor([2.0, -1.0])[None, :, None]
    y = apply_processor_channel(x, "midside", lambda s: s * gains, "Test")
    mid, side = (x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2
    torch.testing.assert_close(y[:, 0], 2 * mid - side)
    torch.testing.assert_close(y[:, 1], 2 * mid + side)
    with pytest.raises(AudioError, match="Test.*midside.*C=1"):
        apply_processor_channel(x[:, :1], "midside", lambda s: s, "Test")
    with pytest.raises(ConfigError, match="Test.*'surround'"):
        check_processor_channel("surround", "Test")


# ------------------------------------------------------------------ overlap-save (block) path


@pytest.mark.parametrize("mode", ["causal", "zerophase", "full"])
@pytest.mark.parametrize(
    ("input_len", "fir_len", "block_fft"),
    [(100, 9, 9), (1000, 65, 100), (1001, 300, 512), (5000, 1001, 1500), (37, 20, 25)],
)
def test_block_path_matches_numpy(mode, input_len, fir_len, block_fft):
    rng = np.random.default_rng(input_len + fir_len)
    x, h = rng.standard_normal((3, input_len)), rng.standard_normal((3, fir_len))
    full = numpy_convolve(x, h)
    start = fir_len // 2 if mode == "zerophase" else 0
    stop = start + input_len if mode != "full" else input_len + fir_len - 1
    y = convolve(torch.from_numpy(x), torch.from_numpy(h), mode, block_fft=block_fft)
    np.testing.assert_allclose(y.numpy(), full[:, start:stop], rtol=0, atol=1e-10)


def test_long_signals_take_the_block_path_within_float32_rounding(monkeypatch):
    from grafx.processors.core import convolution

    calls = []
    blocks = convolution._convolve_blocks
    monkeypatch.setattr(
        convolution, "_convolve_blocks", lambda *a: calls.append(a[-1]) or blocks(*a)
    )
    rng = np.random.default_rng(0)
    length = convolution.MIN_BLOCK_OUTPUT + 123
    x, h = rng.standard_normal((2, 1, length)), rng.standard_normal((2, 2, 1000)) / 30
    expected = scipy.signal.fftconvolve(x, h, axes=-1)
    y = convolve(torch.from_numpy(x).float(), torch.from_numpy(h).float(), "zerophase")
    assert calls == [convolution.block_fft_len(1000)] and y.shape == (2, 2, length)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(
        y.numpy() / scale, expected[..., 500 : 500 + length] / scale, rtol=0, atol=1e-5
    )
    # training crops keep the single-FFT path
    convolve(torch.zeros(1, 2**17), torch.zeros(1, 1000))
    assert len(calls) == 1


def test_block_path_broadcasts_and_is_the_same_without_gradients():
    x = torch.randn(4, 1, 3000, dtype=torch.float64, requires_grad=True)
    h = torch.randn(4, 2, 100, dtype=torch.float64, requires_grad=True)
    y = convolve(x, h, "causal", block_fft=256)
    assert y.shape == (4, 2, 3000)
    torch.testing.assert_close(y, convolve(x, h, "causal"), rtol=0, atol=1e-12)
    with torch.inference_mode():  # in-place spectra, same values bit for bit
        assert torch.equal(convolve(x, h, "causal", block_fft=256), y.detach())


def test_block_path_gradcheck():
    x = torch.randn(2, 1, 60, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 2, 9, dtype=torch.float64, requires_grad=True)
    for mode in ("causal", "zerophase", "full"):
        assert torch.autograd.gradcheck(
            lambda a, b, m=mode: convolve(a, b, m, block_fft=16), (x, h)
        )


def test_block_fft_shorter_than_the_filter_is_refused():
    with pytest.raises(ParameterError, match="block_fft=16"):
        convolve(torch.zeros(1, 100), torch.zeros(1, 20), block_fft=16)


def test_fft_path_gives_the_same_values_without_gradients():
    x = torch.randn(3, 2, 700, requires_grad=True)
    h = torch.randn(3, 1, 90, requires_grad=True)
    y = convolve(x, h, "zerophase")
    with torch.no_grad():  # in-place spectra
        assert torch.equal(convolve(x, h, "zerophase"), y.detach())
