r"""Look-ahead limiter: a brick-wall peak ceiling with ramped gain (no overshoot)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor, take_settings
from grafx.processors.core.rate import check_rate, reference_or, samples_at
from grafx.processors.functional.limiter import lookahead_limiter, threshold_from_log_threshold


class Limiter(Processor):
    r"""Look-ahead peak limiter, ``(B, C, L)`` to ``(B, C, L)`` (stereo-linked).

    :math:`y_c[n] = s[n]\, x_c[n - D + 1]` with :math:`|y| \le T`; see
    :mod:`grafx.processors.functional.limiter`. The output is delayed by
    ``lookahead_len - 1`` samples (its latency), or not at all with ``compensate_latency``:
    then :math:`y_c[n] = s[n + D - 1]\, x_c[n]` (the gain looks ahead into the signal's own
    future, so a block-wise render sees no peak past its block's end). Parameter ``log_threshold (1,)``:
    :math:`T = e^{v}` (0 is a 0 dBFS ceiling).

    Args:
        lookahead_len: :math:`D`, samples of look-ahead (and of the gain's attack and release
            ramps) at ``reference_rate``, at least 1 (256: 5.8 ms at 44.1 kHz).
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate ``lookahead_len`` counts samples of (default ``sample_rate``);
            at another ``sample_rate`` the look-ahead keeps its duration (rounded to a sample).
        compensate_latency: align the output with the input (no delay), as a mixing console's
            master limiter, whose output is compared with a latency-free target.
    """

    lookahead_len: int
    compensate_latency: bool
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        lookahead_len: int = 256,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        compensate_latency: bool = False,
    ):
        super().__init__()
        if not isinstance(lookahead_len, numbers.Integral) or lookahead_len < 1:
            raise ConfigError(f"Limiter: lookahead_len must be an int >= 1, got {lookahead_len!r}")
        self.sample_rate = check_rate("Limiter", sample_rate)
        self.reference_rate = reference_or("Limiter", reference_rate, self.sample_rate)
        self.lookahead_len = samples_at(int(lookahead_len), self.reference_rate, self.sample_rate)
        self.compensate_latency = bool(compensate_latency)

    def forward(self, input_signals: Tensor, log_threshold: Tensor) -> Tensor:
        """``(B, C, L)`` and ``log_threshold (B, 1)`` to ``(B, C, L)``."""
        threshold = threshold_from_log_threshold(log_threshold)
        if not self.compensate_latency:
            return lookahead_limiter(input_signals, threshold, self.lookahead_len)
        latency = self.lookahead_len - 1
        padded = F.pad(input_signals, (0, latency))
        return lookahead_limiter(padded, threshold, self.lookahead_len)[..., latency:]

    def parameter_size(self) -> ParameterSize:
        return {"log_threshold": 1}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        """Setting ``threshold_db``, the ceiling in dBFS (default 0)."""
        owner = name or type(self).__name__
        s = take_settings(settings, {"threshold_db": 0.0}, owner)
        threshold_db = float(s["threshold_db"])
        if not math.isfinite(threshold_db):
            raise ParameterError(f"{owner}: threshold_db must be finite, got {threshold_db}")
        nats = torch.tensor([threshold_db], dtype=torch.float64) * (math.log(10.0) / 20.0)
        return {"log_threshold": nats}

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        threshold = threshold_from_log_threshold(parameters["log_threshold"].detach().double())
        return {"threshold_db": float(20.0 * torch.log10(threshold).reshape(()))}
