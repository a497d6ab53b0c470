"""Groups files: which subgroup bus each stem of a console goes to.

A groups file is a JSON object mapping every stem name (its file name without the extension,
e.g. ``kick`` for ``stems/kick.wav``) to a group name::

    {"kick": "drums", "snare": "drums", "bass": "music", "keys": "music", "vox": "vocals"}

Each distinct group becomes one bus (in order of first appearance) named after the group.

Example:
    >>> parse_groups({"kick": "drums", "bass": "music", "snare": "drums"}, ["kick", "snare", "bass"])
    (['drums', 'music'], [0, 0, 1])
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from grafx.errors import ConfigError, GraphFileError
from grafx.io.files import read_bounded

#: Largest groups file read, in bytes.
MAX_GROUPS_BYTES = 2**20

__all__ = ["parse_groups", "read_groups"]


def parse_groups(
    mapping: Mapping[str, str], stem_names: Sequence[str], where: str = "groups"
) -> tuple[list[str], list[int]]:
    """Bus names and the bus index of each stem, from a ``{stem: group}`` mapping.

    Args:
        mapping: stem name to group name, one entry for every stem.
        stem_names: the stems, in console track order.
        where: what to name in error messages (the file).

    Returns:
        ``(group_names, track_to_bus)``.

    Raises:
        ConfigError: a non-string group, a stem the mapping names that is not among the stems,
            or a stem the mapping leaves out.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(
            f"{where}: expected a JSON object mapping each stem to a group, "
            f"got {type(mapping).__name__}"
        )
    unknown = [name for name in mapping if name not in stem_names]
    if unknown:
        raise ConfigError(f"{where}: stem(s) {unknown} are not among the stems {list(stem_names)}")
    missing = [name for name in stem_names if name not in mapping]
    if missing:
        raise ConfigError(f"{where}: stem(s) {missing} have no group; give every stem a group")
    bad = {k: v for k, v in mapping.items() if not isinstance(v, str) or not v}
    if bad:
        raise ConfigError(f"{where}: group names must be non-empty strings, got {bad}")
    groups: list[str] = []
    for name in stem_names:
        if mapping[name] not in groups:
            groups.append(mapping[name])
    return groups, [groups.index(mapping[name]) for name in stem_names]


def read_groups(path: str | os.PathLike, stem_names: Sequence[str]) -> tuple[list[str], list[int]]:
    """Read a groups file (see the module docstring) for the given stems.

    Raises:
        ConfigError: an unreadable file, invalid JSON, or a mapping :func:`parse_groups`
            refuses (the message names the file).
    """
    path = Path(path)
    try:
        text = read_bounded(path, MAX_GROUPS_BYTES, "groups file").decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: cannot read groups file ({error})") from None
    except GraphFileError as error:
        raise ConfigError(str(error)) from None
    try:
        mapping = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ConfigError(f"{path}: not a groups file: JSON nested too deeply") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not a JSON groups file ({error})") from None
    return parse_groups(mapping, stem_names, str(path))


def _no_duplicates(pairs: list) -> dict:
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the stem {key!r} is listed twice")
        result[key] = value
    return result
