r"""Linear convolution of batched signals with batched FIR filters.

Very short filters are applied tap by tap (direct form, only the kept output samples); longer
ones through real FFTs of a fast (5-smooth) length with the inverse FFT told its output length,
so the result equals ``numpy.convolve`` for every combination of signal and filter lengths
(the forward FFTs use :func:`~grafx.processors.core.fft.rfft`, whose backward is cheaper).
Signals much longer than the filter (:func:`block_fft_len`) are convolved by blocks
(overlap-save): each block of ``M - N + 1`` output samples is one FFT of length ``M`` of about
``4 N``, with the filter's spectrum computed once, instead of one FFT of the whole signal
(2 million points for 30 s at 44.1 kHz, whose working set does not fit in cache).
"""

from __future__ import annotations

from typing import Any

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

#: Block FFT length of the overlap-save path, in filter lengths (rounded up to a fast length).
BLOCK_FFT_FACTOR = 4

#: Shortest block FFT length of the overlap-save path.
MIN_BLOCK_FFT = 4096

#: The overlap-save path is taken when the output holds at least this many samples and more
#: than :data:`MIN_BLOCKS` blocks. Below it (training crops of 2**17 samples), one FFT of the
#: whole signal is faster, with or without gradients (measured on CPU, 2 threads, filters of
#: 256 to 16384 taps: the block path is 0.5x the time at 2**19 samples, 1.0-1.4x at 2**18).
MIN_BLOCK_OUTPUT = 2**19

#: The overlap-save path is taken when the output holds more than this many blocks.
MIN_BLOCKS = 8


def fast_fft_len(n: int) -> int:
    """Smallest length ``>= n`` whose real FFT is fast (a 2, 3, 5-smooth number)."""
    return int(scipy.fft.next_fast_len(int(n), real=True))


def block_fft_len(fir_len: int) -> int:
    """FFT length of the overlap-save path for ``fir_len`` taps: a fast length of about
    ``4 * fir_len`` (at least :data:`MIN_BLOCK_FFT`); each block yields ``M - N + 1`` samples."""
    return fast_fft_len(max(BLOCK_FFT_FACTOR * int(fir_len), MIN_BLOCK_FFT))


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
    if _needs_grad(x, h):
        return _FFTConvolution.apply(x, h, n_fft, n_out)
    # each spectrum's one consumer is the product, whose backward makes a fresh gradient
    spectrum = _product(
        rfft(x, n=n_fft, overwrite_grad=True),
        rfft(h, n=n_fft, overwrite_grad=True),
        _needs_grad(x, h),
    )
    return torch.fft.irfft(spectrum, n=n_fft)[..., :n_out]


