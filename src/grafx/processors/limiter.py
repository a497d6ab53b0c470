r"""Look-ahead limiter: a brick-wall peak ceiling with ramped gain (no overshoot)."""

from __future__ import annotations

import numbers

from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.functional.limiter import lookahead_limiter, threshold_from_log_threshold


class Limiter(Processor):
    r"""Look-ahead peak limiter, ``(B, C, L)`` to ``(B, C, L)`` (stereo-linked).

    :math:`y_c[n] = s[n]\, x_c[n - D + 1]` with :math:`|y| \le T`; see
    :mod:`grafx.processors.functional.limiter`. The output is delayed by
    ``lookahead_len - 1`` samples (its latency). Parameter ``log_threshold (1,)``:
    :math:`T = e^{v}` (0 is a 0 dBFS ceiling).

    Args:
        lookahead_len: :math:`D`, samples of look-ahead (and of the gain's attack and release
            ramps), at least 1.
    """

    lookahead_len: int

    def __init__(self, lookahead_len: int = 256):
        super().__init__()
        if not isinstance(lookahead_len, numbers.Integral) or lookahead_len < 1:
            raise ConfigError(f"Limiter: lookahead_len must be an int >= 1, got {lookahead_len!r}")
        self.lookahead_len = int(lookahead_len)

    def forward(self, input_signals: Tensor, log_threshold: Tensor) -> Tensor:
        """``(B, C, L)`` and ``log_threshold (B, 1)`` to ``(B, C, L)``."""
        threshold = threshold_from_log_threshold(log_threshold)
        return lookahead_limiter(input_signals, threshold, self.lookahead_len)

    def parameter_size(self) -> ParameterSize:
        return {"log_threshold": 1}
