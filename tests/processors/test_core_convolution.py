import numpy as np
import pytest
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
