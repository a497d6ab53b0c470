r"""Exact, differentiable cascades of second-order sections (biquads) on batched signals.

:func:`sosfilt` filters rows of signals through ``K`` normalised biquads

.. math:: H_k(z) = \frac{b_{k,0} + b_{k,1} z^{-1} + b_{k,2} z^{-2}}{1 + a_{k,1} z^{-1} + a_{k,2} z^{-2}}

with zero initial state, like ``scipy.signal.sosfilt``. Two exact methods:

* ``"scipy"`` (CPU tensors): a custom :class:`torch.autograd.Function` whose forward runs
  ``scipy.signal.sosfilt`` on each row (in float64, the result cast back to the input dtype, so
  float32 results are as accurate as float32 can hold) and whose backward is itself
  IIR filtering. For one section :math:`y = (B/A)u` and an output gradient :math:`g`, let
  :math:`\tilde g = J\,\mathrm{lfilter}(1, A, J g)` (:math:`J` reverses time). Then

  .. math:: \frac{\partial\mathcal L}{\partial u[n]} = \sum_j b_j \tilde g[n+j], \quad
            \frac{\partial\mathcal L}{\partial b_j} = \sum_n \tilde g[n]\, u[n-j], \quad
            \frac{\partial\mathcal L}{\partial a_j} = -\sum_n \tilde g[n]\, y[n-j],

  and a cascade repeats this section by section from the last one.
* ``"scan"`` (any device): :func:`grafx.processors.core.biquad_scan.sosfilt_scan`, plain
  autograd.

``"auto"`` picks ``"scipy"`` on CPU and ``"scan"`` elsewhere.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from grafx.errors import ParameterError
from grafx.processors.core.biquad_scan import sosfilt_scan

SOSFILT_METHODS = ("auto", "scipy", "scan")


def _sos_rows(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``b (N, K, 3)`` and ``a (N, K, 2)`` to scipy's ``sos`` rows ``(N, K, 6)`` with ``a0 = 1``."""
    ones = np.ones(b.shape[:-1] + (1,), dtype=b.dtype)
    return np.concatenate([b, ones, a], axis=-1)


def _sosfilt_rows(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfilt`` per row: ``sos (N, K, 6)``, ``x (N, L)``."""
    out = np.empty_like(x)
    for row in range(x.shape[0]):
        out[row] = scipy.signal.sosfilt(sos[row], x[row])
    return out


def _reverse_allpole_rows(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Adjoint of ``1/A`` on each row: ``J lfilter(1, A, J g)``; ``a (N, 2)``, ``g (N, L)``."""
    out = np.empty_like(g)
    den = np.concatenate([np.ones((a.shape[0], 1), dtype=a.dtype), a], axis=-1)
    one = np.ones(1, dtype=g.dtype)
    for row in range(g.shape[0]):
        out[row] = scipy.signal.lfilter(one, den[row], g[row, ::-1])[::-1]
    return out


def _lagged_dots(left: Tensor, right: Tensor, lags: range) -> Tensor:
    """``sum_n left[:, n] * right[:, n - j]`` for each ``j`` in ``lags``, stacked on dim -1."""
    length = left.shape[-1]
    return torch.stack([(left[:, j:] * right[:, : length - j]).sum(-1) for j in lags], dim=-1)


class _SosfiltScipy(torch.autograd.Function):
    """Biquad cascade through scipy on CPU, with the IIR adjoint as backward (module docstring)."""

    @staticmethod
    def forward(ctx, x: Tensor, b: Tensor, a: Tensor) -> Tensor:
        # scipy runs in float64 whatever the input dtype: float32 rounding in the recursion
        # would otherwise dominate the error of low-frequency, high-Q sections.
        xn = x.detach().numpy().astype(np.float64)
        bn = b.detach().numpy().astype(np.float64)
        an = a.detach().numpy().astype(np.float64)
        sos = _sos_rows(bn, an)
        if not ctx.needs_input_grad[1] and not ctx.needs_input_grad[2]:
            ctx.save_for_backward(b, a)
            return torch.from_numpy(_sosfilt_rows(sos, xn)).to(x.dtype)
        stages = [xn]
        for k in range(sos.shape[1]):
            stages.append(_sosfilt_rows(sos[:, k : k + 1], stages[-1]))
        stages = [torch.from_numpy(s) for s in stages]
        # Section k reads signals[k] and writes signals[k + 1]; signals[0] is the input.
        ctx.save_for_backward(b, a, *stages)
        return stages[-1].to(x.dtype, copy=True)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        b, a, *signals = ctx.saved_tensors
        dtype = grad_output.dtype
        an = a.detach().numpy().astype(np.float64)
        b = b.to(torch.float64)
        grad = grad_output.to(torch.float64).contiguous()
        grad_b = b.new_zeros(b.shape) if ctx.needs_input_grad[1] else None
        grad_a = b.new_zeros(a.shape) if ctx.needs_input_grad[2] else None
        length = grad.shape[-1]
        for k in reversed(range(b.shape[1])):
            gt = torch.from_numpy(_reverse_allpole_rows(an[:, k], grad.numpy()))
            if signals:
                if grad_b is not None:
                    grad_b[:, k] = _lagged_dots(gt, signals[k], range(3))
                if grad_a is not None:
                    grad_a[:, k] = -_lagged_dots(gt, signals[k + 1], range(1, 3))
            padded = torch.nn.functional.pad(gt, (0, 2))
            bk = b[:, k]
            grad = (
                bk[:, 0:1] * padded[:, :length]
                + bk[:, 1:2] * padded[:, 1 : length + 1]
                + bk[:, 2:3] * padded[:, 2:]
            )
        grad_x = grad.to(dtype) if ctx.needs_input_grad[0] else None
        grad_b = grad_b.to(dtype) if grad_b is not None else None
        grad_a = grad_a.to(dtype) if grad_a is not None else None
        return grad_x, grad_b, grad_a


def sosfilt(x: Tensor, b: Tensor, a: Tensor, method: str = "auto") -> Tensor:
    """Filter rows of ``x`` through a cascade of normalised biquads (exact, differentiable).

    Args:
        x: input rows, ``(N, L)``.
        b: numerators ``(b0, b1, b2)`` per row and section, ``(N, K, 3)``.
        a: denominators ``(a1, a2)`` per row and section (``a0 = 1``), ``(N, K, 2)``.
        method: ``"auto"``, ``"scipy"`` (CPU only) or ``"scan"``; see the module docstring.

    Returns:
        The output rows, ``(N, L)``, same dtype as ``x``.
    """
    if method not in SOSFILT_METHODS:
        raise ParameterError(f"sosfilt: unknown method {method!r}; use one of {SOSFILT_METHODS}")
    if method == "auto":
        method = "scipy" if x.device.type == "cpu" else "scan"
    b = b.to(x.dtype)
    a = a.to(x.dtype)
    if method == "scan":
        return sosfilt_scan(x, b, a)
    if x.device.type != "cpu":
        raise ParameterError(f"sosfilt: method 'scipy' needs CPU tensors, got {x.device}")
    return _SosfiltScipy.apply(x.contiguous(), b.contiguous(), a.contiguous())