class _FFTConvolution(torch.autograd.Function):
    r"""``irfft(rfft(x, M) * rfft(h, M), M)[..., :n_out]`` (``M >= L + N - 1``) with a backward
    that keeps and makes fewer signal-sized tensors than autograd's.

    The forward computes exactly what the plain form computes. It keeps the two spectra
    conjugated in place (no copies), and the backward is the two correlations
    :math:`\partial L/\partial x = \mathrm{irfft}(G\,\overline{H})[:L]`,
    :math:`\partial L/\partial h = \mathrm{irfft}(G\,\overline{X})[:N]` with
    :math:`G = \mathrm{rfft}(g, M)`, each summed over the dimensions its operand was broadcast
    along; the second product is written into ``G``. Autograd's form pads the gradient, makes
    two conjugate copies and a separately weighted spectrum per operand. A backward that is
    itself recorded (double backward) uses the same formulas with differentiable ops on
    recomputed spectra.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, h: Tensor, n_fft: int, n_out: int) -> Tensor:
        spectrum_x = torch.fft.rfft(x, n=n_fft)
        spectrum_h = torch.fft.rfft(h, n=n_fft)
        y = torch.fft.irfft(spectrum_x * spectrum_h, n=n_fft)[..., :n_out]
        ctx.n_fft = n_fft
        needs_x, needs_h = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # saved (intermediates too) so that autograd frees them once the backward has run
        ctx.save_for_backward(
            x,
            h,
            spectrum_x.conj_physical_() if needs_h else None,
            spectrum_h.conj_physical_() if needs_x else None,
        )
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, h, conj_x, conj_h = ctx.saved_tensors
        n_fft = ctx.n_fft
        needs_x, needs_h = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        recorded = torch.is_grad_enabled()
        if recorded:  # double backward: the spectra as differentiable functions of x and h
            conj_x = torch.fft.rfft(x, n=n_fft).conj() if needs_h else None
            conj_h = torch.fft.rfft(h, n=n_fft).conj() if needs_x else None
        spectrum_g = torch.fft.rfft(grad, n=n_fft)
        del grad
        grad_x = grad_h = None
        if needs_h:
            product = spectrum_g * conj_x if needs_x or recorded else spectrum_g.mul_(conj_x)
            product = product.sum_to_size(*h.shape[:-1], product.shape[-1])
            grad_h = torch.fft.irfft(product, n=n_fft)[..., : h.shape[-1]]
            del product
        if needs_x:
            product = spectrum_g * conj_h if recorded else spectrum_g.mul_(conj_h)
            del spectrum_g
            product = product.sum_to_size(*x.shape[:-1], product.shape[-1])
            grad_x = torch.fft.irfft(product, n=n_fft)[..., : x.shape[-1]]
        return grad_x, grad_h, None, None


def _product(spectrum: Tensor, response: Tensor, needs_grad: bool) -> Tensor:
    """``spectrum * response``, in place (same values) when there is no backward to save the
    operands for and ``spectrum`` has the shape of the product."""
    if needs_grad or broadcast_shapes(spectrum.shape, response.shape) != spectrum.shape:
        return spectrum * response
    return spectrum.mul_(response)


def _needs_grad(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _pad(x: Tensor, left: int, right: int) -> Tensor:
    """``F.pad(x, (left, right))``; without gradients, zeros written only where the pads are
    (``F.pad`` fills the whole output, then copies the signal over it)."""
    if _needs_grad(x):
        return F.pad(x, (left, right))
    length = x.shape[-1]
    out = x.new_empty(*x.shape[:-1], left + length + right)
    out[..., :left].zero_()
    out[..., left : left + length].copy_(x)
    out[..., left + length :].zero_()
    return out


def _convolve_blocks(x: Tensor, h: Tensor, n_out: int, n_fft: int) -> Tensor:
    """The first ``n_out`` samples of the full convolution by overlap-save blocks of FFT
    length ``n_fft`` (``>= N``).

    Block ``j`` is ``n_fft`` samples of the input with ``N - 1`` zeros prepended, starting at
    ``j * hop`` (``hop = n_fft - N + 1``); the last ``hop`` samples of its circular convolution
    with the filter are ``y[j * hop : (j + 1) * hop]``.
    """
    fir_len = h.shape[-1]
    hop = n_fft - fir_len + 1
    num_blocks = -(-n_out // hop)
    # n_out >= L in every mode, so the right pad is never negative
    padded = _pad(x, fir_len - 1, num_blocks * hop - x.shape[-1])
    frames = padded.unfold(-1, n_fft, hop)  # (..., num_blocks, n_fft), a strided view
    spectrum = rfft(frames, n=n_fft, overwrite_grad=True)
    del padded, frames
    response = rfft(h, n=n_fft, overwrite_grad=True).unsqueeze(-2)
    spectrum = _product(spectrum, response, _needs_grad(x, h))
    blocks = torch.fft.irfft(spectrum, n=n_fft)[..., fir_len - 1 :]
    del spectrum
    return blocks.reshape(*blocks.shape[:-2], num_blocks * hop)[..., :n_out]


def convolve(
    input_signals: Tensor, fir: Tensor, mode: str = "causal", block_fft: int | None = None
) -> Tensor:
    r"""Convolve signals with FIR filters over the last dimension, broadcasting the others.

    .. math:: y[n] = \sum_{k=0}^{N-1} h[k]\, u[n-k]

    Args:
        input_signals: signals, ``(..., L)``.
        fir: filters, ``(..., N)``; leading dimensions broadcast against ``input_signals``.
        mode: ``"causal"`` keeps ``y[0 : L]``; ``"zerophase"`` keeps ``y[N//2 : N//2 + L]``
            (a centred, symmetric filter then adds no delay); ``"full"`` keeps all ``L + N - 1``.
        block_fft: FFT length of the overlap-save path (at least ``N``), forcing that path
            for any signal length (filters of more than :data:`DIRECT_MAX_TAPS` taps);
            ``None`` (default) takes it, with :func:`block_fft_len`, for outputs of at least
            :data:`MIN_BLOCK_OUTPUT` samples and more than :data:`MIN_BLOCKS` blocks. Both
            paths give the same result within float rounding.

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
    n_out = start + length
    if block_fft is None:
        n_fft = block_fft_len(fir_len)
        use_blocks = n_out >= MIN_BLOCK_OUTPUT and n_out > MIN_BLOCKS * (n_fft - fir_len + 1)
    else:
        n_fft, use_blocks = int(block_fft), True
        if n_fft < fir_len:
            raise ParameterError(
                f"convolve: block_fft={n_fft} is shorter than the filter ({fir_len} taps)"
            )
    if use_blocks:
        y = _convolve_blocks(input_signals, fir, n_out, n_fft)[..., start:]
    else:
        y = _convolve_fft(input_signals, fir, n_out)[..., start:]
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
