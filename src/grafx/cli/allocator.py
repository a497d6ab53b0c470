"""Allocator settings for the ``grafx`` command (never applied on library import).

Rendering allocates and frees many signal-sized blocks. glibc serves every block above its
mmap threshold (at most 32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` on free,
so each large temporary is page-faulted in again: on a 64-track console rendered forward and
backward, a quarter of the CPU time was kernel time. :func:`tune_allocator` tells glibc to keep
such blocks on the heap (``M_MMAP_MAX = 0``) and not to give freed heap back below 1 GiB
(``M_TRIM_THRESHOLD``), trading some peak memory for far fewer page faults
(``benchmarks/bench_scaling.py --heap``; figures in ``benchmarks/README.md``).

Only the command-line entry points call it, since it changes the whole process; set
``GRAFX_MALLOC=default`` to keep glibc's defaults. Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD_BYTES = 1 << 30


def tune_allocator() -> bool:
    """Keep large blocks on glibc's heap; returns whether the settings were applied."""
    if os.environ.get("GRAFX_MALLOC", "").strip().lower() == "default":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )
    logger.debug("glibc heap-only allocation %s", "on" if applied else "refused")
    return applied
