"""Differentiable audio processors: graph nodes that take ``(B, C, L)`` audio and parameters.

Every grafx processor is importable from here by its name, which is also its name in the
registry (:mod:`grafx.processors.registry`); the processor modules are imported on the first such
access, so ``import grafx.processors`` stays cheap. :class:`~grafx.processors.base.Processor` is
the base class and :func:`register` the decorator for user classes.
"""

from __future__ import annotations

import importlib
from typing import Any

from grafx.processors.registry import builtin_processor_names, get_processor_class
from grafx.processors.registry import register as register

_SUBMODULES = ("base", "core", "functional", "registry")
_EXTRAS = ("Processor", "register", "get_processor_class")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Processor":
        return importlib.import_module(f"{__name__}.base").Processor
    if name == "__all__":
        return [*builtin_processor_names(), *_EXTRAS]
    if not name.startswith("_") and name in builtin_processor_names():
        return get_processor_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*builtin_processor_names(), *_EXTRAS, *_SUBMODULES]
