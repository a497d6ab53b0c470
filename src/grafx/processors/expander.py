r"""Upward expander: the :class:`~grafx.processors.dynamics.Compressor` model, expanding above
the threshold (transients and loud parts are made louder, up to a maximum boost)."""

from __future__ import annotations

from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.dynamics import _NATS_PER_DB, DYNAMICS_ARGUMENTS, _DynamicRangeProcessor
from grafx.processors.functional.expander import upward_expander_log_gain


class Expander(_DynamicRangeProcessor):
    r"""Upward expander: above the threshold :math:`G_\mathrm{out} = T + R(G - T)`.

    The boost is capped at ``max_gain_db`` (see :mod:`grafx.processors.functional.expander`).
    Constructor keywords, parameters (``log_threshold``, ``log_ratio``, ``log_knee``,
    ``z_alpha_pre``, ``z_alpha_post``) and settings are those of
    :class:`~grafx.processors.dynamics.Compressor` (neutral threshold -20 dB, ratio 2);
    ``(B, C, L)`` to ``(B, C, L)``.

    Args:
        max_gain_db: the largest boost, in dB (positive).
        **kwargs: the Compressor's constructor keywords.
    """

    extra_arguments = DYNAMICS_ARGUMENTS

    def __init__(self, max_gain_db: float = 12.0, **kwargs):
        super().__init__(**kwargs)
        if not max_gain_db > 0:
            raise ConfigError(f"Expander: max_gain_db must be positive, got {max_gain_db!r}")
        self.max_gain_db = float(max_gain_db)

    def _curve(self, level: Tensor, threshold: Tensor, ratio: Tensor, width, knee: str) -> Tensor:
        max_log_gain = self.max_gain_db * _NATS_PER_DB
        return upward_expander_log_gain(level, threshold, ratio, width, knee, max_log_gain)
