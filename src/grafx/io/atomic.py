"""Atomic file writes: a file is either the old one or the complete new one, never half-written."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

#: Temporary files are ``.<name>.<random>.tmp`` beside their target.
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's file-creation mask (read from ``/proc`` where it can be, else set back)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Remove the temporary files that killed writes of ``names`` left in ``folder``.

    Only files named as :func:`atomic_write` names them (``.<name>.<random>.tmp``) for one of
    ``names`` are removed; call it only where no other process writes those files.

    Returns:
        The files removed.
    """
    removed = []
    folder = Path(folder)
    for name in names:
        for stale in folder.glob(f"{TMP_PREFIX}{name}.*{TMP_SUFFIX}"):
            try:
                stale.unlink()
                removed.append(stale)
            except OSError:
                pass
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; move it over ``path`` on success.

    The data is flushed to disk before the move. On any exception (including ``KeyboardInterrupt``)
    the temporary file is removed and ``path`` is left as it was. ``OSError`` propagates, for the
    caller to turn into an error that names the file. The new file gets the mode of the file it
    replaces, or that of a new file under the process's umask (``0644`` under ``022``), not the
    ``0600`` of a temporary file. An ``OSError`` names ``path``, not the temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX
    )
    try:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0o666 & ~current_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:
        # Name the file the caller asked for, not the hidden temporary beside it.
        if error.filename in (tmp, None):
            error.filename = str(path)
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
