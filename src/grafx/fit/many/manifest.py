"""The manifest of a fit-many run: one song per line, CSV or JSON lines.

CSV (``.csv``): a header with ``song``, ``stems`` and ``target`` (and optionally ``groups``); the
stems of a song are separated by ``;``. JSON lines (``.jsonl``/``.json``): one object per line,
``{"song": "id", "stems": ["a.wav", "b.wav"], "target": "mix.wav", "groups": "g.json"}``. Relative
paths are relative to the manifest's folder. Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafx.errors import GrafxError, GraphFileError
from grafx.io.files import read_bounded

#: Largest manifest read, in bytes.
MAX_MANIFEST_BYTES = 64 * 2**20

SONG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ManifestError(GrafxError, ValueError):
    """A manifest that cannot be used; the message names the file, the line and the song."""


@dataclass(frozen=True)
class Song:
    """One song of a manifest: its id (the name of its output folder) and its files."""

    song_id: str
    stems: tuple[str, ...]
    target: str
    groups: str | None = None
    line: int = 0

    def as_json(self) -> dict:
        return {"stems": list(self.stems), "target": self.target, "groups": self.groups}


def read_manifest(path: str | os.PathLike, check_files: bool = True) -> list[Song]:
    """Read a manifest (see the module docstring).

    Args:
        path: the ``.csv`` or ``.jsonl`` file.
        check_files: refuse songs whose stem, target or groups file does not exist.

    Returns:
        The songs, in manifest order, with absolute paths.

    Raises:
        ManifestError: an unreadable file or line, a missing column, a bad or duplicate song id,
            a missing audio file, or no songs at all; the message names the line and the song.
    """
    path = Path(path)
    try:
        text = read_bounded(path, MAX_MANIFEST_BYTES, "the manifest").decode("utf-8")
    except GraphFileError as error:
        raise ManifestError(str(error)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read the manifest: {error}") from None
    rows = (
        _json_rows(path, text)
        if path.suffix.lower() in (".jsonl", ".json")
        else _csv_rows(path, text)
    )
    songs: list[Song] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        song = _song(path, line, row)
        if song.song_id in seen:
            raise ManifestError(
                f"{path}:{line}: duplicate song id {song.song_id!r} (first on line "
                f"{seen[song.song_id]})"
            )
        seen[song.song_id] = line
        if check_files:
            for kind, file in _files(song):
                if not Path(file).is_file():
                    raise ManifestError(
                        f"{path}:{line}: song {song.song_id!r}: {kind} file {file} does not exist"
                    )
        songs.append(song)
    if not songs:
        raise ManifestError(f"{path}: the manifest lists no songs")
    return songs


def _files(song: Song) -> list[tuple[str, str]]:
    files = [("stem", s) for s in song.stems] + [("target", song.target)]
    return files + ([("groups", song.groups)] if song.groups else [])


def _content_lines(text: str):
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _csv_rows(path: Path, text: str):
    lines = list(_content_lines(text))
    if not lines:
        return []
    header_line, header = lines[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    missing = [c for c in ("song", "stems", "target") if c not in columns]
    if missing:
        raise ManifestError(
            f"{path}:{header_line}: the header lacks column(s) {missing}; it has {columns}"
        )
    rows = []
    for number, line in lines[1:]:
        try:
            values = next(csv.reader(io.StringIO(line), strict=True))
        except csv.Error as error:
            raise ManifestError(f"{path}:{number}: unreadable line ({error}): {line!r}") from None
        if len(values) != len(columns):
            raise ManifestError(
                f"{path}:{number}: unreadable line: {len(values)} field(s) for {len(columns)} "
                f"column(s) {columns}: {line!r}"
            )
        row: dict[str, Any] = dict(zip(columns, (v.strip() for v in values), strict=True))
        row["stems"] = [s.strip() for s in row["stems"].split(";") if s.strip()]
        rows.append((number, row))
    return rows


def _json_rows(path: Path, text: str):
    rows = []
    for number, line in _content_lines(text):
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ManifestError(f"{path}:{number}: unreadable line ({error}): {line!r}") from None
        if not isinstance(row, dict):
            raise ManifestError(f"{path}:{number}: unreadable line: not a JSON object: {line!r}")
        rows.append((number, row))
    return rows


def _song(path: Path, line: int, row: dict) -> Song:
    song_id = row.get("song")
    where = f"{path}:{line}"
    if not isinstance(song_id, str) or not SONG_ID.fullmatch(song_id):
        raise ManifestError(
            f"{where}: song id {song_id!r} must be a folder name of letters, digits, '.', '_' "
            f"or '-' that starts with a letter or digit"
        )
    where = f"{where}: song {song_id!r}"
    stems, target, groups = row.get("stems"), row.get("target"), row.get("groups") or None
    if not isinstance(stems, list) or not stems or not all(isinstance(s, str) for s in stems):
        raise ManifestError(f"{where}: stems must be a non-empty list of file names, got {stems!r}")
    if not isinstance(target, str) or not target:
        raise ManifestError(f"{where}: target must be a file name, got {target!r}")
    if groups is not None and not isinstance(groups, str):
        raise ManifestError(f"{where}: groups must be a file name, got {groups!r}")
    base = path.parent.resolve()

    def absolute(file: str) -> str:
        return str((base / file).resolve())

    return Song(
        song_id,
        tuple(absolute(s) for s in stems),
        absolute(target),
        absolute(groups) if groups else None,
        line,
    )
