r"""The least-squares gain mix: the best mix a fader per stem and output channel can make.

A reference point for fitted mixes: given stems :math:`s_k` and a target mix :math:`y`, the
gains :math:`g_{k,c}` minimise the squared error of each output channel :math:`c` separately,

.. math:: \min_{g_{\cdot,c}} \sum_n \Bigl(y_c[n] - \sum_k g_{k,c}\, s_{k,c}[n]\Bigr)^2,

solved from the normal equations: the Gram matrix :math:`A_c = \sum_n s_{\cdot,c}[n]
s_{\cdot,c}[n]^\top` (``K x K``) and :math:`b_c = \sum_n s_{\cdot,c}[n]\, y_c[n]` are
accumulated over blocks of samples (the sums are exact whatever the blocks), and
:math:`g_{\cdot,c}` is their minimum-norm least-squares solution, eigenvalues below
:data:`RCOND` times the largest counting as zero (linearly dependent stems, e.g. two identical
or silent ones, share the gain). Memory is ``O(K^2)`` plus one block, whatever the length.
A fitted console that does not beat this mix has learnt no more than static levels and
panning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from grafx.errors import AudioError

__all__ = ["GainMix", "least_squares_gain_mix", "least_squares_gains", "RCOND", "BLOCK_SAMPLES"]

#: Relative eigenvalue cut-off of the Gram matrix (dependent stems share their gain).
RCOND = 1e-12
#: Samples per block of the accumulated sums.
BLOCK_SAMPLES = 1 << 18

#: Reads samples ``[start, stop)``: stems as float64 ``(K, 2, stop - start)``, or the target
#: as ``(2, stop - start)``.
BlockReader = Callable[[int, int], np.ndarray]


class GainMix(NamedTuple):
    """Result of :func:`least_squares_gain_mix`."""

    mix: Tensor
    """The gain mix ``(2, L)``, in the stems' dtype and device."""
    gains: Tensor
    """Linear gains ``(K, 2)``: stem ``k``'s gain into output channel ``c``."""


def least_squares_gains(
    stems: BlockReader, target: BlockReader, length: int, block_samples: int | None = None
) -> np.ndarray:
    """Least-squares gains ``(K, 2)`` of stems read block by block (see the module docstring).

    Args:
        stems: reads the stems, ``(K, 2, n)`` float64.
        target: reads the target, ``(2, n)`` float64.
        length: samples of each.
        block_samples: samples per block (default :data:`BLOCK_SAMPLES`); the gains do not
            depend on it beyond rounding.
    """
    block = BLOCK_SAMPLES if block_samples is None else int(block_samples)
    if block < 1:
        raise AudioError(f"least_squares_gains: block_samples must be positive, got {block}")
    gram: np.ndarray | None = None
    cross: np.ndarray | None = None
    for start in range(0, length, block):
        stop = min(start + block, length)
        sources, wanted = stems(start, stop), target(start, stop)
        if gram is None or cross is None:
            gram = np.zeros((2, sources.shape[0], sources.shape[0]))
            cross = np.zeros((2, sources.shape[0]))
        gram += np.einsum("kcl,jcl->ckj", sources, sources)
        cross += np.einsum("kcl,cl->ck", sources, wanted)
    if gram is None or cross is None:
        raise AudioError("least_squares_gains: no samples")
    gains = np.empty((gram.shape[1], 2))
    for channel in range(2):
        values, vectors = np.linalg.eigh(gram[channel])
        keep = values > RCOND * max(float(values.max()), 0.0)
        inverse = np.where(keep, 1.0 / np.where(keep, values, 1.0), 0.0)
        gains[:, channel] = vectors @ (inverse * (vectors.T @ cross[channel]))
    return gains


def least_squares_gain_mix(
    stems: Tensor, target: Tensor, block_samples: int | None = None
) -> GainMix:
    """Per-stem, per-channel gains minimising the squared error to a target mix.

    Args:
        stems: ``(K, C, L)`` with ``C`` = 1 (used as dual mono) or 2; output channel ``c``
            mixes channel ``c`` of every stem.
        target: the mix to match, ``(2, L)`` (``(1, L)`` is used as dual mono).
        block_samples: samples per block of the accumulated sums (default
            :data:`BLOCK_SAMPLES`).

    Returns:
        :class:`GainMix` ``(mix (2, L), gains (K, 2))``; solved in float64.

    Raises:
        AudioError: shapes other than the above, different lengths, no stems or samples,
            integer dtypes, NaN/Inf samples.

    Example:
        >>> stems = torch.randn(3, 1, 1000, dtype=torch.float64)
        >>> target = torch.stack([0.5 * stems[0, 0] + stems[2, 0], 2 * stems[1, 0]])
        >>> (least_squares_gain_mix(stems, target).gains.round(decimals=6) + 0.0).tolist()
        [[0.5, 0.0], [0.0, 2.0], [1.0, 0.0]]
    """
    from grafx.io.audio import check_finite

    if not isinstance(stems, Tensor) or stems.ndim != 3 or stems.shape[1] not in (1, 2):
        shape = tuple(stems.shape) if isinstance(stems, Tensor) else type(stems).__name__
        raise AudioError(
            f"least_squares_gain_mix: stems must be (K, C, L) with C = 1 or 2, got {shape}"
        )
    if not isinstance(target, Tensor) or target.ndim != 2 or target.shape[0] not in (1, 2):
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise AudioError(
            f"least_squares_gain_mix: target must be (C, L) with C = 1 or 2, got {shape}"
        )
    if not (stems.is_floating_point() and target.is_floating_point()):
        raise AudioError(
            f"least_squares_gain_mix: stems and target must be floating point, got "
            f"{stems.dtype} and {target.dtype}"
        )
    if stems.shape[0] < 1 or stems.shape[-1] < 1:
        raise AudioError(f"least_squares_gain_mix: no stems or no samples: {tuple(stems.shape)}")
    if stems.shape[-1] != target.shape[-1]:
        raise AudioError(
            f"least_squares_gain_mix: stems have {stems.shape[-1]} samples but the target "
            f"{target.shape[-1]}; give them one length"
        )
    check_finite(stems, "least_squares_gain_mix: stems")
    check_finite(target, "least_squares_gain_mix: target")
    length = stems.shape[-1]
    gains = least_squares_gains(
        _reader(stems.detach().expand(-1, 2, -1)),
        _reader(target.detach().expand(2, -1)),
        length,
        block_samples,
    )
    gains_t = torch.from_numpy(gains).to(dtype=stems.dtype, device=stems.device)
    mix = stems.new_empty((2, length))
    block = BLOCK_SAMPLES if block_samples is None else int(block_samples)
    for start in range(0, length, block):  # the mix too, block by block, in float64
        piece = stems[..., start : start + block].detach().to(torch.float64).expand(-1, 2, -1)
        mix[:, start : start + block] = torch.einsum("kc,kcl->cl", gains_t.to(piece), piece).to(mix)
    return GainMix(mix, gains_t)


def _reader(audio: Tensor) -> BlockReader:
    def read(start: int, stop: int) -> np.ndarray:
        return audio[..., start:stop].to("cpu", torch.float64).numpy()

    return read
