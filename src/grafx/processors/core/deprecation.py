"""Warnings for the processor names kept from the original library's older API."""

from __future__ import annotations

import warnings

_WARNED: set[str] = set()


def warn_deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn once per process, with a :class:`DeprecationWarning`, that ``old`` became ``new``.

    ``stacklevel=3`` points at the caller of the constructor that calls this.
    """
    if old in _WARNED:
        return
    _WARNED.add(old)
    warnings.warn(
        f"{old} is deprecated and will be removed; use {new} instead.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
