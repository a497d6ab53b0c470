r"""A feedback delay network (FDN) reverb, frequency-sampled, with a T60 per band.

:math:`M` delay lines of lengths :math:`m_i` samples, fed back through an orthogonal mixing
matrix :math:`A` (a Householder reflection :math:`I - \tfrac{2}{M}\mathbf{1}\mathbf{1}^T`),
each line attenuated by :math:`\gamma_i(\omega) = 10^{-3 m_i / (T_{60}(\omega) f_s)}` so that
every path loses 60 dB in :math:`T_{60}(\omega)` seconds. The transfer function is

.. math:: H(\omega) = c^T \big(\operatorname{diag}(e^{j\omega m_i} / \gamma_i(\omega)) - A\big)^{-1} b,

sampled on the :math:`N/2 + 1` bins of an :math:`N`-point FFT (as flamo and DiffVox do) and
turned into an impulse response of :math:`N` samples by an inverse FFT (the tail beyond
:math:`N` samples aliases onto the start; :func:`fdn_ir_len_for` gives an :math:`N` at which
the longest :math:`T_{60}` has decayed by 80 dB).
:math:`T_{60}(\omega)` is interpolated linearly, over the band index on a log-frequency axis,
between the band centres. With a frequency-independent :math:`T_{60}` and
:math:`g = 10^{-3/(T_{60} f_s)}`, the FDN is the lossless one with :math:`z \to z/g`, so its
impulse response is exactly :math:`g^n h_\mathrm{lossless}[n]`: a decay of 60 dB in
:math:`T_{60}` (the analytic check of the tests).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.processors.core.convolution import fast_fft_len
from grafx.processors.core.utils import design_dtype


def householder(num_lines: int, like: Tensor) -> Tensor:
    """The orthogonal ``(M, M)`` matrix :math:`I - (2/M) 1 1^T`."""
    eye = torch.eye(num_lines, dtype=like.dtype, device=like.device)
    return eye - 2.0 / num_lines


def band_t60(t60: Tensor, num_bins: int, sample_rate: float, f_min: float = 50.0) -> Tensor:
    """``(B, K)`` band T60s to ``(B, F)`` per bin: linear in band index over log frequency."""
    num_bands = t60.shape[-1]
    freqs = torch.linspace(0, sample_rate / 2, num_bins, dtype=t60.dtype, device=t60.device)
    if num_bands == 1:
        return t60.expand(-1, num_bins)
    position = torch.log(freqs.clamp(min=f_min) / f_min) / math.log(sample_rate / 2 / f_min)
    position = (position * (num_bands - 1)).clamp(0, num_bands - 1)
    low = position.floor().long().clamp(max=num_bands - 2)
    frac = position - low
    return t60[:, low] * (1 - frac) + t60[:, low + 1] * frac


def fdn_impulse_response(
    t60: Tensor,
    input_gains: Tensor,
    output_gains: Tensor,
    delays: Tensor,
    ir_len: int,
    sample_rate: float,
) -> Tensor:
    r"""The FDN's impulse response, ``(B, N)``.

    Args:
        t60: seconds per band, ``(B, K)``.
        input_gains, output_gains: :math:`b`, :math:`c`, ``(B, M)``.
        delays: :math:`m_i` in samples, ``(M,)`` (integers).
        ir_len: :math:`N`.
        sample_rate: :math:`f_s`.
    """
    dtype = design_dtype(t60)
    t60, b, c = t60.to(dtype), input_gains.to(dtype), output_gains.to(dtype)
    num_bins = ir_len // 2 + 1
    M = delays.shape[0]
    omega = torch.linspace(0, math.pi, num_bins, dtype=dtype, device=t60.device)
    m = delays.to(dtype)
    t60_bins = band_t60(t60, num_bins, sample_rate)  # (B, F)
    # 1 / gamma = 10^{3 m / (T60 fs)}, as an exponent
    log_inv_gamma = (3 * math.log(10) / sample_rate) * m / t60_bins[..., None]  # (B, F, M)
    diagonal = torch.exp(torch.complex(log_inv_gamma, omega[None, :, None] * m))
    # With A = I - (2/M) 1 1^T the system is E + (2/M) 1 1^T with E = diag(d) - I, solved in
    # O(M) per bin by the Sherman-Morrison formula (instead of a batched dense solve):
    # x = E^-1 b - E^-1 1 (1^T E^-1 b) / (M/2 + 1^T E^-1 1). |d_i| > 1 for a finite T60, so
    # E is invertible.
    inv_e = 1 / (diagonal - 1)  # (B, F, M)
    e_b = inv_e * b.to(diagonal.dtype)[:, None, :]
    state = e_b - inv_e * (e_b.sum(-1, keepdim=True) / (M / 2 + inv_e.sum(-1, keepdim=True)))
    response = (state * c.to(diagonal.dtype)[:, None, :]).sum(-1)
    return torch.fft.irfft(response, ir_len)


#: How far below its start (dB) the impulse response has decayed at :math:`N` samples for
#: the longest :math:`T_{60}` with :func:`fdn_ir_len_for`'s length: the level of the tail that
#: frequency sampling folds back onto the start.
ALIASING_DB = 80.0


def fdn_ir_len_for(t60_max: float, sample_rate: float) -> int:
    r"""The shortest fast FFT length :math:`N \ge \tfrac{80}{60} T_{60,\max} f_s`: a decay of
    :data:`ALIASING_DB` over the impulse response, so the folded tail is 80 dB down."""
    return fast_fft_len(math.ceil(ALIASING_DB / 60 * t60_max * sample_rate))


def fdn_aliasing_db(ir_len: int, t60_max: float, sample_rate: float) -> float:
    """How far (dB) the longest T60's decay has gone at ``ir_len`` samples (60 dB per T60)."""
    return 60.0 * ir_len / (t60_max * sample_rate)
