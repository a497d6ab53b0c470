r"""Linear convolution of batched signals with batched FIR filters.

Short filters go through a grouped ``conv1d`` (direct form); long ones through real FFTs of a
fast (5-smooth) length with the inverse FFT told its output length, so the result equals
``numpy.convolve`` for every combination of signal and filter lengths.
"""

from __future__ import annotations

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grafx.errors import ParameterError

#: Filters shorter than this many taps are convolved directly.
DIRECT_MAX_TAPS = 64

CONVOLUTION_MODES = ("causal", "zerophase", "full")


def fast_fft_len(n: int) -> int:
    """Smallest length ``>= n`` whose real FFT is fast (a 2, 3, 5-smooth number)."""
    return int(scipy.fft.next_fast_len(int(n), real=True))


def _crop(full: Tensor, input_len: int, fir_len: int, mode: str) -> Tensor:
    if mode == "causal":
        return full[..., :input_len]
    if mode == "zerophase":
        start = fir_len // 2
        return full[..., start : start + input_len]
    return full


def _convolve_direct(x: Tensor, h: Tensor) -> Tensor:
    """Full convolution of broadcast-equal ``x (..., L)`` and ``h (..., N)`` via grouped conv1d."""
    lead = x.shape[:-1]
    groups = max(1, x[..., 0].numel())
    x2 = x.reshape(1, groups, x.shape[-1])
    h2 = h.reshape(groups, 1, h.shape[-1]).flip(-1)
    y = F.conv1d(x2, h2, padding=h.shape[-1] - 1, groups=groups)
    return y.reshape(*lead, -1)


def _convolve_fft(x: Tensor, h: Tensor, n_out: int) -> Tensor:
    n_fft = fast_fft_len(x.shape[-1] + h.shape[-1] - 1)
    spectrum = torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(h, n=n_fft)
    return torch.fft.irfft(spectrum, n=n_fft)[..., :n_out]


def convolve(input_signals: Tensor, fir: Tensor, mode: str = "causal") -> Tensor:
    r"""Convolve signals with FIR filters over the last dimension, broadcasting the others.

    .. math:: y[n] = \sum_{k=0}^{N-1} h[k]\, u[n-k]

    Args:
        input_signals: signals, ``(..., L)``.
        fir: filters, ``(..., N)``; leading dimensions broadcast against ``input_signals``.
        mode: ``"causal"`` keeps ``y[0 : L]``; ``"zerophase"`` keeps ``y[N//2 : N//2 + L]``
            (a centred, symmetric filter then adds no delay); ``"full"`` keeps all ``L + N - 1``.

    Returns:
        The filtered signals, ``(..., L)`` (``(..., L + N - 1)`` for ``"full"``).
    """
    if mode not in CONVOLUTION_MODES:
        raise ParameterError(f"convolve: unknown mode {mode!r}; use one of {CONVOLUTION_MODES}")
    input_len, fir_len = input_signals.shape[-1], fir.shape[-1]
    lead = torch.broadcast_shapes(input_signals.shape[:-1], fir.shape[:-1])
    x = input_signals.expand(*lead, input_len)
    h = fir.expand(*lead, fir_len)
    if fir_len < DIRECT_MAX_TAPS and not x.is_complex() and not h.is_complex():
        full = _convolve_direct(x, h.to(x.dtype))
    else:
        full = _convolve_fft(x, h, input_len + fir_len - 1)
    return _crop(full, input_len, fir_len, mode)


class FIRConvolution(nn.Module):
    r"""Batched FIR filtering of multichannel signals (a building block, no parameters).

    Args:
        mode: ``"causal"`` or ``"zerophase"`` (see :func:`convolve`).
        flashfftconv: accepted for compatibility; grafx always uses its exact FFT path.
        max_input_len: accepted for compatibility; lengths are handled per call.
    """

    def __init__(self, mode: str = "causal", flashfftconv: bool = True, max_input_len: int = 2**17):
        super().__init__()
        if mode not in ("causal", "zerophase"):
            raise ParameterError(f"FIRConvolution: mode must be 'causal' or 'zerophase', got {mode!r}")
        self.mode = mode
        self.max_input_len = max_input_len

    def forward(self, input_signals: Tensor, fir: Tensor) -> Tensor:
        """Filter ``input_signals (B, C_in, L)`` with ``fir (B, C_f, N)``.

        Channels broadcast (1 against 2), giving ``(B, max(C_in, C_f), L)``.
        """
        return convolve(input_signals, fir, mode=self.mode)
