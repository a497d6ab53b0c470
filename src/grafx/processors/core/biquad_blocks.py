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
sub-blocks of ``S`` samples that divide ``T`` (at most :data:`SUB_BLOCK_MAX`): zero-state
sub-block responses by one batched matmul with the Toeplitz matrix of each control block's
impulse response, then the states entering the sub-blocks by a doubling (Hillis-Steele) scan
of the affine maps :math:`s \mapsto P_m s + z_m` (:math:`P_m` depending on the sub-block's
control block), then the free responses. Work and memory are linear in the length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.core.biquad_scan import _allpole_impulse
from grafx.processors.core.utils import design_dtype

__all__ = ["SUB_BLOCK_MAX", "sub_block_length", "allpole2_blocks", "sosfilt_blocks", "iir_blocks"]

#: Longest sub-block of the all-pole scan (the largest divisor of the control block up to it).
SUB_BLOCK_MAX = 32


def sub_block_length(block: int) -> int:
    """The largest divisor of ``block`` between 2 and :data:`SUB_BLOCK_MAX`."""
    for size in range(min(SUB_BLOCK_MAX, block), 1, -1):
        if block % size == 0:
            return size
    raise ParameterError(f"biquad blocks: the control block must be even, got {block}")


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
    h = _allpole_impulse(a.reshape(-1, 2), sub + 1).reshape(rows, num_blocks, sub + 1)
    index = torch.arange(sub, device=v.device)
    lag = index[:, None] - index[None, :]
    h_padded = torch.cat([h[..., :sub], h.new_zeros(rows, num_blocks, 1)], dim=-1)
    toeplitz = h_padded[..., torch.where(lag >= 0, lag, sub)]  # (N, M, S, S)
    z = torch.matmul(v.reshape(rows, num_blocks, per_block, sub), toeplitz.transpose(-1, -2))

    g1 = h[..., 1:]  # response to w[-1] = 1, (N, M, S)
    g2 = -a[..., 1:2] * h[..., :sub]  # response to w[-2] = 1

    def per_sub(x: Tensor) -> Tensor:
        return x[..., None].expand(rows, num_blocks, per_block).reshape(rows, -1)

    steps = [per_sub(g1[..., -1]), per_sub(g2[..., -1]), per_sub(g1[..., -2]), per_sub(g2[..., -2])]
    ends = [z[..., -1].reshape(rows, -1), z[..., -2].reshape(rows, -1)]
    s1, s2 = (
        F.pad(s[..., :-1], (1, 0)).reshape(rows, num_blocks, per_block, 1)
        for s in _scan_affine(steps, ends)
    )
    w = z + s1 * g1[:, :, None, :] + s2 * g2[:, :, None, :]
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
