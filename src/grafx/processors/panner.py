r"""Panner: level and pan position with a choice of pan law (the console's gain/pan law); rate-free
(no sample rate: the same gains at any rate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor, take_settings
from grafx.processors.functional.panner import (
    PAN_LAWS,
    pan_from_z_pan,
    panner,
    z_pan_from_pan,
)
from grafx.processors.stereo import check_channels

_LN10 = 2.302585092994046


class Panner(Processor):
    r"""Pan and level, :math:`y_c = e^{v} g_c(\tanh z)\, u_c`, ``(B, C, L)`` to ``(B, 2, L)``.

    ``C`` is 1 (panned) or 2 (each side scaled: a balance control). Parameters ``z_pan (1,)``
    (:math:`p = \tanh z`, -1 left to +1 right) and ``log_gain (1,)``; the laws are those of
    :mod:`grafx.processors.functional.panner`. Settings: ``gain_db`` (0) and ``pan`` (0).

    Args:
        law: ``"constant_power"``, ``"-4.5dB"`` or ``"linear"``.
        normalize_center: divide by the law's centre gain, so that the centre is unity (the
            mixing console's gain/pan: constant power, unity in the centre).
    """

    def __init__(self, law: str = "constant_power", normalize_center: bool = False):
        super().__init__()
        if law not in PAN_LAWS:
            raise ConfigError(f"Panner: unknown law {law!r}; use one of {PAN_LAWS}")
        self.law = law
        self.normalize_center = bool(normalize_center)

    time_varying = {"z_pan": "sample", "log_gain": "sample"}

    def forward(self, input_signals: Tensor, z_pan: Tensor, log_gain: Tensor) -> Tensor:
        """``(B, C, L)``, ``z_pan (B, 1)`` and ``log_gain (B, 1)`` to ``(B, 2, L)``; either
        parameter may be ``(B, 1, L)`` when automated."""
        check_channels("Panner", input_signals, (1, 2))
        pan = pan_from_z_pan(z_pan)
        return panner(input_signals, pan, log_gain, self.law, self.normalize_center)

    def parameter_size(self) -> ParameterSize:
        return {"z_pan": 1, "log_gain": 1}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        """Settings ``gain_db`` (0) and ``pan`` (0, strictly inside -1..1)."""
        owner = name or type(self).__name__
        s = take_settings(settings, {"gain_db": 0.0, "pan": 0.0}, owner)
        if not -1 < float(s["pan"]) < 1:
            raise ParameterError(f"{owner}: pan must be strictly between -1 and 1, got {s['pan']}")
        pan = torch.tensor([float(s["pan"])], dtype=torch.float64)
        gain = torch.tensor([float(s["gain_db"]) * _LN10 / 20], dtype=torch.float64)
        return {"z_pan": z_pan_from_pan(pan), "log_gain": gain}

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        pan = pan_from_z_pan(parameters["z_pan"].detach().double())
        gain_db = parameters["log_gain"].detach().double() * 20 / _LN10
        return {"gain_db": float(gain_db), "pan": float(pan)}
