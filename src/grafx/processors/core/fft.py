r"""A real FFT whose backward is a real inverse FFT.

PyTorch's backward of ``torch.fft.rfft`` zero-pads the incoming gradient to the full length and
runs a complex-to-complex FFT, about twice the work of the forward (and a full-size zero
fill). For :math:`X_k = \sum_n x_n e^{-2\pi i kn/N}`, :math:`k = 0 .. \lfloor N/2 \rfloor`, the
gradient is :math:`\partial L/\partial x_n = \mathrm{Re} \sum_k g_k e^{2\pi i kn/N}`, which
equals :math:`N \cdot \mathrm{irfft}(w \odot g)_n` with :math:`w_k = 1/2` except at
:math:`k = 0` and, for even :math:`N`, at :math:`k = N/2` (:math:`w_k = 1`) — a real inverse
FFT, about half the cost. :func:`rfft` computes exactly what ``torch.fft.rfft`` computes; only
its backward is cheaper.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _RealFFT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, n: int) -> Tensor:
        ctx.n, ctx.input_len = n, x.shape[-1]
        return torch.fft.rfft(x, n=n)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        n = ctx.n
        weight = torch.full((grad.shape[-1],), 0.5 * n, dtype=grad.real.dtype, device=grad.device)
        weight[0] = n
        if n % 2 == 0:
            weight[-1] = n
        grad_x = torch.fft.irfft(grad * weight, n=n)
        if ctx.input_len <= n:
            return grad_x[..., : ctx.input_len], None
        # rfft crops inputs longer than n: the cropped samples get no gradient.
        pad = grad_x.new_zeros(*grad_x.shape[:-1], ctx.input_len - n)
        return torch.cat([grad_x, pad], dim=-1), None


def rfft(x: Tensor, n: int | None = None) -> Tensor:
    r"""``torch.fft.rfft(x, n=n)`` over the last dimension, with a cheaper backward.

    Args:
        x: real signals, ``(..., L)``.
        n: FFT length (zero-padded or cropped to it); ``L`` when omitted.

    Returns:
        The one-sided spectrum, ``(..., n // 2 + 1)``, complex of ``x``'s precision.
    """
    n = x.shape[-1] if n is None else int(n)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return torch.fft.rfft(x, n=n)
    return _RealFFT.apply(x, n)
