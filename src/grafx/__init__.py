"""grafx: audio processing graphs in PyTorch.

Subpackages load on first use, so ``import grafx`` is cheap and ``grafx.render.render_grafx``
works without importing ``grafx.render`` first: ``data`` (graphs and their tensor form),
``render`` (scheduling, plans, rendering), ``processors``, ``utils``, ``io``, ``draw``, ``fit``,
``losses``, ``metrics``, ``baseline``, ``mixing`` (the mixing console; also ``presets``),
``gates`` (soft structure), ``prune`` (pruning search), ``errors``, ``compat`` (the original
library's call forms).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "baseline",
    "data",
    "render",
    "processors",
    "utils",
    "io",
    "draw",
    "fit",
    "losses",
    "metrics",
    "mixing",
    "presets",
    "gates",
    "prune",
    "errors",
    "compat",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
