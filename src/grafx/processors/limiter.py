r"""Look-ahead limiter: a brick-wall peak ceiling with ramped gain (no overshoot)."""

from __future__ import annotations

import numbers

from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.rate import check_rate, reference_or, samples_at
from grafx.processors.functional.limiter import lookahead_limiter, threshold_from_log_threshold


class Limiter(Processor):
    r"""Look-ahead peak limiter, ``(B, C, L)`` to ``(B, C, L)`` (stereo-linked).

    :math:`y_c[n] = s[n]\, x_c[n - D + 1]` with :math:`|y| \le T`; see
    :mod:`grafx.processors.functional.limiter`. The output is delayed by
    ``lookahead_len - 1`` samples (its latency). Parameter ``log_threshold (1,)``:
    :math:`T = e^{v}` (0 is a 0 dBFS ceiling).

    Args:
        lookahead_len: :math:`D`, samples of look-ahead (and of the gain's attack and release
            ramps) at ``reference_rate``, at least 1 (256: 5.8 ms at 44.1 kHz).
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate ``lookahead_len`` counts samples of (default ``sample_rate``);
            at another ``sample_rate`` the look-ahead keeps its duration (rounded to a sample).
    """

    lookahead_len: int
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        lookahead_len: int = 256,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        if not isinstance(lookahead_len, numbers.Integral) or lookahead_len < 1:
            raise ConfigError(f"Limiter: lookahead_len must be an int >= 1, got {lookahead_len!r}")
        self.sample_rate = check_rate("Limiter", sample_rate)
        self.reference_rate = reference_or("Limiter", reference_rate, self.sample_rate)
        self.lookahead_len = samples_at(int(lookahead_len), self.reference_rate, self.sample_rate)

    def forward(self, input_signals: Tensor, log_threshold: Tensor) -> Tensor:
        """``(B, C, L)`` and ``log_threshold (B, 1)`` to ``(B, C, L)``."""
        threshold = threshold_from_log_threshold(log_threshold)
        return lookahead_limiter(input_signals, threshold, self.lookahead_len)

    def parameter_size(self) -> ParameterSize:
        return {"log_threshold": 1}
