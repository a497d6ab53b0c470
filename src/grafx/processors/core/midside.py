r"""Left/right to mid/side conversion and per-channel processing modes, written once.

Processors with a ``processor_channel`` option call :func:`apply_processor_channel`, which handles
``"mono"`` (one filter for every channel), ``"stereo"`` (separate left and right filters; a mono
input becomes stereo) and ``"midside"`` (separate mid and side filters on a stereo input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from grafx.errors import AudioError, ConfigError

PROCESSOR_CHANNELS = ("mono", "stereo", "midside")


def lr_to_ms(input_signals: Tensor, mult: float = 0.5) -> Tensor:
    r"""Left/right to mid/side over dim -2: :math:`m = c(l + r)`, :math:`s = c(l - r)`.

    Args:
        input_signals: stereo audio, ``(..., 2, L)``.
        mult: the scale :math:`c`; 0.5 makes :func:`ms_to_lr` (with ``mult=1``) its exact inverse.

    Returns:
        Mid and side, ``(..., 2, L)``.
    """
    left, right = input_signals.unbind(-2)
    return torch.stack([mult * (left + right), mult * (left - right)], dim=-2)


def ms_to_lr(input_signals: Tensor, mult: float = 1.0) -> Tensor:
    r"""Mid/side to left/right over dim -2: :math:`l = c(m + s)`, :math:`r = c(m - s)`.

    Args:
        input_signals: mid and side, ``(..., 2, L)``.
        mult: the scale :math:`c`.

    Returns:
        Stereo audio, ``(..., 2, L)``.
    """
    mid, side = input_signals.unbind(-2)
    return torch.stack([mult * (mid + side), mult * (mid - side)], dim=-2)


def check_processor_channel(
    processor_channel: str, owner: str, allowed: Sequence[str] = PROCESSOR_CHANNELS
) -> str:
    """Return ``processor_channel`` if ``owner`` supports it, else raise naming both."""
    if processor_channel not in allowed:
        raise ConfigError(
            f"{owner}: unknown processor_channel {processor_channel!r}; use one of {tuple(allowed)}"
        )
    return processor_channel


def num_processor_channels(processor_channel: str) -> int:
    """Number of independent filters a mode needs: 1 for ``"mono"``, 2 otherwise."""
    return 1 if processor_channel == "mono" else 2


def apply_processor_channel(
    input_signals: Tensor,
    processor_channel: str,
    process: Callable[[Tensor], Tensor],
    owner: str,
) -> Tensor:
    """Run ``process`` on ``input_signals (B, C, L)`` in the given channel mode.

    ``process`` maps ``(B, C, L)`` to ``(B, C', L)``, broadcasting its own per-channel filters.
    In ``"midside"`` mode it sees mid/side signals and its output is converted back to left/right.
    """
    if processor_channel == "midside":
        if input_signals.shape[-2] != 2:
            raise AudioError(
                f"{owner}: processor_channel='midside' needs stereo input (C=2), "
                f"got C={input_signals.shape[-2]}"
            )
        return ms_to_lr(process(lr_to_ms(input_signals)))
    return process(input_signals)
