"""A job's output folder: created (with its parents) and checked to be writable up front."""

from __future__ import annotations

import os
from pathlib import Path

from grafx.errors import ConfigError

__all__ = ["make_output_folder"]


def make_output_folder(path: str | os.PathLike) -> tuple[Path, list[Path]]:
    """Create (or reuse) an output folder; returns it and the folders created, deepest first
    (a caller that fails later may remove those that are still empty).

    Raises:
        ConfigError: an empty name, a file of that name, or a folder that cannot be created or
            written to (the message names ``--out``'s value).
    """
    if not str(path).strip():
        raise ConfigError("--out: an empty folder name; give a folder (e.g. --out fit-output)")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    missing = []
    parent = out
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{out}: cannot create the folder: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"{out}: the folder is not writable; give another --out")
    return out, missing
