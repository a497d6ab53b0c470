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
from grafx.processors.core.utils import design_dtype

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


def _dot(left: np.ndarray, right: np.ndarray, lag: int) -> float:
    """``sum_n left[n] right[n - lag]``, single-threaded (einsum, not a threaded BLAS dot)."""
    return float(np.einsum("i,i->", left[lag:], right[: len(right) - lag]))


def _adjoint_rows(
    b: np.ndarray, a: np.ndarray, grad: np.ndarray, signals: list[np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of the cascade, row by row in float64 (see the module docstring).

    Args:
        b: ``(N, K, 3)``; a: ``(N, K, 2)``; grad: output gradient ``(N, L)``.
        signals: ``K + 1`` arrays ``(N, L)``, section ``k`` reading ``signals[k]`` and writing
            ``signals[k + 1]``; ``None`` when only the input gradient is wanted.

    Returns:
        Gradients of the input ``(N, L)``, of ``b`` and of ``a``.
    """
    rows, sections = b.shape[:2]
    grad_x = np.empty_like(grad)
    grad_b = np.zeros_like(b)
    grad_a = np.zeros_like(a)
    one = np.ones(1)
    for row in range(rows):
        g = grad[row]
        for k in reversed(range(sections)):
            den = np.array([1.0, a[row, k, 0], a[row, k, 1]])
            gt = np.ascontiguousarray(scipy.signal.lfilter(one, den, g[::-1])[::-1])
            if signals is not None:
                u, y = signals[k][row], signals[k + 1][row]
                grad_b[row, k] = [_dot(gt, u, 0), _dot(gt, u, 1), _dot(gt, u, 2)]
                grad_a[row, k] = [-_dot(gt, y, 1), -_dot(gt, y, 2)]
            g = b[row, k, 0] * gt
            g[:-1] += b[row, k, 1] * gt[1:]
            g[:-2] += b[row, k, 2] * gt[2:]
        grad_x[row] = g
    return grad_x, grad_b, grad_a


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
        stages_np = [xn]
        for k in range(sos.shape[1]):
            stages_np.append(_sosfilt_rows(sos[:, k : k + 1], stages_np[-1]))
        stages = [torch.from_numpy(s) for s in stages_np]
        # Section k reads signals[k] and writes signals[k + 1]; signals[0] is the input.
        ctx.save_for_backward(b, a, *stages)
        return stages[-1].to(x.dtype, copy=True)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        b, a, *signals = ctx.saved_tensors
        grad_x, grad_b, grad_a = _adjoint_rows(
            b.numpy().astype(np.float64),
            a.numpy().astype(np.float64),
            grad_output.numpy().astype(np.float64),
            [s.numpy() for s in signals] if signals else None,
        )
        return (
            torch.from_numpy(grad_x).to(grad_output.dtype) if ctx.needs_input_grad[0] else None,
            torch.from_numpy(grad_b).to(b.dtype) if ctx.needs_input_grad[1] else None,
            torch.from_numpy(grad_a).to(a.dtype) if ctx.needs_input_grad[2] else None,
        )


def sosfilt(x: Tensor, b: Tensor, a: Tensor, method: str = "auto") -> Tensor:
    """Filter rows of ``x`` through a cascade of normalised biquads (exact, differentiable).

    Args:
        x: input rows, ``(N, L)``.
        b: numerators ``(b0, b1, b2)`` per row and section, ``(N, K, 3)``; any float dtype,
            used in float64.
        a: denominators ``(a1, a2)`` per row and section (``a0 = 1``), ``(N, K, 2)``; ditto.
        method: ``"auto"``, ``"scipy"`` (CPU only) or ``"scan"``; see the module docstring.

    Returns:
        The output rows, ``(N, L)``, same dtype as ``x``.
    """
    if method not in SOSFILT_METHODS:
        raise ParameterError(f"sosfilt: unknown method {method!r}; use one of {SOSFILT_METHODS}")
    if method == "auto":
        method = "scipy" if x.device.type == "cpu" else "scan"
    # The coefficients stay in float64 (the arithmetic is float64 on both paths): rounding
    # low-frequency poles to a float32 input's dtype was a 3e-3 relative error by itself.
    dtype = design_dtype(x)
    b = b.to(dtype)
    a = a.to(dtype)
    if method == "scan":
        return sosfilt_scan(x, b, a)
    if x.device.type != "cpu":
        raise ParameterError(f"sosfilt: method 'scipy' needs CPU tensors, got {x.device}")
    return _SosfiltScipy.apply(x.contiguous(), b.contiguous(), a.contiguous())
