r"""Physical ranges of settings, turned into bounds on the parameters a head predicts.

A setting range (``gain_db`` in [-24, 6]) becomes a box in the processor's parameter space by
evaluating ``settings_to_parameters`` at every corner of the settings' ranges and taking the
element-wise minimum and maximum (the conversions are monotone in each setting). Parameters no
setting reaches stay unbounded. A bounded head output is

.. math:: p = l + (h - l)\,\sigma\bigl(\operatorname{logit}(\tfrac{b - l}{h - l}) + r\bigr),

with :math:`r` the raw output and :math:`b` the base value (the neutral console), so a zero
output gives the base and no output leaves :math:`[l, h]`; where :math:`l = h` the parameter is
pinned (a setting the ranges hold fixed, such as the console EQ's band frequencies).

Example:
    >>> from grafx.presets import console_processors
    >>> from grafx.nn.layout import ParameterLayout
    >>> processors = console_processors(["gain_pan"])
    >>> layout = ParameterLayout.from_processors(processors, gated=["gain_pan"])
    >>> low, high, mask = parameter_bounds(processors, layout, 30000)["gain_pan"]
    >>> mask.tolist(), [round(float(v), 2) for v in high]
    ([True, True, True], [4.6, 1.04, 1.04])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.mixing.console import node_settings_to_parameters
from grafx.nn.layout import ParameterLayout
from grafx.processors.core.drywet import DRYWET_KEY, drywet_weight_from_mix

__all__ = ["PHYSICAL_RANGES", "GATE_RANGE", "parameter_bounds", "apply_bounds", "fit_start"]

#: Ranges of the console's settings (:mod:`grafx.presets`) that the predictor is trained in
#: and that bounded heads keep to; the console types without settings (delay, reverb) have
#: none (their gate, ``mix``, is bounded by :data:`GATE_RANGE`).
PHYSICAL_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "gain_pan": {"gain_db": (-24.0, 6.0), "pan": (-1.0, 1.0)},
    "imager": {"width": (0.25, 2.0)},
    "eq": {"eq_gains_db": (-12.0, 12.0)},
    "compressor": {"threshold_db": (-40.0, 0.0), "ratio": (1.5, 10.0)},
    "noisegate": {"threshold_db": (-80.0, -40.0)},
}

#: Range of a gate's wet proportion ``mix``.
GATE_RANGE = (0.01, 0.99)


def _corner_parameters(node_type: str, processor: Any, ranges: Mapping, sample_rate: float):
    names = sorted(ranges)
    for corner in itertools.product(*(ranges[n] for n in names)):
        settings = dict(zip(names, corner, strict=True))
        if node_type == "eq":
            settings["sample_rate"] = sample_rate
        yield node_settings_to_parameters(node_type, processor, settings)


def parameter_bounds(
    processors: Mapping[str, Any],
    layout: ParameterLayout,
    sample_rate: float,
    ranges: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    gate_range: tuple[float, float] = GATE_RANGE,
) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
    """Bounds of each type's flat parameters: ``{type: (low, high, mask)}``, each ``(size,)``.

    Args:
        processors: ``{type: module}``.
        layout: the head's layout.
        sample_rate: in Hz, for settings in Hz.
        ranges: ``{type: {setting: (low, high)}}``; default :data:`PHYSICAL_RANGES`.
        gate_range: range of every gate's ``mix``.

    Returns:
        float64 tensors; ``mask`` is ``True`` where the parameter is bounded.
    """
    ranges = PHYSICAL_RANGES if ranges is None else ranges
    gates = drywet_weight_from_mix(torch.tensor(gate_range, dtype=torch.float64))
    result = {}
    for node_type, leaves in layout.leaves.items():
        size = layout.sizes[node_type]
        low = torch.zeros(size, dtype=torch.float64)
        high = torch.zeros(size, dtype=torch.float64)
        mask = torch.zeros(size, dtype=torch.bool)
        corners = []
        if node_type in ranges and node_type in processors:
            corners = list(
                _corner_parameters(node_type, processors[node_type], ranges[node_type], sample_rate)
            )
        for leaf in leaves:
            where = slice(leaf.offset, leaf.offset + leaf.size)
            if leaf.path == (DRYWET_KEY,):
                low[where], high[where], mask[where] = gates[0], gates[1], True
                continue
            values = [_get(c, leaf.path) for c in corners]
            present = [v for v in values if v is not None]
            if present and len(present) == len(values):
                stack = torch.stack([v.double().reshape(-1) for v in present])
                low[where], high[where] = stack.amin(0), stack.amax(0)
                mask[where] = True
        result[node_type] = (low, high, mask)
    return result


def _get(tree: Any, path: tuple[str, ...]) -> Tensor | None:
    for part in path:
        if not isinstance(tree, Mapping) or part not in tree:
            return None
        tree = tree[part]
    return tree if isinstance(tree, Tensor) else None


def apply_bounds(raw: Tensor, base: Tensor, bounds: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    """Bounded parameters from raw outputs ``(N, size)`` and base values ``(N, size)`` (see
    the module's equation); unbounded entries are ``base + raw``."""
    low, high, mask = (b.to(device=raw.device) for b in bounds)
    low, high = low.to(raw.dtype), high.to(raw.dtype)
    span = high - low
    fixed = span <= 0
    safe = torch.where(fixed, torch.ones_like(span), span)
    start = ((base - low) / safe).clamp(0.01, 0.99)
    bounded = low + span * torch.sigmoid(torch.logit(start) + raw)
    return torch.where(mask, bounded, base + raw)


def fit_start(
    flat: Tensor,
    base: Tensor,
    bounds: tuple[Tensor, Tensor, Tensor],
    neutral: Tensor | None = None,
) -> Tensor:
    """A prediction as a fit's starting point, from flat parameters ``(N, size)`` and the
    base values ``(N, size)`` (the neutral console).

    Entries that a setting range moves (bounded and not pinned: the settings of
    :data:`PHYSICAL_RANGES` and the gates) keep the prediction, clipped into ``[low, high]``,
    except those marked in ``neutral`` (a ``(size,)`` bool mask); every other entry (a pinned
    one, such as the EQ's band frequencies, or one no range reaches, such as the reverb's
    filters) takes the base value. Those are the parameters the training songs leave at their
    neutral values, so the predictor is not taught to set them; a fit moves each parameter by
    about its learning rate per step, so a stray prediction there costs a warm-started fit
    hundreds of steps to undo.
    """
    low, high, mask = (b.to(device=flat.device) for b in bounds)
    low, high = low.to(flat.dtype), high.to(flat.dtype)
    keep = mask & (high > low)
    if neutral is not None:
        keep = keep & ~neutral.to(device=flat.device)
    return torch.where(keep, torch.minimum(torch.maximum(flat, low), high), base.to(flat))
