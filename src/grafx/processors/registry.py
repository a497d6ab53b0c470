r"""Processors by name: grafx's own, user classes (``@register``) and installed packages.

Three sources fill one table of ``name -> class``:

* every public :class:`~grafx.processors.base.Processor` subclass defined in a ``grafx.*``
  module registers itself under its class name when its module is imported (the modules of
  :mod:`grafx.processors` are imported on the first lookup);
* :func:`register`, as a decorator, for a user class (a ``Processor`` or any ``nn.Module`` with
  ``parameter_size()``);
* the entry-point group ``grafx.processors`` (:data:`ENTRY_POINT_GROUP`): a package declares
  ``[project.entry-points."grafx.processors"] MyReverb = "mypkg.reverb:MyReverb"`` and a graph
  file can name ``MyReverb``. Entry points are read (and their modules imported) only when a
  name is not found otherwise. A name is only ever looked up in this table: nothing named by a
  file is imported.

Example:
    >>> from torch import nn
    >>> @register
    ... class Doubler(nn.Module):
    ...     def forward(self, input_signals):
    ...         return 2 * input_signals
    ...     def parameter_size(self):
    ...         return {}
    >>> get_processor_class("Doubler") is Doubler
    True
    >>> unregister("Doubler")
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from grafx.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "register",
    "unregister",
    "get_processor_class",
    "processor_names",
    "processor_name_of",
    "load_builtin_processors",
]

#: The Python entry-point group through which installed packages provide processors.
ENTRY_POINT_GROUP = "grafx.processors"

#: Modules of :mod:`grafx.processors` that hold no processor classes.
_NOT_PROCESSOR_MODULES = frozenset({"base", "registry", "core", "functional"})

_REGISTRY: dict[str, type] = {}
_state = {"builtins": False, "entry_points": False}

T = TypeVar("T", bound=type)


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: T | None = None, *, name: str | None = None) -> Any:
    """Register a processor class under ``name`` (default: its class name).

    Usable as ``@register``, ``@register(name="X")`` or ``register(cls)``. Registering another
    class under a taken name raises :class:`~grafx.errors.ConfigError`; re-registering the same
    class (or a reloaded module's class of the same origin) replaces the entry.

    Returns:
        The class, unchanged (so it works as a decorator).
    """

    def decorate(cls: T) -> T:
        if not isinstance(cls, type) or not callable(getattr(cls, "parameter_size", None)):
            raise ConfigError(
                f"register: {cls!r} is not a processor class (a class with parameter_size())"
            )
        key = name or cls.__name__
        if not key.isidentifier():
            raise ConfigError(f"register: processor name {key!r} is not an identifier")
        taken = _REGISTRY.get(key)
        if taken is not None and taken is not cls and _origin(taken) != _origin(cls):
            raise ConfigError(
                f"register: processor name {key!r} is already taken by {_origin(taken)}; "
                f"choose another name for {_origin(cls)}"
            )
        _REGISTRY[key] = cls
        if hasattr(cls, "processor_name"):
            cls.processor_name = key
        return cls

    return decorate if cls is None else decorate(cls)


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (no error if it is not there)."""
    cls = _REGISTRY.pop(name, None)
    if cls is not None and getattr(cls, "processor_name", None) == name:
        setattr(cls, "processor_name", None)  # noqa: B010 (a plain nn.Module has no such field)


def load_builtin_processors() -> None:
    """Import every processor module of :mod:`grafx.processors` (once), registering its classes."""
    if _state["builtins"]:
        return
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg or module.name.startswith("_") or module.name in _NOT_PROCESSOR_MODULES:
            continue
        importlib.import_module(f"grafx.processors.{module.name}")
    _state["builtins"] = True


def _load_entry_points() -> None:
    if _state["entry_points"]:
        return
    _state["entry_points"] = True
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _REGISTRY:
            continue
        try:
            cls = entry_point.load()
        except Exception as error:  # a broken third-party package must not hide the others
            raise ConfigError(
                f"entry point {entry_point.name!r} ({entry_point.value}) of group "
                f"{ENTRY_POINT_GROUP!r} failed to load: {type(error).__name__}: {error}"
            ) from error
        register(cls, name=entry_point.name)


def reload_entry_points() -> None:
    """Read the entry points again (after installing a package in a running process)."""
    _state["entry_points"] = False
    _load_entry_points()


def get_processor_class(name: str) -> type:
    """The class registered under ``name``.

    Raises:
        ConfigError: no such processor; the message says how to register one.
    """
    if name not in _REGISTRY:
        load_builtin_processors()
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown processor {name!r}: it is not a grafx processor and no installed package "
            f"provides it; register it with @grafx.processors.register or an entry point in "
            f"the {ENTRY_POINT_GROUP!r} group"
        )
    return _REGISTRY[name]


def processor_names(entry_points: bool = True) -> list[str]:
    """Sorted names of every registered processor (grafx's own, users', installed packages')."""
    load_builtin_processors()
    if entry_points:
        _load_entry_points()
    return sorted(_REGISTRY)


def builtin_processor_names() -> list[str]:
    """Sorted names of grafx's own processors."""
    load_builtin_processors()
    return sorted(n for n, c in _REGISTRY.items() if c.__module__.startswith("grafx."))


def processor_name_of(processor: Any) -> str | None:
    """The registered name of a processor instance or class, or ``None`` if it has none."""
    cls = processor if isinstance(processor, type) else type(processor)
    for key, registered in _REGISTRY.items():
        if registered is cls:
            return key
    return None
