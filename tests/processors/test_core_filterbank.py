import math
import warnings

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.fft_filterbank import TriangularFilterBank, triangular_filterbank_matrix
from grafx.processors.core.scale import (
    SCALES,
    bark_to_hz,
    from_scale,
    hz_to_bark,
    hz_to_mel,
    mel_to_hz,
    to_scale,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FREQS = torch.tensor(
    [0.0, 20.0, 100.0, 440.0, 1000.0, 4000.0, 12000.0, 22050.0], dtype=torch.float64
)


@pytest.mark.parametrize("scale", [s for s in SCALES if s != "log"])
def test_scales_round_trip(scale):
    torch.testing.assert_close(
        from_scale(to_scale(FREQS, scale), scale), FREQS, atol=1e-9, rtol=1e-12
    )


def test_log_scale_round_trip():
    f = FREQS[1:]
    torch.testing.assert_close(from_scale(to_scale(f, "log"), "log"), f)


def test_traunmuller_both_corrections_inverted_and_input_kept():
    # 20 Hz is below 2 Bark and 22050 Hz above 20.1 Bark: both corrections must be undone
    # (the original undid only one, and modified its argument in place).
    barks = hz_to_bark(FREQS, "traunmuller")
    assert barks[1] < 2 and barks[-1] > 20.1
    copy = barks.clone()
    torch.testing.assert_close(bark_to_hz(barks, "traunmuller"), FREQS, atol=1e-9, rtol=1e-12)
    torch.testing.assert_close(barks, copy, rtol=0, atol=0)
    raw = 26.81 * 1000 / (1960 + 1000) - 0.53
    assert hz_to_bark(1000.0, "traunmuller").item() == pytest.approx(raw)  # no correction there


def test_mel_reference_values():
    assert hz_to_mel(1000.0, "htk").item() == pytest.approx(2595 * math.log10(1 + 1000 / 700))
    assert hz_to_mel(1000.0, "slaney").item() == pytest.approx(15.0)
    assert hz_to_mel(500.0, "slaney").item() == pytest.approx(7.5)
    assert mel_to_hz(15.0 + 27.0, "slaney").item() == pytest.approx(6400.0)
    assert hz_to_bark(650.0, "schroeder").item() == pytest.approx(7 * math.asinh(1.0))
    assert hz_to_bark(600.0, "wang").item() == pytest.approx(6 * math.asinh(1.0))


@pytest.mark.parametrize("scale", SCALES)
def test_filterbank_sums_to_one_and_low_band_stays_low(scale):
    weights = triangular_filterbank_matrix(513, 20, scale, f_min=40.0, f_max=None, sr=44100)
    assert weights.shape == (513, 20)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-12)
    bins = np.linspace(0, 22050, 513)
    low = weights[:, 0].numpy()
    assert low[0] == 1.0
    # The original's first band was 1 - sum(triangles) everywhere, so it was 1 at the top too.
    assert np.all(low[bins > 11025.0] == 0.0)
    assert weights[-1, -1] == 1.0


def test_filterbank_f_max_below_nyquist_goes_to_last_band():
    weights = triangular_filterbank_matrix(257, 10, "mel_htk", f_min=40.0, f_max=4000.0, sr=16000)
    bins = np.linspace(0, 8000, 257)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-12)
    assert np.all(weights[bins > 4000.0, 0].numpy() == 0)
    assert np.all(weights[bins > 4000.0, -1].numpy() == 1)


def test_filterbank_triangles_peak_on_scale_points():
    weights = triangular_filterbank_matrix(
        2001, 6, "linear", f_min=0.0, f_max=1000.0, sr=4000, low_half_triangle=False
    )
    # Edges 0, 1000/7, ..., 1000 on the linear scale; triangle k peaks at edge k + 1.
    bins = np.linspace(0, 2000, 2001)
    for k in range(6):
        assert bins[int(weights[:, k].argmax())] == pytest.approx(1000 * (k + 1) / 7, abs=1.0)


def test_filterbank_modes_and_warnings():
    bank = TriangularFilterBank(65, num_filters=8, sr=8000)
    energy = torch.rand(3, 8, dtype=torch.float64)
    spread = bank(energy)
    assert spread.shape == (3, 65) and spread.dtype == torch.float64
    flat = bank(torch.ones(2, 65), mode="analysis")
    torch.testing.assert_close(flat, torch.ones(2, 8))  # a weighted average of ones is one
    with pytest.raises(ParameterError, match="mode"):
        bank(energy, mode="sideways")
    with pytest.raises(ParameterError, match="8 bands"):
        bank(torch.ones(1, 7))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TriangularFilterBank(65, num_filters=8, f_max=5000.0, sr=8000)
    assert any("f_max" in str(w.message) for w in caught)
    with pytest.raises(ConfigError, match="scale"):
        TriangularFilterBank(65, scale="erb")


def test_compute_matrix_is_the_banks_weights():
    # the original's static constructor: (bins, filters, scale, f_min, f_max, sr, low half)
    args = (257, 20, "mel_htk", 40.0, 8000.0, 16000, True)
    bank = TriangularFilterBank(*args)
    weights = TriangularFilterBank.compute_matrix(*args)
    assert weights.shape == (257, 20)
    torch.testing.assert_close(weights, bank.synthesis_weights)
    torch.testing.assert_close(weights, triangular_filterbank_matrix(*args))
