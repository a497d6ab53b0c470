r"""Linkwitz-Riley band splitting whose bands sum back to the input exactly.

An :math:`N`-th order Linkwitz-Riley (LR) low pass is a squared Butterworth filter of order
:math:`N/2`, so its magnitude is

.. math:: |H_\mathrm{lp}(f)| = \frac{1}{1 + (f / f_c)^{N}}, \qquad
    |H_\mathrm{hp}(f)| = \frac{(f / f_c)^{N}}{1 + (f / f_c)^{N}} = 1 - |H_\mathrm{lp}(f)|

(-6 dB at :math:`f_c`, :math:`6N` dB per octave). The recursive LR filters sum to an all-pass,
not to the input; here the LR *magnitudes* are applied with zero phase (frequency sampling on
an FFT of the zero-padded signal), so low + high is the input itself. With crossovers
:math:`f_1, \dots, f_{K-1}` the :math:`K` bands are derived complementarily,

.. math:: M_1 = L_1, \quad M_k = L_k \prod_{j<k} (1 - L_j), \quad M_K = \prod_{j<K} (1 - L_j),

with :math:`L_j` the low pass at :math:`f_j`, so :math:`\sum_k M_k = 1` at every bin (a
telescoping product) and the bands sum to the input to rounding (about 1e-7 in float32, 1e-15
in float64). Filtering is zero-phase, so each band's impulse response is two-sided; the signal is
zero-padded to at least twice its length so that tails shorter than half the signal do not wrap.
"""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.processors.core.convolution import fast_fft_len
from grafx.processors.core.utils import design_dtype

#: Lowest crossover frequency :func:`linkwitz_riley_split` uses, in Hz.
CUTOFF_MIN_HZ = 1e-3


def linkwitz_riley_lowpass(freqs: Tensor, cutoff: Tensor, order: int) -> Tensor:
    r"""LR low-pass magnitude :math:`1 / (1 + (f/f_c)^N)` as
    :math:`\sigma(N (\ln f_c - \ln f))`, which stays finite and differentiable for any
    :math:`f_c > 0` (and is 1 at DC).

    Args:
        freqs: bin frequencies in Hz, ``(F,)``.
        cutoff: :math:`f_c` in Hz, ``(B, K)``.
        order: :math:`N` (even).

    Returns:
        ``(B, K, F)``.
    """
    log_f = torch.log(freqs)  # -inf at DC gives exactly 1 (and a zero gradient)
    return torch.sigmoid(order * (torch.log(cutoff)[..., None] - log_f))


def crossover_masks(freqs: Tensor, cutoff: Tensor, order: int) -> Tensor:
    """The complementary band magnitudes :math:`M_k`, ``(B, K + 1, F)`` for ``cutoff (B, K)``."""
    lows = linkwitz_riley_lowpass(freqs, cutoff, order)
    highs = torch.sigmoid(order * (torch.log(freqs) - torch.log(cutoff)[..., None]))
    bands = []
    rest = torch.ones_like(lows[:, 0])
    for k in range(cutoff.shape[-1]):
        bands.append(rest * lows[:, k])
        rest = rest * highs[:, k]
    bands.append(rest)
    return torch.stack(bands, 1)


def linkwitz_riley_split(
    input_signals: Tensor, cutoff: Tensor, sample_rate: float, order: int = 4
) -> Tensor:
    r"""Split audio into :math:`K + 1` zero-phase LR bands that sum to it.

    Args:
        input_signals: audio, ``(B, C, L)``.
        cutoff: crossover frequencies in Hz, ``(B, K)``; in increasing order for bands from low
            to high (any order still sums to the input).
        sample_rate: in Hz.
        order: LR order :math:`N` (2, 4, 8, ...).

    Returns:
        Bands, ``(B, K + 1, C, L)``, low to high.
    """
    length = input_signals.shape[-1]
    n_fft = fast_fft_len(2 * length)
    dtype = design_dtype(cutoff)
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate, dtype=dtype, device=cutoff.device)
    # A crossover below CUTOFF_MIN_HZ (a sigmoid input near -100 or an underflow to 0) is held
    # there: log(0) would give NaN at DC, and 1/f_c in the backward pass would overflow.
    cutoff = cutoff.to(dtype).clamp_min(CUTOFF_MIN_HZ)
    masks = crossover_masks(freqs, cutoff, order).to(input_signals.dtype)
    spectrum = torch.fft.rfft(input_signals, n_fft)  # (B, C, F)
    bands = torch.fft.irfft(spectrum[:, None] * masks[:, :, None], n_fft)
    return bands[..., :length]
