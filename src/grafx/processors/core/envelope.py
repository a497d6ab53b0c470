r"""Envelope smoothers: a truncated one-pole low-pass (an FIR) and attack/release ballistics.

Both act on ``(B, L)`` control signals (energies or gains) with per-row coefficients given as
unconstrained ``z`` values mapped through a sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grafx.errors import ParameterError
from grafx.processors.core.ballistics import ballistics, resolve_backend
from grafx.processors.core.convolution import convolve


def alpha_from_z(z_alpha: Tensor) -> Tensor:
    r"""Pole (or smoothing coefficient) :math:`\alpha = \sigma(z)`, in ``(0, 1)``."""
    return torch.sigmoid(z_alpha)


def z_from_alpha(alpha: Tensor) -> Tensor:
    """Inverse of :func:`alpha_from_z`."""
    return torch.logit(alpha)


def one_pole_fir(z_alpha: Tensor, iir_len: int) -> Tensor:
    r"""The first ``iir_len`` taps of a unit-DC-gain one-pole low-pass.

    .. math:: h[n] = (1 - \alpha)\,\alpha^n = \exp\!\big(\log\sigma(-z) + n \log\sigma(z)\big)

    Evaluated in the log domain, so a tiny :math:`\alpha` (``z`` very negative) underflows to
    an impulse instead of the original's ``log 0 = -inf`` and NaN gradients, and no clamp is
    needed near :math:`\alpha = 1`.

    Args:
        z_alpha: unconstrained pole, ``(B, 1)``.
        iir_len: number of taps ``N``.

    Returns:
        The filters, ``(B, N)``.
    """
    n = torch.arange(iir_len, dtype=z_alpha.dtype, device=z_alpha.device)
    return torch.exp(F.logsigmoid(-z_alpha) + n * F.logsigmoid(z_alpha))


def truncated_one_pole(signals: Tensor, z_alpha: Tensor, iir_len: int = 16384) -> Tensor:
    r"""Smooth ``signals`` with :math:`y[n] = \alpha y[n-1] + (1 - \alpha) x[n]`, truncated.

    The recursion's impulse response is cut at ``iir_len`` taps and applied by exact causal
    convolution. There is no output ReLU (the original clamped every output at 0, which zeroed
    negative inputs such as log gains); callers smoothing non-negative energies clamp the
    result themselves.

    Args:
        signals: ``(B, L)``.
        z_alpha: unconstrained pole, ``(B, 1)``.
        iir_len: FIR length; taps beyond ``L`` cannot reach the output and are not built.

    Returns:
        Smoothed signals, ``(B, L)``.
    """
    fir = one_pole_fir(z_alpha.to(signals.dtype), min(iir_len, signals.shape[-1]))
    return convolve(signals, fir, mode="causal")


def ballistics_from_z(
    signals: Tensor, z_alpha: Tensor, initial: Tensor | float = 1.0, backend: str = "auto"
) -> Tensor:
    r"""Attack/release ballistics with coefficients :math:`c = \sigma(z)`.

    ``z_alpha[:, 0]`` gives the coefficient used while the input is below the state (falling),
    ``z_alpha[:, 1]`` while it is at or above (rising); each is the weight of the *new* sample
    (see :func:`grafx.processors.core.ballistics.ballistics`). For a compressor's gain, falling
    is attack; for its input energy, rising is.

    Args:
        signals: ``(B, L)``.
        z_alpha: ``(B, 2)``.
        initial: the state before the first sample, a float or ``(B,)``.
        backend: see :mod:`grafx.processors.core.ballistics`.

    Returns:
        Smoothed signals, ``(B, L)``.
    """
    coeffs = torch.sigmoid(z_alpha.to(signals.dtype))
    return ballistics(signals, coeffs[:, 0], coeffs[:, 1], initial=initial, backend=backend)


def _check_control(owner: str, x: Tensor, z_alpha: Tensor, width: int) -> None:
    if x.ndim != 2:
        raise ParameterError(f"{owner}: input must be (B, L), got shape {tuple(x.shape)}")
    if tuple(z_alpha.shape) != (x.shape[0], width):
        raise ParameterError(
            f"{owner}: parameter 'z_alpha' has shape {tuple(z_alpha.shape)}, "
            f"expected {(x.shape[0], width)}"
        )


class TruncatedOnePoleIIRFilter(nn.Module):
    """Module form of :func:`truncated_one_pole`: ``forward(x (B, L), z_alpha (B, 1))``.

    Args:
        iir_len: FIR length.
        **backend_kwargs: accepted for compatibility (``flashfftconv``, ``max_input_len``).
    """

    def __init__(self, iir_len: int = 16384, **backend_kwargs):
        super().__init__()
        self.iir_len = int(iir_len)

    def forward(self, input_signals: Tensor, z_alpha: Tensor) -> Tensor:
        _check_control(type(self).__name__, input_signals, z_alpha, 1)
        return truncated_one_pole(input_signals, z_alpha, self.iir_len)


class Ballistics(nn.Module):
    """Module form of :func:`ballistics_from_z`: ``forward(x (B, L), z_alpha (B, 2))``.

    The state starts at 1, as in the original.

    Args:
        backend: ``"auto"``, ``"numba"``, ``"python"`` or ``"torchcomp"``.
    """

    def __init__(self, backend: str = "auto"):
        super().__init__()
        self.backend = resolve_backend(backend)

    def forward(self, input_signals: Tensor, z_alpha: Tensor) -> Tensor:
        _check_control(type(self).__name__, input_signals, z_alpha, 2)
        return ballistics_from_z(input_signals, z_alpha, 1.0, self.backend)
