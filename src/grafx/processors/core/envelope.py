r"""Envelope smoothers: a truncated one-pole low-pass (an FIR) and attack/release ballistics.

Both act on ``(B, L)`` control signals (energies or gains) with per-row coefficients given as
unconstrained ``z`` values mapped through a sigmoid.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from grafx.errors import MissingDependencyError, ParameterError
from grafx.processors.core.ballistics import (
    ballistics,
    numba_enabled,
    resolve_backend,
    run_rows,
    to_numpy,
)
from grafx.processors.core.convolution import convolve
from grafx.processors.core.scan import linear_recurrence, reverse_linear_recurrence

ONE_POLE_BACKENDS = ("auto", "recursion", "scan", "fft")


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


class _OnePoleFunction(torch.autograd.Function):
    """``y[n] = a y[n-1] + b x[n]`` from rest over ``(N, L)`` rows, by compiled loops."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        # deferred: numba is an optional dependency, imported (and compiling) on first use
        from grafx.processors.core.ballistics_numba import one_pole_forward_kernel

        x_np = to_numpy(x)
        y_np = np.empty_like(x_np)
        run_rows(one_pole_forward_kernel, (x_np, to_numpy(a), to_numpy(b), y_np))
        y = torch.from_numpy(y_np).to(x.device)
        ctx.save_for_backward(x, y, a, b)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        # deferred: numba is an optional dependency, imported (and compiling) on first use
        from grafx.processors.core.ballistics_numba import one_pole_backward_kernel

        arrays = [to_numpy(t) for t in (grad_y, *ctx.saved_tensors)]
        x = arrays[1]
        grads = (np.empty_like(x), np.empty(x.shape[0], x.dtype), np.empty(x.shape[0], x.dtype))
        run_rows(one_pole_backward_kernel, (*arrays, *grads))
        grad_x, grad_a, grad_b = (torch.from_numpy(g).to(grad_y.device) for g in grads)
        return grad_x, grad_a, grad_b


class _OnePoleScanFunction(torch.autograd.Function):
    """The same recursion as :class:`_OnePoleFunction` by a parallel scan, on any device."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, a: Tensor, b: Tensor) -> Tensor:
        y = linear_recurrence(a[:, None], b[:, None] * x)
        ctx.save_for_backward(x, y, a, b)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, y, a, b = ctx.saved_tensors
        lam = reverse_linear_recurrence(a[:, None], grad_y)
        grad_a = (lam[:, 1:] * y[:, :-1]).sum(1)
        return b[:, None] * lam, grad_a, (lam * x).sum(1)


def _resolve_one_pole_backend(backend: str, device: torch.device) -> str:
    if backend not in ONE_POLE_BACKENDS:
        raise ParameterError(
            f"truncated_one_pole: unknown backend {backend!r}; use one of {ONE_POLE_BACKENDS}"
        )
    if backend == "recursion" and importlib.util.find_spec("numba") is None:
        raise MissingDependencyError(
            "truncated_one_pole: backend 'recursion' needs numba (pip install 'grafx-torch[numba]'); "
            "backend 'scan' computes the same recursion in torch"
        )
    if backend == "auto":
        return "recursion" if device.type == "cpu" and numba_enabled() else "fft"
    return backend


def truncated_one_pole(
    signals: Tensor, z_alpha: Tensor, iir_len: int = 16384, backend: str = "auto"
) -> Tensor:
    r"""Smooth ``signals`` with :math:`y[n] = \alpha y[n-1] + (1 - \alpha) x[n]`, truncated.

    The recursion's impulse response cut at ``N = iir_len`` taps (:func:`one_pole_fir`), i.e.
    exactly

    .. math:: y_N[n] = y[n] - \alpha^N y[n - N],

    computed either that way from the exact recursion (``"recursion"``: compiled with numba,
    CPU only, the fastest there; ``"scan"``: a parallel scan in torch on any device,
    :mod:`grafx.processors.core.scan`) or by FFT convolution with the FIR (``"fft"``);
    ``"auto"`` picks ``"recursion"`` for CPU tensors when numba is installed and enabled
    (see :func:`grafx.processors.core.ballistics.numba_enabled`), else ``"fft"``. All give the
    same result up to rounding. There is no output ReLU (the
    original clamped every output at 0, which zeroed negative inputs such as log gains);
    callers smoothing non-negative energies clamp the result themselves.

    Args:
        signals: ``(B, L)``.
        z_alpha: unconstrained pole, ``(B, 1)``.
        iir_len: FIR length ``N``.
        backend: ``"auto"``, ``"recursion"``, ``"scan"`` or ``"fft"``.

    Returns:
        Smoothed signals, ``(B, L)``.
    """
    z = z_alpha.to(signals.dtype)
    length = signals.shape[-1]
    backend = _resolve_one_pole_backend(backend, signals.device)
    if backend == "fft":
        return convolve(signals, one_pole_fir(z, min(iir_len, length)), mode="causal")
    # a = alpha and b = 1 - alpha are passed separately: 1 - sigmoid(z) rounds to 0 for z > 17
    a, b = torch.sigmoid(z[:, 0]), torch.sigmoid(-z[:, 0])
    function = _OnePoleFunction if backend == "recursion" else _OnePoleScanFunction
    y = function.apply(signals, a, b)
    if iir_len < length:
        tail = torch.exp(iir_len * F.logsigmoid(z))  # alpha^N, no underflow to NaN
        y = y - tail * F.pad(y[:, : length - iir_len], (iir_len, 0))
    return y


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
        backend: ``"auto"``, ``"torch"``, ``"numba"``, ``"python"`` or ``"torchcomp"``.
    """

    def __init__(self, backend: str = "auto"):
        super().__init__()
        self.backend = resolve_backend(backend)

    def forward(self, input_signals: Tensor, z_alpha: Tensor) -> Tensor:
        _check_control(type(self).__name__, input_signals, z_alpha, 2)
        return ballistics_from_z(input_signals, z_alpha, 1.0, self.backend)
