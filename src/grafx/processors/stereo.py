r"""Stereo processors: gain/pan, side-gain imager, mono-to-stereo and mid/side converters.

Graph nodes around :mod:`grafx.processors.functional.stereo`. ``StereoToMidSide`` has two
outlets and returns a **list** ``[mid, side]`` (the render engine reads a list as several
outlets); the original returned a tuple, which render misread as ``(output, extras)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from grafx.errors import AudioError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.functional.stereo import (
    midside_to_stereo,
    mono_to_stereo,
    side_gain,
    stereo_gain,
    stereo_to_midside,
)


def check_channels(
    owner: str, signals: Tensor, allowed: Sequence[int], name: str = "input"
) -> None:
    """Raise :class:`AudioError` unless ``signals`` is ``(B, C, L)`` with ``C`` in ``allowed``."""
    if signals.ndim != 3:
        raise AudioError(f"{owner}: {name} must be (B, C, L), got shape {tuple(signals.shape)}")
    if signals.shape[1] not in allowed:
        wanted = " or ".join(str(c) for c in allowed)
        raise AudioError(
            f"{owner}: {name} must have {wanted} channel(s), got C={signals.shape[1]} "
            f"(shape {tuple(signals.shape)})"
        )


class StereoGain(Processor):
    r"""Per-channel gain: :math:`y_c = \exp(g_c)\, u_c` (the seed page's example processor).

    A mono input is broadcast to stereo, so this also pans. Parameter ``log_gain``: ``(2,)``.
    """

    def forward(self, input_signals: Tensor, log_gain: Tensor) -> Tensor:
        """Apply the gains: ``(B, C, L)`` with ``C`` 1 or 2 to ``(B, 2, L)``."""
        check_channels(type(self).__name__, input_signals, (1, 2))
        return stereo_gain(input_signals, log_gain)

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 2}


class SideGainImager(Processor):
    r"""Stereo width control by the side gain :math:`e^{g}` (0 is the identity).

    See :func:`grafx.processors.functional.stereo.side_gain`. Needs stereo input; a mono input
    raises :class:`~grafx.errors.AudioError` (the original failed an ``assert``).
    Parameter ``log_gain``: ``(1,)``.
    """

    def forward(self, input_signals: Tensor, log_gain: Tensor) -> Tensor:
        """Scale the side signal of ``(B, 2, L)`` audio."""
        check_channels(type(self).__name__, input_signals, (2,))
        return side_gain(input_signals, log_gain)

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 1}


class MonoToStereo(Processor):
    """Duplicate a mono input to two channels; no parameters."""

    def forward(self, input_signals: Tensor) -> Tensor:
        """``(B, 1, L)`` to ``(B, 2, L)``."""
        check_channels(type(self).__name__, input_signals, (1,))
        return mono_to_stereo(input_signals)

    def parameter_size(self) -> ParameterSize:
        return {}


class StereoToMidSide(Processor):
    r"""Split stereo into mid and side outlets (see :func:`~.functional.stereo.stereo_to_midside`).

    Args:
        normalize: scale by :math:`1/\sqrt{2}` (energy preserving), else ``m = l + r``,
            ``s = l - r``.
    """

    def __init__(self, normalize: bool = True):
        super().__init__()
        self.normalize = normalize

    def forward(self, input_signals: Tensor) -> list[Tensor]:
        """``(B, 2, L)`` to ``[mid (B, 1, L), side (B, 1, L)]``."""
        check_channels(type(self).__name__, input_signals, (2,))
        return stereo_to_midside(input_signals, self.normalize)

    def parameter_size(self) -> ParameterSize:
        return {}


class MidSideToStereo(Processor):
    r"""Join mid and side inlets into stereo; the exact inverse of :class:`StereoToMidSide`.

    Args:
        normalize: the pair was made with ``normalize=True`` (scale :math:`1/\sqrt{2}`; else 1/2).
    """

    input_names = ("mid", "side")

    def __init__(self, normalize: bool = True):
        super().__init__()
        self.normalize = normalize

    def forward(self, mid: Tensor, side: Tensor) -> Tensor:
        """``mid (B, 1, L)`` and ``side (B, 1, L)`` to ``(B, 2, L)``."""
        owner = type(self).__name__
        check_channels(owner, mid, (1,), name="mid")
        check_channels(owner, side, (1,), name="side")
        if mid.shape != side.shape:
            raise AudioError(
                f"{owner}: mid and side must have the same shape, got {tuple(mid.shape)} "
                f"and {tuple(side.shape)}"
            )
        return midside_to_stereo(mid, side, self.normalize)

    def parameter_size(self) -> ParameterSize:
        return {}
