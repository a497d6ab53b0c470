"""Compiled loops of the envelope recursions (imported only if numba is installed).

Attack/release ballistics (:mod:`grafx.processors.core.ballistics`) and the plain one-pole
low-pass (:mod:`grafx.processors.core.envelope`).

Compiled on first use, and cached on disk (beside this file) only when the environment variable
``GRAFX_NUMBA_CACHE=1`` is set when this module is first imported, so by default nothing is
written into the installed package. The loops are sequential in time and release the GIL, so
that :func:`~grafx.processors.core.ballistics.run_rows` can run blocks of rows on several
threads (numba's own ``parallel=True`` starts its threads on every call, which dominates short
signals). The backward loop computes every gradient in one pass, with no temporaries.
"""

from __future__ import annotations

import os

import numba

_CACHE = os.environ.get("GRAFX_NUMBA_CACHE", "0").strip() not in ("", "0", "false", "no", "off")


@numba.njit(nogil=True, cache=_CACHE)
def forward_kernel(x, zi, fall, rise, y, falling):  # pragma: no cover - compiled
    """Fill ``y`` with the ballistics of ``x (N, L)`` and ``falling`` with the directions."""
    rows, length = x.shape
    for b in range(rows):
        state = zi[b]
        c_fall = fall[b]
        c_rise = rise[b]
        for t in range(length):
            value = x[b, t]
            down = value < state
            c = c_fall if down else c_rise
            state = (1 - c) * state + c * value
            y[b, t] = state
            falling[b, t] = down


@numba.njit(nogil=True, cache=_CACHE)
def backward_kernel(
    grad_y, x, y, zi, fall, rise, falling, grad_x, grad_zi, grad_fall, grad_rise
):  # pragma: no cover - compiled
    """Adjoint recursion backwards in time, filling the four gradient arrays."""
    rows, length = x.shape
    for b in range(rows):
        lam = 0.0
        decay = 0.0
        sum_fall = 0.0
        sum_rise = 0.0
        c_fall = fall[b]
        c_rise = rise[b]
        for t in range(length - 1, -1, -1):
            lam = grad_y[b, t] + decay * lam
            down = falling[b, t]
            c = c_fall if down else c_rise
            grad_x[b, t] = c * lam
            y_prev = y[b, t - 1] if t > 0 else zi[b]
            pull = lam * (x[b, t] - y_prev)
            if down:
                sum_fall += pull
            else:
                sum_rise += pull
            decay = 1.0 - c
        grad_zi[b] = decay * lam
        grad_fall[b] = sum_fall
        grad_rise[b] = sum_rise


@numba.njit(nogil=True, cache=_CACHE)
def one_pole_forward_kernel(x, a, b, y):  # pragma: no cover - compiled
    """``y[n] = a y[n-1] + b x[n]`` from rest, per row of ``x (N, L)``."""
    rows, length = x.shape
    for r in range(rows):
        state = 0.0
        a_r = a[r]
        b_r = b[r]
        for t in range(length):
            state = a_r * state + b_r * x[r, t]
            y[r, t] = state


@numba.njit(nogil=True, cache=_CACHE)
def one_pole_backward_kernel(grad_y, x, y, a, b, grad_x, grad_a, grad_b):  # pragma: no cover
    """Adjoint of :func:`one_pole_forward_kernel`, backwards in time, one pass."""
    rows, length = x.shape
    for r in range(rows):
        lam = 0.0
        sum_a = 0.0
        sum_b = 0.0
        a_r = a[r]
        b_r = b[r]
        for t in range(length - 1, -1, -1):
            lam = grad_y[r, t] + a_r * lam
            grad_x[r, t] = b_r * lam
            if t > 0:
                sum_a += lam * y[r, t - 1]
            sum_b += lam * x[r, t]
        grad_a[r] = sum_a
        grad_b[r] = sum_b
