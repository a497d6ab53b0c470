r"""The least-squares gain mix: the best mix a fader per stem and output channel can make.

A reference point for fitted mixes: given stems :math:`s_k` and a target mix :math:`y`, the
gains :math:`g_{k,c}` minimise the squared error of each output channel :math:`c` separately,

.. math:: \min_{g_{\cdot,c}} \sum_n \Bigl(y_c[n] - \sum_k g_{k,c}\, s_{k,c}[n]\Bigr)^2,

solved by ``numpy.linalg.lstsq`` (the minimum-norm solution when stems are linearly dependent,
e.g. two identical or silent stems). A fitted console that does not beat this mix has learnt
no more than static levels and panning.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from grafx.errors import AudioError

__all__ = ["GainMix", "least_squares_gain_mix"]


class GainMix(NamedTuple):
    """Result of :func:`least_squares_gain_mix`."""

    mix: Tensor
    """The gain mix ``(2, L)``, in the stems' dtype and device."""
    gains: Tensor
    """Linear gains ``(K, 2)``: stem ``k``'s gain into output channel ``c``."""


def least_squares_gain_mix(stems: Tensor, target: Tensor) -> GainMix:
    """Per-stem, per-channel gains minimising the squared error to a target mix.

    Args:
        stems: ``(K, C, L)`` with ``C`` = 1 (used as dual mono) or 2; output channel ``c``
            mixes channel ``c`` of every stem.
        target: the mix to match, ``(2, L)`` (``(1, L)`` is used as dual mono).

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
    sources = stems.detach().to("cpu", torch.float64).expand(-1, 2, -1).numpy()
    wanted = target.detach().to("cpu", torch.float64).expand(2, -1).numpy()
    gains = np.empty((stems.shape[0], 2))
    for channel in range(2):
        gains[:, channel] = np.linalg.lstsq(sources[:, channel].T, wanted[channel], rcond=None)[0]
    mix = np.einsum("kc,kcl->cl", gains, sources)
    mix_t, gains_t = torch.from_numpy(mix), torch.from_numpy(gains)
    return GainMix(
        mix_t.to(dtype=stems.dtype, device=stems.device),
        gains_t.to(dtype=stems.dtype, device=stems.device),
    )
