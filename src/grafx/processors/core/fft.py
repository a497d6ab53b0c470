r"""A real FFT whose backward is a real inverse FFT.

PyTorch's backward of ``torch.fft.rfft`` zero-pads the incoming gradient to the full length and
runs a complex-to-complex FFT, about twice the work of the forward (and a full-size zero
fill). For :math:`X_k = \sum_n x_n e^{-2\pi i kn/N}`, :math:`k = 0 .. \lfloor N/2 \rfloor`, the
gradient is :math:`\partial L/\partial x_n = \mathrm{Re} \sum_k g_k e^{2\pi i kn/N}`, which
equals :math:`N \cdot \mathrm{irfft}(w \odot g)_n` with :math:`w_k = 1/2` except at
:math:`k = 0` and, for even :math:`N`, at :math:`k = N/2` (:math:`w_k = 1`) — a real inverse
FFT, about half the cost. :func:`rfft` computes exactly what ``torch.fft.rfft`` computes; only
its backward is cheaper.

A caller whose spectrum goes only into a product (whose backward hands over a gradient of its
own, used nowhere else) can pass ``overwrite_grad=True``; the weighting is then done in that
gradient's memory instead of a new spectrum-sized tensor.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _RealFFT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, n: int, overwrite_grad: bool) -> Tensor:
        ctx.n, ctx.input_len, ctx.overwrite_grad = n, x.shape[-1], overwrite_grad
        return torch.fft.rfft(x, n=n)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        n = ctx.n
        weight = torch.full((grad.shape[-1],), 0.5 * n, dtype=grad.real.dtype, device=grad.device)
        weight[0] = n
        if n % 2 == 0:
            weight[-1] = n
        # in place (same values as grad * weight) unless a double backward records this
        in_place = ctx.overwrite_grad and not torch.is_grad_enabled() and _writable(grad)
        weighted = grad.mul_(weight) if in_place else grad * weight
        grad_x = torch.fft.irfft(weighted, n=n)
        del weighted
        if ctx.input_len <= n:
            return grad_x[..., : ctx.input_len], None, None
        # rfft crops inputs longer than n: the cropped samples get no gradient.
        pad = grad_x.new_zeros(*grad_x.shape[:-1], ctx.input_len - n)
        return torch.cat([grad_x, pad], dim=-1), None, None


def _writable(t: Tensor) -> bool:
    """Whether an in-place elementwise op on ``t`` writes each element once: no dimension of
    size over 1 with stride 0 (an expanded tensor) and no two dimensions overlapping."""
    dims = sorted((abs(st), sz) for st, sz in zip(t.stride(), t.shape, strict=True) if sz > 1)
    extent = 1
    for stride, size in dims:
        if stride < extent:
            return False
        extent = stride * size
    return True


def rfft(x: Tensor, n: int | None = None, overwrite_grad: bool = False) -> Tensor:
    r"""``torch.fft.rfft(x, n=n)`` over the last dimension, with a cheaper backward.

    Args:
        x: real signals, ``(..., L)``.
        n: FFT length (zero-padded or cropped to it); ``L`` when omitted.
        overwrite_grad: the backward may weight the spectrum's incoming gradient in place.
            Only for a spectrum whose one consumer is an op whose backward makes a new
            gradient tensor and keeps no reference to it (a product ``X * H``): autograd hands
            that tensor to this backward alone.

    Returns:
        The one-sided spectrum, ``(..., n // 2 + 1)``, complex of ``x``'s precision.
    """
    n = x.shape[-1] if n is None else int(n)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return torch.fft.rfft(x, n=n)
    return _RealFFT.apply(x, n, overwrite_grad)
