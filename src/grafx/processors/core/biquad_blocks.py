r"""Biquad cascades whose coefficients change from block to block: exact, pure torch.

:func:`sosfilt_blocks` filters rows of signals through ``K`` cascaded biquads whose normalised
coefficients are constant within each *control block* of ``T`` samples and change at block
boundaries (block ``m`` covers samples ``mT`` to ``mT + T - 1``). Each section is the direct
form I recursion with the coefficients of the sample's block,

.. math:: y[n] = b_0[n]u[n] + b_1[n]u[n-1] + b_2[n]u[n-2] - a_1[n]y[n-1] - a_2[n]y[n-2],

whose state is the past input and output samples themselves, carried across block
boundaries as they are: the output is continuous across a coefficient change (no reset, no
crossfade) and differentiable in every block's coefficients by plain autograd. With the same
coefficients in every block it is the static cascade, exact up to rounding (the arithmetic is
float64 whatever the input dtype).

Evaluation follows :mod:`grafx.processors.core.biquad_scan`, generalised to coefficients per
block: each section is split into a feedthrough and a strictly proper part,
:math:`y = q + w` with :math:`q[n] = b_0[n]u[n]` and
:math:`w[n] = v[n] - a_1[n]w[n-1] - a_2[n]w[n-2]`,
:math:`v[n] = b_1[n]u[n-1] + b_2[n]u[n-2] - a_1[n]q[n-1] - a_2[n]q[n-2]` (this is the
recursion above exactly, also where the coefficients change). The all-pole part is solved
in three steps, each parallel over blocks: the zero-state response :math:`z_m` of every
control block to its own input (:func:`~grafx.processors.core.biquad_scan.allpole2_scan`, all
blocks as rows); the states :math:`s_m = (w[mT-1], w[mT-2])` entering the blocks, from
:math:`s_{m+1} = P_m s_m + (z_m[T-1], z_m[T-2])` with :math:`P_m` built from block ``m``'s
companion matrix, by a doubling (Hillis-Steele) scan of these affine maps over the blocks;
and the free responses to those states, sub-block by sub-block.
Work and memory are linear in the length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.core.biquad_scan import allpole2_scan
from grafx.processors.core.utils import design_dtype

__all__ = ["allpole2_blocks", "sosfilt_blocks", "iir_blocks"]

#: Block length of the scan inside each control block (see :func:`allpole2_scan`).
SUB_BLOCK = 16


def _scan_affine(p: list[Tensor], w: list[Tensor]) -> list[Tensor]:
    """Inclusive scan of ``s[m+1] = P[m] s[m] + w[m]`` from ``s[0] = 0`` over the last dim.

    ``p = [p11, p12, p21, p22]`` and ``w = [w1, w2]``, each ``(N, R)``; returns ``[s1, s2]``
    with ``s[m + 1]`` at index ``m``.
    """
    p11, p12, p21, p22 = p
    w1, w2 = w
    length = w1.shape[-1]
    shift = 1
    while shift < length:

        def lag(x: Tensor, fill: float, shift: int = shift) -> Tensor:
            return F.pad(x[..., :-shift], (shift, 0), value=fill)

        q11, q12, q21, q22 = lag(p11, 1.0), lag(p12, 0.0), lag(p21, 0.0), lag(p22, 1.0)
        v1, v2 = lag(w1, 0.0), lag(w2, 0.0)
        w1, w2 = w1 + p11 * v1 + p12 * v2, w2 + p21 * v1 + p22 * v2
        if 2 * shift < length:
            p11, p12, p21, p22 = (
                p11 * q11 + p12 * q21,
                p11 * q12 + p12 * q22,
                p21 * q11 + p22 * q21,
                p21 * q12 + p22 * q22,
            )
        shift *= 2
    return [w1, w2]


Matrix = tuple[Tensor, Tensor, Tensor, Tensor]


def _matmul2(p: Matrix, q: Matrix) -> Matrix:
    """Product of batches of 2x2 matrices held as ``(m00, m01, m10, m11)``."""
    return (
        p[0] * q[0] + p[1] * q[2],
        p[0] * q[1] + p[1] * q[3],
        p[2] * q[0] + p[3] * q[2],
        p[2] * q[1] + p[3] * q[3],
    )


def _power2(p: Matrix, exponent: int) -> Matrix:
    """``p ** exponent`` (``exponent >= 1``) by repeated squaring."""
    result = None
    while exponent:
        if exponent & 1:
            result = p if result is None else _matmul2(result, p)
        exponent >>= 1
        if exponent:
            p = _matmul2(p, p)
    assert result is not None
    return result


def _impulse(a1: Tensor, a2: Tensor, length: int) -> Tensor:
    """First ``length`` samples ``(R, length)`` of the impulse response of ``1 / A``."""
    h = [torch.ones_like(a1), -a1]
    while len(h) < length:
        h.append(-a1 * h[-1] - a2 * h[-2])
    return torch.stack(h[:length], dim=-1)


def allpole2_blocks(v: Tensor, a: Tensor) -> Tensor:
    """All-pole recursion ``w[n] = v[n] - a1[n] w[n-1] - a2[n] w[n-2]``, zero initial state.

    Args:
        v: input rows split into control blocks, ``(N, M, T)`` (``T >= 2``).
        a: each block's normalised denominator ``(a1, a2)``, ``(N, M, 2)``.

    Returns:
        ``(N, M, T)``.
    """
    rows, num_blocks, block = v.shape
    flat = a.reshape(-1, 2)
    a1, a2 = flat[:, 0], flat[:, 1]
    # Zero-state response of every block to its own input, all blocks at once.
    z = allpole2_scan(v.reshape(-1, block), flat, SUB_BLOCK)  # (R, T)
    # The state x_t = (w[t], w[t-1]) moves by the companion matrix C; block m's free response
    # to its entering state s is (C^(t+1) s)_0, evaluated per sub-block of S samples from the
    # state C^(kS) s entering sub-block k and the first S + 1 samples h of 1 / A.
    sub = min(SUB_BLOCK, block)
    per_block = -(-block // sub)
    h = _impulse(a1, a2, sub + 2)
    g1, g2 = h[:, 1 : sub + 1], -a2[:, None] * h[:, :sub]  # (C^(j+1))_00 and _01
    companion = (-a1, -a2, torch.ones_like(a1), torch.zeros_like(a1))
    step = _power2(companion, block)  # s_{m+1} = C^T s_m + (z_m[T-1], z_m[T-2])
    shape = (rows, num_blocks)
    ends = [z[:, -1].reshape(shape), z[:, -2].reshape(shape)]
    states = _scan_affine([p.reshape(shape) for p in step], ends)
    s1, s2 = (F.pad(s[..., :-1], (1, 0)).reshape(-1, 1) for s in states)  # (R, 1) each
    # u_k = C^(kS) s for the sub-blocks k of each block, by doubling.
    sub_step = tuple(p[:, None] for p in _power2(companion, sub))
    u1, u2 = s1, s2
    while u1.shape[1] < per_block:
        u1, u2 = (
            torch.cat([u1, sub_step[0] * u1 + sub_step[1] * u2], dim=1),
            torch.cat([u2, sub_step[2] * u1 + sub_step[3] * u2], dim=1),
        )
        sub_step = _matmul2(sub_step, sub_step)
    u1, u2 = u1[:, :per_block, None], u2[:, :per_block, None]
    free = u1 * g1[:, None, :] + u2 * g2[:, None, :]  # (R, K, S)
    w = z + free.reshape(z.shape[0], -1)[:, :block]
    return w.reshape(rows, num_blocks, block)


def _delay(x: Tensor, lag: int) -> Tensor:
    """``x[n - lag]`` along the last dim of ``(N, L)``, zeros before the start."""
    return F.pad(x[..., :-lag], (lag, 0))


def sosfilt_blocks(x: Tensor, b: Tensor, a: Tensor, block: int) -> Tensor:
    """Cascade of biquads with coefficients per control block, on rows (module docstring).

    Args:
        x: input rows, ``(N, L)``.
        b: numerators per row, block and section, ``(N, M, K, 3)``, with
            ``M = ceil(L / block)``.
        a: normalised denominators ``(a1, a2)``, ``(N, M, K, 2)``.
        block: control block ``T`` in samples (at least 2).

    Returns:
        The output rows, ``(N, L)``, in the dtype of ``x`` (float64 arithmetic, or the
        device's design dtype where it has no float64).

    Raises:
        ParameterError: ``M`` is not ``ceil(L / block)`` or the shapes disagree.
    """
    rows, length = x.shape
    num_blocks = -(-length // block)
    if b.shape[:2] != (rows, num_blocks) or a.shape[:-1] != b.shape[:-1] or b.shape[-1] != 3:
        raise ParameterError(
            f"sosfilt_blocks: {length} samples in blocks of {block} need coefficients "
            f"({rows}, {num_blocks}, K, 3) and ({rows}, {num_blocks}, K, 2), got "
            f"{tuple(b.shape)} and {tuple(a.shape)}"
        )
    dtype = x.dtype
    work = design_dtype(x)
    b, a = b.to(work), a.to(work)
    y = F.pad(x.to(work), (0, num_blocks * block - length))
    for k in range(b.shape[2]):
        bk, ak = b[:, :, k, :, None], a[:, :, k, :, None]  # (N, M, 3, 1), (N, M, 2, 1)
        q = (bk[:, :, 0] * y.reshape(rows, num_blocks, block)).reshape(rows, -1)
        v = (
            bk[:, :, 1] * _delay(y, 1).reshape(rows, num_blocks, block)
            + bk[:, :, 2] * _delay(y, 2).reshape(rows, num_blocks, block)
            - ak[:, :, 0] * _delay(q, 1).reshape(rows, num_blocks, block)
            - ak[:, :, 1] * _delay(q, 2).reshape(rows, num_blocks, block)
        )
        y = q + allpole2_blocks(v, a[:, :, k]).reshape(rows, -1)
    return y[:, :length].to(dtype)


def iir_blocks(input_signal: Tensor, Bs: Tensor, As: Tensor, block: int) -> Tensor:
    """Biquad cascades with coefficients per control block, channels broadcast.

    Args:
        input_signal: ``(B, C, L)``.
        Bs: numerators, ``(B, C_f, M, K, 3)`` with ``M = ceil(L / block)``.
        As: denominators with nonzero ``a0``, ``(B, C_f, M, K, 3)``.
        block: control block in samples (at least 2).

    Returns:
        ``(B, max(C, C_f), L)``.
    """
    batch, _, length = input_signal.shape
    channels = torch.broadcast_shapes(input_signal.shape[:-1], Bs.shape[:2], As.shape[:2])[1]
    num_blocks, num_sections = Bs.shape[2], Bs.shape[3]
    a0 = As[..., :1]
    b = (Bs / a0).expand(batch, channels, num_blocks, num_sections, 3)
    a = (As[..., 1:] / a0).expand(batch, channels, num_blocks, num_sections, 2)
    x = input_signal.expand(batch, channels, length)
    y = sosfilt_blocks(
        x.reshape(batch * channels, length),
        b.reshape(batch * channels, num_blocks, num_sections, 3),
        a.reshape(batch * channels, num_blocks, num_sections, 2),
        block,
    )
    return y.reshape(batch, channels, length)
