"""What grafx's own files share: writes that name the file they fail on, and headers.

Each kind of grafx file (graph file, preset, fit checkpoint) is JSON with a ``"format"`` name
and a ``"version"``; :func:`check_header` refuses another kind or version in one sentence that
names the file. :func:`write_file` writes bytes atomically (:func:`~grafx.io.atomic.atomic_write`)
and turns an ``OSError`` into a :class:`~grafx.errors.GraphFileError` naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from grafx.errors import GraphFileError
from grafx.io.atomic import atomic_write

__all__ = ["check_header", "check_regular_file", "read_bounded", "write_file"]


def write_file(path: str | os.PathLike, data: bytes, what: str = "") -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Args:
        path: the file.
        data: its new content.
        what: the kind of file, for the error (``"checkpoint"``: ``cannot write checkpoint``).

    Raises:
        GraphFileError: the write failed (no space, no permission, ...); ``path`` is unchanged.
    """
    path = Path(path)
    try:
        with atomic_write(path) as file:
            file.write(data)
    except OSError as error:
        kind = f" {what}" if what else ""
        raise GraphFileError(f"{path}: cannot write{kind}: {error.strerror or error}") from None
    return path


def check_regular_file(path: str | os.PathLike, what: str = "file") -> int:
    """Refuse anything but a regular file (after symlinks); returns its size in bytes.

    A FIFO would block a reader forever and a device such as ``/dev/zero`` never ends, while
    ``stat`` reports a size of 0 for both; only regular files have a size to trust.

    Raises:
        GraphFileError: missing, or not a regular file (the message names the file).
    """
    try:
        info = os.stat(path)
    except OSError as error:
        raise GraphFileError(f"{path}: {_cannot(what)}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise GraphFileError(f"{path}: {_cannot(what)}: it is {kind}, not a regular file")
    return info.st_size


def _cannot(what: str) -> str:
    return f"cannot read {what}" if what else "cannot read"


def read_bounded(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (checked while reading too).

    Raises:
        GraphFileError: not a regular file, unreadable, or over ``limit`` bytes.
    """
    size = check_regular_file(path, what)
    if size > limit:
        raise GraphFileError(f"{path}: {size} bytes is over the {limit}-byte limit")
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise GraphFileError(f"{path}: {_cannot(what)}: {error.strerror or error}") from None
    if len(data) > limit:
        raise GraphFileError(f"{path}: over the {limit}-byte limit")
    return data


def check_header(
    document: Any, path: str | os.PathLike, format: str, version: int, what: str
) -> dict:
    """Check that a parsed JSON ``document`` is a ``format`` file of ``version``.

    Args:
        document: the parsed JSON.
        path: its file, for the errors.
        format: the expected ``"format"`` value.
        version: the version this grafx reads.
        what: the kind of file in words (``"preset"``, ``"fit checkpoint"``).

    Returns:
        The document (a dict).

    Raises:
        GraphFileError: not a JSON object, another format, or another version.
    """
    if not isinstance(document, dict) or document.get("format") != format:
        raise GraphFileError(f"{path}: not a grafx {what} (format {format!r} expected)")
    if document.get("version") != version:
        raise GraphFileError(
            f"{path}: unsupported {what} version {document.get('version')!r}; this grafx reads "
            f"version {version}"
        )
    return document
