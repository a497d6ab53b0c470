r"""Linear convolution of batched signals with batched FIR filters.

Very short filters are applied tap by tap (direct form, only the kept output samples); longer
ones through real FFTs of a fast (5-smooth) length with the inverse FFT told its output length,
so the result equals ``numpy.convolve`` for every combination of signal and filter lengths
(the forward FFTs use :func:`~grafx.processors.core.fft.rfft`, whose backward is cheaper).
"""

from __future__ import annotations

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grafx.errors import ParameterError
from grafx.processors.core.fft import rfft
from grafx.processors.core.utils import broadcast_shapes

#: Filters shorter than this many taps are convolved directly.
DIRECT_MAX_TAPS = 8

CONVOLUTION_MODES = ("causal", "zerophase", "full")


def fast_fft_len(n: int) -> int:
    """Smallest length ``>= n`` whose real FFT is fast (a 2, 3, 5-smooth number)."""
    return int(scipy.fft.next_fast_len(int(n), real=True))


def _output_range(input_len: int, fir_len: int, mode: str) -> tuple[int, int]:
    """First index and length of the part of the full convolution that ``mode`` keeps."""
    if mode == "causal":
        return 0, input_len
    if mode == "zerophase":
        return fir_len // 2, input_len
    return 0, input_len + fir_len - 1


def _convolve_direct(x: Tensor, h: Tensor, start: int, length: int) -> Tensor:
    """Samples ``start .. start + length`` of the full convolution, one tap at a time."""
    fir_len = h.shape[-1]
    padded = F.pad(x, (fir_len - 1, fir_len - 1))
    offset = start + fir_len - 1
    y = h[..., :1] * padded[..., offset : offset + length]
    for k in range(1, fir_len):
        y = y + h[..., k : k + 1] * padded[..., offset - k : offset - k + length]
    return y


def _convolve_fft(x: Tensor, h: Tensor, n_out: int) -> Tensor:
    n_fft = fast_fft_len(x.shape[-1] + h.shape[-1] - 1)
    spectrum = rfft(x, n=n_fft) * rfft(h, n=n_fft)
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
    lead = broadcast_shapes(input_signals.shape[:-1], fir.shape[:-1])
    start, length = _output_range(input_len, fir_len, mode)
    if fir_len <= DIRECT_MAX_TAPS:
        x = input_signals.expand(*lead, input_len)
        return _convolve_direct(x, fir.expand(*lead, fir_len), start, length)
    # Unexpanded: each distinct row is transformed once and the spectra broadcast (a mono FIR
    # on stereo rows costs one FIR transform per node, not one per channel).
    y = _convolve_fft(input_signals, fir, start + length)[..., start:]
    return y.expand(*lead, y.shape[-1])


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
            raise ParameterError(
                f"FIRConvolution: mode must be 'causal' or 'zerophase', got {mode!r}"
            )
        self.mode = mode
        self.max_input_len = max_input_len

    def forward(self, input_signals: Tensor, fir: Tensor) -> Tensor:
        """Filter ``input_signals (B, C_in, L)`` with ``fir (B, C_f, N)``.

        Channels broadcast (1 against 2), giving ``(B, max(C_in, C_f), L)``.
        """
        return convolve(input_signals, fir, mode=self.mode)
