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
recursion above exactly, also where the coefficients change). The all-pole part runs in
sub-blocks of ``S`` samples, the largest divisor of ``T`` up to :data:`SUB_BLOCK`: zero-state
sub-block responses by one batched matmul with each block's lower-triangular Toeplitz matrix
of its impulse response; the states leaving the sub-blocks of a block, and then the states
:math:`s_m = (w[mT-1], w[mT-2])` entering the blocks, from the affine maps
:math:`s \mapsto C_m^S s + e` and :math:`s \mapsto C_m^T s + e'` (:math:`C_m` the block's
companion matrix), by doubling (Hillis-Steele) scans; and each sub-block's free response to
its entering state, added to the zero-state response by one batched matmul.
Work and memory are linear in the length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.core.utils import design_dtype

__all__ = ["allpole2_blocks", "sosfilt_blocks", "iir_blocks"]

#: Longest sub-block of the scan inside a control block (the largest divisor of it up to this).
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
    while len(h) < length:  # a short loop: length is a sub-block
        h.append(-a1 * h[-1] - a2 * h[-2])
    return torch.stack(h[:length], dim=-1)


def sub_block_length(block: int) -> int:
    """The largest divisor of ``block`` from 2 to :data:`SUB_BLOCK` (``block`` even)."""
    for size in range(min(SUB_BLOCK, block), 1, -1):
        if block % size == 0:
            return size
    raise ParameterError(f"biquad blocks: the control block must be even, got {block}")


def allpole2_blocks(v: Tensor, a: Tensor) -> Tensor:
    """All-pole recursion ``w[n] = v[n] - a1[n] w[n-1] - a2[n] w[n-2]``, zero initial state.

    Args:
        v: input rows split into control blocks, ``(N, M, T)`` (``T`` even).
        a: each block's normalised denominator ``(a1, a2)``, ``(N, M, 2)``.

    Returns:
        ``(N, M, T)``.
    """
    rows, num_blocks, block = v.shape
    sub = sub_block_length(block)
    per_block = block // sub
    count = rows * num_blocks
    flat = a.reshape(count, 2)
    a1, a2 = flat[:, 0], flat[:, 1]
    # The state x_t = (w[t], w[t-1]) moves by the companion matrix C. Within a sub-block of
    # S samples, w[j] = z[j] + (C^(j+1))_00 x_in,0 + (C^(j+1))_01 x_in,1 with z the zero-state
    # response, (C^(j+1))_00 = h[j+1] and (C^(j+1))_01 = -a2 h[j] (h: impulse response of 1/A).
    h = _impulse(a1, a2, sub + 1)
    free = torch.stack([h[:, 1:], -a2[:, None] * h[:, :sub]], dim=1)  # (R, 2, S)
    index = torch.arange(sub, device=v.device)
    lag = index[None, :] - index[:, None]  # [j, i] -> i - j
    upper = F.pad(h[:, :sub], (0, 1))[:, torch.where(lag >= 0, lag, sub)]  # (R, S, S): h[i - j]
    z = torch.matmul(v.reshape(count, per_block, sub), upper)  # (R, K, S)
    companion = (-a1, -a2, torch.ones_like(a1), torch.zeros_like(a1))
    sub_step = _power2(companion, sub)  # C^S, (R,) each
    # Zero-state states leaving each sub-block of a block: a scan with the block's C^S.
    ends = [z[..., -1], z[..., -2]]  # (R, K)
    inner = _scan_affine([p[:, None].expand(count, per_block) for p in sub_step], ends)
    # States entering the blocks: a scan over the blocks with each block's C^T.
    block_step = _power2(sub_step, per_block)
    shape = (rows, num_blocks)
    outer = _scan_affine(
        [p.reshape(shape) for p in block_step], [e[:, -1].reshape(shape) for e in inner]
    )
    s1, s2 = (F.pad(s[..., :-1], (1, 0)).reshape(count, 1) for s in outer)
    # States entering the sub-blocks: C^(kS) s_m plus the zero-state part, by doubling.
    u1, u2 = s1, s2
    m00, m01, m10, m11 = (p[:, None] for p in sub_step)
    power: Matrix = (m00, m01, m10, m11)
    while u1.shape[1] < per_block:
        u1, u2 = (
            torch.cat([u1, power[0] * u1 + power[1] * u2], dim=1),
            torch.cat([u2, power[2] * u1 + power[3] * u2], dim=1),
        )
        power = _matmul2(power, power)
    entering = torch.stack(
        [
            u1[:, :per_block] + F.pad(inner[0][:, :-1], (1, 0)),
            u2[:, :per_block] + F.pad(inner[1][:, :-1], (1, 0)),
        ],
        dim=-1,
    )  # (R, K, 2)
    return torch.baddbmm(z, entering, free).reshape(rows, num_blocks, block)


def sosfilt_blocks(x: Tensor, b: Tensor, a: Tensor, block: int) -> Tensor:
    """Cascade of biquads with coefficients per control block, on rows (module docstring).

    Args:
        x: input rows, ``(N, L)``.
        b: numerators per row, block and section, ``(N, M, K, 3)``, with
            ``M = ceil(L / block)``.
        a: normalised denominators ``(a1, a2)``, ``(N, M, K, 2)``.
        block: control block ``T`` in samples (even).

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
    shape = (rows, num_blocks, block)
    for k in range(b.shape[2]):
        b0, b1, b2 = b[:, :, k].unbind(-1)  # (N, M) each
        a1, a2 = a[:, :, k].unbind(-1)
        # v[n] = b1 u[n-1] + b2 u[n-2] - a1 q[n-1] - a2 q[n-2] with q = b0 u: inside a block
        # that is c1 u[n-1] + c2 u[n-2]; at a block's first two samples, b0 of the block
        # before enters q[n-1], q[n-2], which the correction below adds.
        c1, c2 = b1 - a1 * b0, b2 - a2 * b0
        padded = F.pad(y, (2, 0))
        u1 = padded[:, 1:-1].reshape(shape)
        u2 = padded[:, :-2].reshape(shape)
        v = c1[..., None] * u1 + c2[..., None] * u2
        step = F.pad(b0[:, 1:] - b0[:, :-1], (1, 0))  # b0[m] - b0[m - 1], 0 for the first
        # In place on a fresh sum (no backward reads it).
        v[..., 0] += step * (a1 * u1[..., 0] + a2 * u2[..., 0])
        v[..., 1] += step * a2 * u2[..., 1]
        y = (b0[..., None] * y.reshape(shape) + allpole2_blocks(v, a[:, :, k])).reshape(rows, -1)
    return y[:, :length].to(dtype)


def iir_blocks(input_signal: Tensor, Bs: Tensor, As: Tensor, block: int) -> Tensor:
    """Biquad cascades with coefficients per control block, channels broadcast.

    Args:
        input_signal: ``(B, C, L)``.
        Bs: numerators, ``(B, C_f, M, K, 3)`` with ``M = ceil(L / block)``.
        As: denominators with nonzero ``a0``, ``(B, C_f, M, K, 3)``.
        block: control block in samples (even).

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
