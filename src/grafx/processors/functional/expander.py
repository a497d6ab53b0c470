r"""Upward expander's static curve (the mirror of the compressor's, above the threshold).

In the log-energy model of :mod:`grafx.processors.functional.dynamics` (detector level
:math:`G`, threshold :math:`T`, ratio :math:`R \ge 1`, knee rectifier :math:`\kappa`), the
expander's log-energy gain is

.. math:: \Delta = \min\!\big((R - 1)\,\kappa(G - T),\ \Delta_\mathrm{max}\big),

so above the threshold the output level rises :math:`R` times as fast as the input
(:math:`G_\mathrm{out} = T + R (G - T)`), up to a boost of :math:`\Delta_\mathrm{max}`, which
keeps the output finite for any ratio. Below the threshold the gain is 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.processors.functional.dynamics import knee_rectifier


def upward_expander_log_gain(
    level: Tensor,
    threshold: Tensor,
    ratio: Tensor,
    width: Tensor | None,
    knee: str,
    max_log_gain: float,
) -> Tensor:
    """:math:`\\Delta`, ``(B, L)``, from the level ``(B, L)`` and ``(B, 1)`` curve parameters."""
    return torch.clamp(
        (ratio - 1) * knee_rectifier(level - threshold, width, knee), max=max_log_gain
    )
