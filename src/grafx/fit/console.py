"""The console a fit builds for its stems: one channel strip per stem, buses from a count or a
groups file, tracks named after the stem files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafx.errors import ConfigError
from grafx.io.groups import read_groups
from grafx.presets import build_mixing_console

__all__ = ["track_names", "stem_console"]


def track_names(stems: Sequence[str | Path], groups: str | None = None) -> list[str]:
    """The tracks' names: the stem files' names without extension, or ``track0``, ``track1``,
    ... when two are alike.

    Raises:
        ConfigError: names that repeat while a groups file (which maps names to groups) is given.
    """
    names = [Path(s).stem for s in stems]
    if len(set(names)) == len(names):
        return names
    if groups is not None:
        raise ConfigError(
            f"--groups: stem file names {names} repeat; a groups file needs distinct names"
        )
    return [f"track{i}" for i in range(len(names))]


def stem_console(
    names: Sequence[str],
    buses: int = 0,
    groups: str | None = None,
    master: Sequence[str] = (),
) -> tuple[Any, Any]:
    """``(G, type_sequence)`` of :func:`~grafx.presets.build_mixing_console` for the tracks
    ``names``: ``buses`` subgroup buses with the stems spread in order, or one bus per group of
    the groups file ``groups`` (:func:`~grafx.io.groups.read_groups`; a group named like a
    track gets the bus name ``<group>_bus``), and the master strip ``master`` (console types,
    in order; empty: none)."""
    names = list(names)
    if groups is None:
        return build_mixing_console(len(names), buses, track_names=names, master_chain=master)
    group_names, track_to_bus = read_groups(groups, names)
    clash = sorted(set(group_names) & set(names))
    bus_names = [f"{g}_bus" if clash else g for g in group_names]
    return build_mixing_console(
        len(names),
        len(group_names),
        track_to_bus=track_to_bus,
        track_names=names,
        bus_names=bus_names,
        master_chain=master,
    )
