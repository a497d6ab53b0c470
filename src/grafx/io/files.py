"""What grafx's own files share: writes that name the file they fail on, and headers.

Each kind of grafx file (graph file, preset, fit checkpoint) is JSON with a ``"format"`` name
and a ``"version"``; :func:`check_header` refuses another kind or version in one sentence that
names the file. :func:`write_file` writes bytes atomically (:func:`~grafx.io.atomic.atomic_write`)
and turns an ``OSError`` into a :class:`~grafx.errors.GraphFileError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from grafx.errors import GraphFileError
from grafx.io.atomic import atomic_write

__all__ = ["check_header", "write_file"]


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
