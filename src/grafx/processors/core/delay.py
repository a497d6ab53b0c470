r"""Surrogate (differentiable) delay lines: a delay as a damped complex sinusoid's spectrum.

An integer delay :math:`d` of an ``N``-sample circular buffer has the spectrum
:math:`e^{-i 2\pi k d / N} = w^k` with :math:`w = e^{-i 2\pi d / N}`. Letting :math:`w` leave the
unit circle, :math:`w = r e^{i\theta}` with :math:`r < 1`, smooths the impulse into a bump around
:math:`d = -\theta N / 2\pi` whose position has a useful gradient (Hayes et al., "Sinusoidal
frequency estimation by gradient descent", 2023). The unconstrained complex parameter
:math:`z` is squashed into the unit disk with :math:`w = z \tanh|z| / |z|`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from grafx.errors import ParameterError

#: Keeps ``z / |z|`` and ``log(w)`` finite at ``z = 0`` (the original's "delay nan" guard).
SURROGATE_EPS = 1e-7


class _UnitModulusGradient(torch.autograd.Function):
    """Identity forward; the backward scales each gradient element to modulus one."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:  # type: ignore[override]
        return z.view_as(z)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad / (grad.abs() + SURROGATE_EPS)


def squash_to_unit_disk(z: Tensor) -> Tensor:
    r""":math:`w = z \tanh|z| / (|z| + \epsilon)`: same angle, radius :math:`\tanh|z| < 1`."""
    magnitude = z.abs()
    return z * (torch.tanh(magnitude) / (magnitude + SURROGATE_EPS))


def surrogate_delay_ir(z: Tensor, ir_len: int) -> Tensor:
    r"""Soft delay impulse responses from complex parameters.

    .. math::
        h[n] = \mathrm{irfft}_N\big(w^k\big)[n]
        = \frac{1}{N}\Big(1 + 2\sum_{k=1}^{\lceil N/2 \rceil - 1} r^k \cos(k(\theta + 2\pi n/N))
          + [N \text{ even}]\, r^{N/2} \cos(\tfrac{N}{2}(\theta + 2\pi n/N))\Big)

    with :math:`w = r e^{i\theta}` from :func:`squash_to_unit_disk`. As :math:`r \to 1` and
    :math:`\theta = -2\pi d / N` for an integer :math:`d`, :math:`h` tends to the one-hot at
    :math:`d`; its peak is :math:`(1 + 2\sum r^k + \dots)/N`, i.e. below 1 by about
    :math:`(1 - r) N / 4` when :math:`(1 - r) N \ll 1`.

    Args:
        z: complex parameters, any shape ``(...)``; complex64 or complex128.
        ir_len: IR length ``N`` (even or odd).

    Returns:
        Real IRs, ``(..., N)``, of the real dtype matching ``z``.
    """
    if not z.is_complex():
        raise ParameterError(f"surrogate_delay_ir: z must be complex, got {z.dtype}")
    w = squash_to_unit_disk(z) + SURROGATE_EPS
    k = torch.arange(ir_len // 2 + 1, dtype=z.real.dtype, device=z.device)
    spectrum = torch.exp(k * torch.log(w)[..., None])
    return torch.fft.irfft(spectrum, n=ir_len)


def radii_loss(z: Tensor) -> Tensor:
    r""":math:`\sum (1 - \tanh|z|)^2` over every element: pulls the surrogates towards sharp delays."""
    return (1 - torch.tanh(z.abs())).square().sum()


def delay_z_from_delay(delay: Tensor | float, ir_len: int, radius: float = 0.999) -> Tensor:
    r"""Inverse of the surrogate: the ``z`` whose IR peaks at ``delay`` samples with radius ``r``.

    .. math:: z = \operatorname{artanh}(r)\, e^{-i 2\pi d / N}

    Args:
        delay: delay(s) in samples, in ``[0, N)``; a float tensor gives the complex dtype.
        ir_len: IR length ``N``.
        radius: squashed radius :math:`r \in (0, 1)`.

    Returns:
        Complex ``z`` of the shape of ``delay``.
    """
    delay = torch.as_tensor(delay)
    if not delay.is_floating_point():
        delay = delay.to(torch.get_default_dtype())
    angle = -2 * math.pi * delay / ir_len
    return torch.polar(torch.full_like(delay, math.atanh(radius)), angle)


class SurrogateDelay(nn.Module):
    r"""Differentiable delay lines of ``N`` samples (see :func:`surrogate_delay_ir`).

    Args:
        N: IR length in samples.
        straight_through: the forward output is the exact one-hot at the soft IR's maximum,
            while gradients flow through the soft IR (straight-through estimator).
        radii_loss: also return :func:`radii_loss`; with ``False`` the second output is ``None``
            (the original computed it whatever the flag said).
        normalize_gradients: scale the gradient reaching each ``z`` to modulus one, so taps far
            from their target move as fast as near ones.

    Difference from the original: ``N`` may be odd (the original returned ``N - 1`` samples for
    odd ``N``), any complex dtype works (the original required complex64), and ``radii_loss`` is
    honoured.
    """

    def __init__(
        self,
        N: int,
        straight_through: bool = True,
        radii_loss: bool = True,
        normalize_gradients: bool = True,
    ):
        super().__init__()
        if N < 1:
            raise ParameterError(f"SurrogateDelay: N must be positive, got {N}")
        self.N = int(N)
        self.straight_through = bool(straight_through)
        self.radii_loss = bool(radii_loss)
        self.normalize_gradients = bool(normalize_gradients)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """``z (...)`` complex to ``(irs (..., N), radii loss scalar or None)``."""
        if self.normalize_gradients and z.requires_grad:
            z = _UnitModulusGradient.apply(z)
        irs = surrogate_delay_ir(z, self.N)
        if self.straight_through:
            hard = torch.zeros_like(irs).scatter_(-1, irs.argmax(-1, keepdim=True), 1.0)
            irs = hard + (irs - irs.detach())
        loss = radii_loss(z) if self.radii_loss else None
        return irs, loss
