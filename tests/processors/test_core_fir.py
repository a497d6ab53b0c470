import math

import numpy as np
import pytest
import scipy.optimize
import scipy.signal
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.fft_filterbank import triangular_filterbank_matrix
from grafx.processors.core.fir import (
    ZeroPhaseFilterBankFIR,
    ZeroPhaseFIR,
    make_window,
    zero_phase_fir,
)
from grafx.processors.core.geq import (
    GraphicEqualizerBiquad,
    geq_band_frequencies,
    geq_biquad_coefficients,
)

pytestmark = pytest.mark.usefixtures("one_thread")

WINDOWS = [
    "hann",
    "hamming",
    "blackman",
    "bartlett",
    "kaiser",
    "rectangular",
    "none",
    "boxcar",
    None,
]


@pytest.mark.parametrize("window", WINDOWS)
def test_flat_response_is_identity_and_filters_are_symmetric(window):
    design = ZeroPhaseFIR(32, window=window)
    flat = design(torch.zeros(1, 32, dtype=torch.float64))[0].numpy()
    expected = np.zeros(63)
    expected[31] = 1.0
    np.testing.assert_allclose(flat, expected, atol=1e-15)
    shaped = design(torch.randn(3, 32, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(shaped, shaped[:, ::-1], atol=1e-14)


def test_windows_are_scipy_symmetric_windows():
    for name, reference in [
        ("hann", "hann"),
        ("hamming", "hamming"),
        ("blackman", "blackman"),
        ("bartlett", "bartlett"),
    ]:
        np.testing.assert_allclose(
            make_window(name, 31).numpy(),
            scipy.signal.get_window(reference, 31, fftbins=False),
            atol=1e-12,
        )
    np.testing.assert_allclose(
        make_window("kaiser", 31, {"beta": 8.0}).numpy(), np.kaiser(31, 8.0), atol=1e-6
    )
    custom = torch.linspace(0, 1, 31)
    torch.testing.assert_close(make_window(custom, 31), custom.double())
    with pytest.raises(ConfigError, match="shape"):
        make_window(torch.ones(30), 31)


def test_unwindowed_design_hits_the_target_magnitude():
    log_magnitude = torch.randn(2, 40, dtype=torch.float64)
    fir = zero_phase_fir(log_magnitude)
    spectrum = np.abs(np.fft.rfft(fir.numpy(), axis=-1))
    np.testing.assert_allclose(spectrum, np.exp(log_magnitude.numpy()), rtol=1e-12)


def test_filterbank_fir_uses_band_energies():
    design = ZeroPhaseFilterBankFIR(
        64, use_filterbank=True, filterbank_kwargs={"num_filters": 5, "sr": 8000}, window=None
    )
    band = torch.full((1, 5), math.log(2.0), dtype=torch.float64)
    spectrum = np.abs(np.fft.rfft(design(band).numpy(), axis=-1))
    np.testing.assert_allclose(spectrum, math.sqrt(4.0 + 1e-7), rtol=1e-12)
    with pytest.raises(ParameterError, match="5 values"):
        design(torch.zeros(1, 64))


def test_geq_bands():
    centers, widths = geq_band_frequencies("third_octave", 44100)
    assert len(centers) == 31
    assert centers[0].item() == pytest.approx(19.69, abs=0.01)
    assert centers[-1].item() == pytest.approx(20158.7, abs=0.1)
    assert len(geq_band_frequencies("bark", 16000)[0]) == 21
    assert GraphicEqualizerBiquad("bark", 44100).num_bands == 24


@pytest.mark.parametrize("log_gain", [-1.5, -1e-8, 0.0, 1e-8, 0.7, 2.0])
def test_geq_band_gain_at_centre_and_edges(log_gain):
    omega, width = (
        torch.tensor([0.3], dtype=torch.float64),
        torch.tensor([0.05], dtype=torch.float64),
    )
    Bs, As = geq_biquad_coefficients(torch.tensor([log_gain], dtype=torch.float64), omega, width)
    b, a = Bs[0].numpy(), As[0].numpy()
    _, h = scipy.signal.freqz(b, a, worN=[0.3])
    assert abs(h[0]) == pytest.approx(math.exp(log_gain), rel=1e-9)
    # Band edges: w2 - w1 = B with tan(w1/2) tan(w2/2) = tan(w0/2)^2 (bilinear symmetry);
    # there the gain is g^0.4 (Liski et al.'s neighbour gain).
    w1 = scipy.optimize.brentq(
        lambda w: math.tan(w / 2) * math.tan((w + 0.05) / 2) - math.tan(0.15) ** 2, 1e-6, 0.3
    )
    _, edges = scipy.signal.freqz(b, a, worN=[w1, w1 + 0.05])
    np.testing.assert_allclose(np.abs(edges), math.exp(0.4 * log_gain), rtol=1e-9)


def test_geq_design_is_smooth_at_zero_gain():
    omega, width = (
        torch.tensor([0.3], dtype=torch.float64),
        torch.tensor([0.05], dtype=torch.float64),
    )
    log_gain = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda g: torch.cat(geq_biquad_coefficients(g, omega, width), -1), (log_gain,)
    )
    near = geq_biquad_coefficients(torch.tensor([1e-5], dtype=torch.float64), omega, width)
    at = geq_biquad_coefficients(torch.tensor([0.0], dtype=torch.float64), omega, width)
    torch.testing.assert_close(near[1], at[1], atol=1e-5, rtol=0)


def test_zero_phase_bins_are_odd_length_dft_bins():
    # Audit: the docs put the F bins from DC to Nyquist (k sr / (2F - 2)); they are the DFT
    # bins of the 2F - 1 taps, k sr / (2F - 1). Reference: scipy.signal.freqz of the FIR.
    num_bins, sr = 16, 31000.0
    log_mag = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, num_bins))
    fir = zero_phase_fir(log_mag, window=None).numpy()
    k = np.arange(num_bins)
    _, at_bins = scipy.signal.freqz(fir, 1, worN=k * sr / (2 * num_bins - 1), fs=sr)
    np.testing.assert_allclose(np.abs(at_bins), np.exp(log_mag.numpy()), rtol=1e-12)
    _, at_old = scipy.signal.freqz(fir, 1, worN=k[1:] * sr / (2 * num_bins - 2), fs=sr)
    assert np.abs(np.abs(at_old) - np.exp(log_mag.numpy()[1:])).max() > 0.05
    # The filter bank places its triangles on the same bins.
    bank = ZeroPhaseFilterBankFIR(
        num_bins, use_filterbank=True, filterbank_kwargs={"num_filters": 4, "sr": sr}
    )
    expected = triangular_filterbank_matrix(num_bins, 4, sr=sr, bin_spacing=sr / (2 * num_bins - 1))
    torch.testing.assert_close(bank.filterbank.synthesis_weights, expected)
    default = triangular_filterbank_matrix(num_bins, 4, sr=sr)
    assert not torch.allclose(bank.filterbank.synthesis_weights, default)
