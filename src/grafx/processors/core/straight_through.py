r"""Straight-through estimators: discrete operations with the gradient of a smooth surrogate.

A straight-through estimator (Bengio, Léonard and Courville, "Estimating or propagating
gradients through stochastic neurons for conditional computation", 2013) uses one function
forward and another one backward:

.. math:: \operatorname{st}(v, s) = s + \operatorname{sg}(v - s)

has the value of :math:`v` (the discrete operation) and the gradient of :math:`s` (its smooth
surrogate); :math:`\operatorname{sg}` stops the gradient. The helpers below apply it to the
discrete operations of audio effects: rounding, bit crushing and integer delays. They keep the
input's dtype and device.

Example:
    >>> import torch
    >>> x = torch.tensor([0.26, -0.74], requires_grad=True)
    >>> y = quantize(x, 0.5)
    >>> y
    tensor([ 0.5000, -0.5000], grad_fn=<AddBackward0>)
    >>> y.sum().backward(); x.grad
    tensor([1., 1.])
"""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.errors import ParameterError

__all__ = ["straight_through", "round_ste", "quantize", "bit_crush", "integer_delay"]


def straight_through(value: Tensor, surrogate: Tensor) -> Tensor:
    r"""The value of ``value`` with the gradient of ``surrogate``: :math:`s + \mathrm{sg}(v - s)`.

    Args:
        value: the output of the discrete operation, any shape (no gradient needed).
        surrogate: a differentiable stand-in, broadcastable to ``value``.

    Returns:
        ``value`` (numerically), differentiable as ``surrogate``.
    """
    return surrogate + (value - surrogate).detach()


def round_ste(x: Tensor) -> Tensor:
    """``torch.round(x)`` forward, identity backward."""
    return straight_through(torch.round(x), x)


def quantize(x: Tensor, step: Tensor | float) -> Tensor:
    r"""Uniform quantisation :math:`y = \Delta \operatorname{round}(x / \Delta)`, identity gradient.

    Args:
        x: any shape, e.g. audio ``(B, C, L)``.
        step: the quantisation step :math:`\Delta > 0`, a float or a tensor broadcastable to
            ``x`` (e.g. ``(B, 1, 1)``); it receives the gradient of :math:`x` (zero), not of the
            rounding.

    Returns:
        The quantised ``x``, same shape; ``dy/dx = 1``.
    """
    step = torch.as_tensor(step, dtype=x.dtype, device=x.device)
    if bool((step <= 0).any()):
        raise ParameterError(f"quantize: step must be > 0, got {step.min().item()}")
    return straight_through(step * torch.round(x / step), x)


def bit_crush(x: Tensor, bits: Tensor | float) -> Tensor:
    r"""Bit crusher: ``x`` rounded to :math:`2^{b-1}` levels per unit, identity gradient.

    .. math:: y = \operatorname{round}(2^{b-1} x) / 2^{b-1}, \qquad b = \operatorname{round}(
        \texttt{bits})

    Args:
        x: audio, ``(B, C, L)`` (or any shape), full scale :math:`\pm 1`.
        bits: bit depth :math:`\ge 1`, a float or a tensor broadcastable to ``x`` (``(B, 1, 1)``
            for one depth per node); rounded to an integer.

    Returns:
        The crushed audio, same shape; ``dy/dx = 1``.
    """
    bits = torch.round(torch.as_tensor(bits, dtype=x.dtype, device=x.device))
    if bool((bits < 1).any()):
        raise ParameterError(f"bit_crush: bits must be >= 1, got {bits.min().item()}")
    return quantize(x, 2.0 ** (1 - bits))


def integer_delay(x: Tensor, delay: Tensor) -> Tensor:
    r"""Delay each node's audio by a whole number of samples, differentiable in the delay.

    Forward: :math:`y[n] = x[n - \operatorname{round}(d)]` (zeros before the start). Backward:
    the gradient of the linearly interpolated fractional delay at the same :math:`d`,
    :math:`\tilde y[n] = (1 - f)\, x[n - k] + f\, x[n - k - 1]`, :math:`k = \lfloor d \rfloor`,
    :math:`f = d - k`, so :math:`\partial \tilde y / \partial d = x[n - k - 1] - x[n - k]`.

    Args:
        x: audio, ``(B, C, L)``.
        delay: delays in samples, ``(B,)`` or ``(B, 1)``, clamped to ``[0, L - 1]``.

    Returns:
        Delayed audio, ``(B, C, L)``.
    """
    if x.ndim != 3:
        raise ParameterError(f"integer_delay: x must be (B, C, L), got {tuple(x.shape)}")
    delay = delay.reshape(-1)
    if delay.shape[0] != x.shape[0]:
        raise ParameterError(
            f"integer_delay: delay has {delay.shape[0]} values for a batch of {x.shape[0]}"
        )
    length = x.shape[-1]
    delay = delay.to(x.dtype).clamp(0, length - 1)
    n = torch.arange(length, device=x.device, dtype=x.dtype)

    def shifted(k: Tensor) -> Tensor:
        index = n - k[:, None]  # (B, L)
        valid = (index >= 0).to(x.dtype)
        gathered = x.gather(-1, index.clamp(min=0).long()[:, None, :].expand_as(x))
        return gathered * valid[:, None, :]

    whole = torch.floor(delay.detach())
    frac = (delay - whole)[:, None, None]
    surrogate = (1 - frac) * shifted(whole) + frac * shifted(whole + 1)
    return straight_through(shifted(torch.round(delay.detach())), surrogate)
