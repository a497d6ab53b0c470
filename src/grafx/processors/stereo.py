r"""Stereo processors: gain/pan, side-gain imager, mono-to-stereo and mid/side converters.

Graph nodes around :mod:`grafx.processors.functional.stereo`. ``StereoToMidSide`` has two
outlets and returns a **list** ``[mid, side]`` (the render engine reads a list as several
outlets); the original returned a tuple, which render misread as ``(output, extras)``.

All are memoryless and rate-free: they take no sample rate and sound the same at any rate
(gains are natural logs, widths plain factors, pans in -1..1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from grafx.errors import AudioError, ParameterError
from grafx.processors.base import ParameterSize, Processor, take_settings
from grafx.processors.functional.stereo import (
    gain_pan_from_log_gain,
    midside_to_stereo,
    mono_to_stereo,
    side_gain,
    stereo_gain,
    stereo_log_gain,
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

    Two free gains, left and right; a mono input is broadcast to stereo first. There is no pan
    law in the processor: any pair of gains is reachable (both channels up, for instance), so a
    fit moves level and balance together and nothing keeps the power constant across a pan.
    Parameter ``log_gain``: ``(2,)``.

    Settings (physical units only): ``gain_db`` (0) and ``pan`` (0; -1 left to +1 right) are
    turned into the two gains by the constant-power law of
    :func:`~grafx.processors.functional.stereo.stereo_log_gain` (unity in the centre), and read
    back by its inverse; that law holds for the values you set, not for fitted ones. A processor
    whose one parameter is a pan position under a chosen law is a separate class
    (:class:`~grafx.processors.panner.Panner`), not this one.
    """

    time_varying = {"log_gain": "sample"}

    def forward(self, input_signals: Tensor, log_gain: Tensor) -> Tensor:
        """Apply the gains: ``(B, C, L)`` with ``C`` 1 or 2 to ``(B, 2, L)``; ``log_gain`` is
        ``(B, 2)``, or ``(B, 2, L)`` when automated."""
        check_channels(type(self).__name__, input_signals, (1, 2))
        return stereo_gain(input_signals, log_gain)

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 2}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        s = take_settings(settings, {"gain_db": 0.0, "pan": 0.0}, name or type(self).__name__)
        return {"log_gain": stereo_log_gain(s["gain_db"], s["pan"])}

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        gain_db, pan = gain_pan_from_log_gain(parameters["log_gain"].detach().double())
        return {"gain_db": float(gain_db), "pan": float(pan)}


class SideGainImager(Processor):
    r"""Stereo width control by the side gain :math:`e^{g}` (0 is the identity).

    See :func:`grafx.processors.functional.stereo.side_gain`. Needs stereo input; a mono input
    raises :class:`~grafx.errors.AudioError` (the original failed an ``assert``).
    Parameter ``log_gain``: ``(1,)``. Setting: ``width`` (1), the side gain :math:`e^{g}`.
    """

    def forward(self, input_signals: Tensor, log_gain: Tensor) -> Tensor:
        """Scale the side signal of ``(B, 2, L)`` audio."""
        check_channels(type(self).__name__, input_signals, (2,))
        return side_gain(input_signals, log_gain)

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 1}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        owner = name or type(self).__name__
        width = float(take_settings(settings, {"width": 1.0}, owner)["width"])
        if width <= 0:
            raise ParameterError(f"{owner}: width must be positive, got {width}")
        return {"log_gain": torch.tensor([math.log(width)], dtype=torch.float64)}

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        return {"width": float(torch.exp(parameters["log_gain"].detach()).squeeze())}


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
