"""``settings.txt``: a fitted graph's settings in physical units, one block per node.

Each processor node with a physical read-back (:func:`grafx.presets.get_node_settings`: the
console's EQ in Hz and dB, compressor thresholds in dB, times in ms, ...) is listed under its
name and type, one setting per line; nodes without one are named with a note.

Example (one node)::

    kick/gain_pan (gain_pan)
      gain_db = [-3.1, -2.9]
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["settings_text", "write_settings"]

_SKIP = ("in", "out", "mix")


def _value(value: Any) -> str:
    if isinstance(value, Tensor):
        value = value.detach().cpu().double().tolist()
    if isinstance(value, float):
        return f"{value:.5g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def settings_text(
    G: Any, parameters: Mapping, processors: Mapping, sample_rate: float, timeline: Any = None
) -> str:
    """The text of ``settings.txt`` (see the module docstring).

    With automation (curves and their ``timeline``), each node's settings are those of its
    curves' mean over the knots, followed by an ``automated:`` readout of each moving setting's
    range and main moves (:func:`grafx.automation.readout.automation_readout`)."""
    from grafx.automation import curve_keys, static_parameters
    from grafx.automation.readout import automation_readout
    from grafx.errors import GrafxError
    from grafx.presets import get_node_settings

    lines = [f"fitted settings (physical units, at {sample_rate:g} Hz)", ""]
    moves: dict = {}
    if curve_keys(parameters, processors):
        moves = automation_readout(G, parameters, processors, timeline)
        parameters = static_parameters(parameters, processors)
        lines[1:1] = ["automated settings: their mean over time, then their range and moves"]
    for node in sorted(G.nodes):
        data = G.nodes[node]
        node_type = data["node_type"]
        if node_type in _SKIP:
            continue
        lines.append(f"{data.get('name') or node} ({node_type})")
        try:
            settings = get_node_settings(parameters, G, node, processors, sample_rate)
        except (GrafxError, KeyError, TypeError, ValueError) as error:
            lines.append(f"  (no physical read-back: {str(error).split(': ')[-1]})")
            continue
        lines += [f"  {key} = {_value(value)}" for key, value in settings.items()]
        if node in moves:
            lines += ["  automated:"] + [f"    {line}" for line in moves[node]]
    return "\n".join(lines) + "\n"


def write_settings(
    path: str | os.PathLike,
    G: Any,
    parameters: Mapping,
    processors: Mapping,
    sample_rate: float,
    timeline: Any = None,
) -> Path:
    """Write :func:`settings_text` to ``path`` atomically; returns the path."""
    from grafx.io.files import write_file

    text = settings_text(G, parameters, processors, sample_rate, timeline)
    return write_file(path, text.encode("utf-8"), "settings")
