r"""Presets: one node's settings in physical units, as a small JSON file.

A preset holds the settings a processor reads back
(:meth:`~grafx.processors.base.Processor.parameters_to_settings`: ``gain_db``, ``eq_freqs_hz``,
``threshold_db``, ...) and the processor they belong to, so settings fitted on one song can be recalled on a node of another graph::

    {"format": "grafx-preset", "version": 1, "node_type": "eq",
     "processor": {"processor": "ParametricEqualizer", "args": {"num_filters": 4}},
     "settings": {"eq_gains_db": [3.0, 0.0, -2.0, 1.0], ...}}

Example:
    >>> import tempfile
    >>> from grafx.presets import build_mixing_console, console_parameters, console_processors
    >>> chain = ("gain_pan",)
    >>> G, _ = build_mixing_console(2, chain=chain)
    >>> processors = console_processors(chain)
    >>> params = console_parameters(G, processors, settings={"track0/gain_pan": {"pan": 0.5}})
    >>> path = tempfile.mkdtemp() + "/pan.json"
    >>> _ = save_preset(path, params, G, "track0/gain_pan", processors)
    >>> apply_preset(path, params, G, "track1/gain_pan", processors)
    >>> from grafx.presets import get_node_settings
    >>> round(get_node_settings(params, G, "track1/gain_pan")["pan"], 6)
    0.5
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from grafx.errors import ConfigError, GraphFileError, ParameterError
from grafx.io.files import check_header, read_bounded, write_file
from grafx.presets import get_node_settings, set_node_settings
from grafx.processors.registry import processor_name_of
from grafx.processors.spec import processor_spec

__all__ = ["Preset", "save_preset", "load_preset", "apply_preset"]

FORMAT = "grafx-preset"
VERSION = 1
MAX_PRESET_BYTES = 2**20


class Preset(NamedTuple):
    """A loaded preset: the node type it was saved from, the processor spec, the settings."""

    node_type: str
    processor: dict[str, Any]
    settings: dict[str, Any]


def _node_type(G: Any, node: int | str) -> tuple[int, str]:
    node_id = G.find_node(node) if isinstance(node, str) else node
    if node_id not in G:
        raise ParameterError(f"no node {node!r} in the graph")
    return node_id, G.nodes[node_id]["node_type"]


def save_preset(
    path: str | os.PathLike,
    parameters: Mapping,
    G: Any,
    node: int | str,
    processors: Mapping,
    sample_rate: float | None = None,
) -> Preset:
    """Write the physical settings of one node to a preset file (atomically).

    Args:
        path: the preset file (JSON).
        parameters, G, node, processors: as :func:`grafx.presets.get_node_settings`.
        sample_rate: the rate the parameters' normalised frequencies are defined at; ``None``:
            the processor's own (see :func:`grafx.presets.get_node_settings`).

    Raises:
        ParameterError: the node's processor has no physical read-back.
        ConfigError: the processor is not registered.
        GraphFileError: the file cannot be written.
    """

    _, node_type = _node_type(G, node)
    settings = get_node_settings(parameters, G, node, processors, sample_rate)
    for key, value in settings.items():
        if not all(math.isfinite(v) for v in _numbers(value)):
            raise ParameterError(f"{path}: node {node!r} ({node_type!r}): {key} is not finite")
    spec = processor_spec(processors[node_type], f"{path}: processors[{node_type!r}]")
    preset = Preset(node_type, spec, settings)
    document = {"format": FORMAT, "version": VERSION, **preset._asdict()}
    write_file(path, (json.dumps(document, indent=1) + "\n").encode("utf-8"))
    return preset


def _numbers(value: Any):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)


def load_preset(path: str | os.PathLike) -> Preset:
    """Read a preset file written by :func:`save_preset`.

    Raises:
        GraphFileError: missing, too large, not JSON, another format or version, or a missing
            or mistyped field; the message names the file and the field.
    """
    path = Path(path)
    try:
        document = json.loads(read_bounded(path, MAX_PRESET_BYTES, "preset").decode("utf-8"))
    except OSError as error:
        raise GraphFileError(f"{path}: cannot read: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:
        raise GraphFileError(f"{path}: not a valid preset file (JSON): {error}") from None
    check_header(document, path, FORMAT, VERSION, "preset")
    fields = {"node_type": str, "processor": dict, "settings": dict}
    for key, kind in fields.items():
        if not isinstance(document.get(key), kind):
            raise GraphFileError(f"{path}: field {key!r} must be a {kind.__name__}")
    name = document["processor"].get("processor")
    if not isinstance(name, str):
        raise GraphFileError(f"{path}: field 'processor' must be a processor spec")
    return Preset(document["node_type"], document["processor"], document["settings"])


def apply_preset(
    preset: Preset | str | os.PathLike,
    parameters: Mapping,
    G: Any,
    node: int | str,
    processors: Mapping,
    sample_rate: float | None = None,
) -> None:
    """Write a preset's settings into one node's parameters (in place, no grad).

    Args:
        preset: a :class:`Preset` or a preset file.
        parameters, G, node, processors: as :func:`grafx.presets.set_node_settings`.
        sample_rate: the target graph's rate, if it differs from the one saved (frequencies
            stay in Hz).

    Raises:
        ParameterError: the node's processor is another processor than the preset's, or the
            settings do not fit it; the message names the preset, node and type.
    """

    where = "preset" if isinstance(preset, Preset) else str(preset)
    if not isinstance(preset, Preset):
        preset = load_preset(preset)
    node_id, node_type = _node_type(G, node)
    if node_type not in processors:
        raise ParameterError(f"{where}: node {node!r} ({node_type!r}) has no processor")
    name = processor_name_of(processors[node_type])
    if name != preset.processor["processor"]:
        raise ParameterError(
            f"{where}: a preset for {preset.processor['processor']} cannot be applied to node "
            f"{node!r} ({node_type!r}), a {name or type(processors[node_type]).__name__}"
        )
    settings = dict(preset.settings)
    if sample_rate is not None and "sample_rate" in settings:
        settings["sample_rate"] = float(sample_rate)
    try:
        set_node_settings(parameters, G, node_id, processors, **settings)
    except (ParameterError, ConfigError) as error:
        raise ParameterError(f"{where}: node {node!r}: {error}") from None
