r"""First-order linear recurrences on any device, by a blocked parallel scan.

.. math:: y[n] = d[n]\, y[n-1] + u[n], \qquad y[-1] = 0

over the last axis of ``(N, L)`` rows. The signal is cut into blocks of ``b`` samples; inside
each block a Hillis-Steele scan composes the affine maps :math:`y \mapsto d y + u` in
:math:`\log_2 b` vectorised steps; the blocks' end values obey the same recurrence with the
blocks' composed decays, solved recursively; a last pass adds each block's carried-in state.
Every output sample depends only on the inputs at or before it, and the products of the
decays are formed directly (no logarithms), so the result matches the sequential loop to
rounding. Pure torch: it runs wherever the tensors are (the compiled loops of
:mod:`~grafx.processors.core.ballistics_numba` run only on the CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Block length of :func:`linear_recurrence`.
SCAN_BLOCK = 32


def _block_scan(decay: Tensor, drive: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan along axis 1 of ``(N, b, J)``: composed decays, local outputs from rest.

    The time axis within a block is the middle one, so every step works on long contiguous
    runs of blocks.
    """
    decay, drive = decay.clone(), drive.clone()
    length = drive.shape[1]
    shift = 1
    while shift < length:
        drive[:, shift:] += decay[:, shift:] * drive[:, :-shift]
        decay[:, shift:] = decay[:, shift:] * decay[:, :-shift]
        shift *= 2
    return decay, drive


def _constant_decay_blocks(decay: Tensor, drive: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`_block_scan` for one decay per row, ``(N, 1)``: one matrix product per row."""
    block = drive.shape[1]
    steps = torch.arange(block, device=drive.device)
    powers = torch.cat([torch.ones_like(decay), decay.expand(-1, block - 1)], 1).cumprod(1)
    lag = steps[:, None] - steps[None, :]
    matrix = powers[:, lag.clamp(min=0)] * (lag >= 0)  # (N, b, b): a^(t - s) for s <= t
    local = matrix @ drive  # (N, b, J)
    return (powers * decay)[:, :, None], local


def linear_recurrence(decay: Tensor, drive: Tensor, block: int = SCAN_BLOCK) -> Tensor:
    r"""Solve :math:`y[n] = d[n] y[n-1] + u[n]` from rest along the last axis.

    Args:
        decay: :math:`d`, ``(N, L)``, or ``(N, 1)`` for one decay per row (then each block is
            solved by one matrix product).
        drive: :math:`u`, ``(N, L)``.
        block: block length ``b`` of the scan.

    Returns:
        ``y``, ``(N, L)``.

    Example:
        >>> d = torch.tensor([[0.5]]); u = torch.tensor([[1.0, 0.0, 0.0, 2.0]])
        >>> linear_recurrence(d, u)
        tensor([[1.0000, 0.5000, 0.2500, 2.1250]])
    """
    rows, length = drive.shape
    constant = decay.shape[-1] == 1 and length > 1
    block = min(block, length)
    num_blocks = -(-length // block)
    pad = num_blocks * block - length
    if pad:
        drive = F.pad(drive, (0, pad))
        if not constant:
            decay = F.pad(decay.expand(rows, length), (0, pad), value=1.0)
    # (N, b, J): time within a block in the middle, blocks last.
    drive_b = drive.reshape(rows, num_blocks, block).transpose(1, 2)
    if constant:
        decay_b, local = _constant_decay_blocks(decay, drive_b)
    else:
        decay = decay.expand(rows, num_blocks * block)
        decay_b, local = _block_scan(
            decay.reshape(rows, num_blocks, block).transpose(1, 2), drive_b
        )
    if num_blocks > 1:
        block_decay = decay_b[:, -1] if not constant else decay_b[:, -1, :1]
        ends = linear_recurrence(block_decay, local[:, -1], block)
        carried = F.pad(ends[:, :-1], (1, 0))
        local = torch.addcmul(local, decay_b, carried[:, None, :])
    return local.transpose(1, 2).reshape(rows, -1)[:, :length]


def reverse_linear_recurrence(decay: Tensor, drive: Tensor, block: int = SCAN_BLOCK) -> Tensor:
    r""":math:`y[n] = d[n] y[n+1] + u[n]` from rest at the end (the adjoint direction)."""
    return linear_recurrence(decay.flip(-1), drive.flip(-1), block).flip(-1)
