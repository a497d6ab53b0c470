r"""Processor specs: a processor as plain JSON, ``{"processor": NAME, "args": {...}}``.

``NAME`` is the processor's registered name (:mod:`grafx.processors.registry`) and ``args`` the
keyword arguments it was constructed with (only the ones given; JSON values, tuples as lists). A
processor argument of a container is a nested spec (:class:`~grafx.processors.container.DryWet`'s
``processor``, :class:`~grafx.processors.container.SerialChain`'s ``processors`` dict), so a
whole console strip is one document. :func:`build_processor` rebuilds a processor from a spec by
looking its name up in the registry: a spec can only name registered classes, never a module to
import, and its arguments are checked against the constructor before it runs.

Example:
    >>> from grafx.processors import DryWet, MultitapDelay
    >>> spec = processor_spec(DryWet(MultitapDelay(segment_len=100), external_param=False))
    >>> spec["processor"], spec["args"]["processor"]
    ('DryWet', {'processor': 'MultitapDelay', 'args': {'segment_len': 100}})
    >>> build_processor(spec).processor.segment_len
    100
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from torch import nn

from grafx.errors import ConfigError
from grafx.processors.registry import get_processor_class, processor_name_of
from grafx.processors.spec_limits import check_spec_arguments

__all__ = [
    "processor_spec",
    "build_processor",
    "describe_spec",
    "is_spec",
    "MAX_SPEC_DEPTH",
    "MAX_SPEC_ITEMS",
]

#: Deepest nesting of specs and argument containers a file may hold.
MAX_SPEC_DEPTH = 16
#: Most values (specs, arguments and their items) one spec may hold.
MAX_SPEC_ITEMS = 10_000

_SPEC_KEYS = {"processor", "args"}


def is_spec(value: Any) -> bool:
    """Whether ``value`` is shaped like a processor spec (a dict with a ``"processor"`` key)."""
    return isinstance(value, Mapping) and "processor" in value and set(value) <= _SPEC_KEYS


def processor_spec(processor: nn.Module, where: str = "processor") -> dict[str, Any]:
    """The spec of a registered processor, with its constructor arguments as JSON values.

    Raises:
        ConfigError: the processor is not registered, or an argument cannot be written as JSON
            (e.g. a ``torch.Generator``); the message names ``where`` and the argument.
    """
    name = processor_name_of(processor)
    if name is None:
        raise ConfigError(
            f"{where}: {type(processor).__name__} is not a registered processor, so a file "
            "cannot name it; register it with @grafx.processors.register"
        )
    arguments = getattr(processor, "constructor_arguments", None)
    if arguments is None:
        required = [
            p.name
            for p in list(inspect.signature(type(processor).__init__).parameters.values())[1:]
            if p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            raise ConfigError(
                f"{where}: {name} is a plain nn.Module whose constructor arguments {required} "
                "are not recorded; subclass grafx.processors.Processor to save it"
            )
        arguments = {}
    args = {key: _to_json(value, f"{where}.args.{key}") for key, value in arguments.items()}
    return {"processor": name, "args": args}


def _to_json(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {value} cannot be saved in a graph file")
        return value
    if isinstance(value, nn.ModuleDict):
        return {k: processor_spec(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, nn.Module):
        return processor_spec(value, where)
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: dict keys must be strings to be saved in a graph file")
        return {k: _to_json(v, f"{where}.{k}") for k, v in value.items()}
    raise ConfigError(
        f"{where}: an argument of type {type(value).__name__} cannot be saved in a graph file"
    )


class _Budget:
    def __init__(self, where: str):
        self.where = where
        self.items = 0

    def spend(self, where: str, depth: int) -> None:
        self.items += 1
        if depth > MAX_SPEC_DEPTH:
            raise ConfigError(f"{where}: specs nest deeper than {MAX_SPEC_DEPTH} levels")
        if self.items > MAX_SPEC_ITEMS:
            raise ConfigError(f"{self.where}: the spec holds over {MAX_SPEC_ITEMS} values")


def build_processor(spec: Any, where: str = "processor") -> nn.Module:
    """Construct the processor a spec describes (nested specs first).

    Args:
        spec: ``{"processor": NAME, "args": {...}}``.
        where: the spec's location for messages (e.g. ``"G.json: processors['eq']"``).

    Raises:
        ConfigError: a malformed spec, an unknown name (the message says how to register it), an
            argument the processor does not take or of the wrong type, or a spec too deep or too
            large; the message names ``where`` and the key at fault.
    """
    return _build(spec, where, 0, _Budget(where))


def _build(spec: Any, where: str, depth: int, budget: _Budget) -> nn.Module:
    budget.spend(where, depth)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a processor spec must be an object, got {type(spec).__name__}")
    extra = sorted(set(spec) - _SPEC_KEYS)
    if extra or "processor" not in spec:
        raise ConfigError(
            f"{where}: a processor spec has the keys 'processor' and 'args', got {sorted(spec)}"
        )
    name = spec["processor"]
    if not isinstance(name, str):
        raise ConfigError(f"{where}.processor: must be a name, got {type(name).__name__}")
    try:
        cls = get_processor_class(name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    args = spec.get("args") or {}
    if not isinstance(args, Mapping):
        raise ConfigError(f"{where}.args: must be an object, got {type(args).__name__}")
    values = {
        key: _value(value, f"{where}.args.{key}", depth + 1, budget) for key, value in args.items()
    }
    _check_types(cls, values, where)
    check_spec_arguments(name, values, where)
    try:
        return cls(**values)
    except (ConfigError, TypeError, ValueError) as error:
        message = str(error)
        prefix = f"{cls.__name__}: "
        message = message[len(prefix) :] if message.startswith(prefix) else message
        raise ConfigError(f"{where}: {name}: {message}") from None


def _value(value: Any, where: str, depth: int, budget: _Budget) -> Any:
    budget.spend(where, depth)
    if is_spec(value):
        return _build(value, where, depth, budget)
    if isinstance(value, list):
        return [_value(v, f"{where}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _value(v, f"{where}.{k}", depth + 1, budget) for k, v in value.items()}
    return value


_KINDS = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: (
        not isinstance(v, bool)
        and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
    ),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "nn.Module": lambda v: isinstance(v, nn.Module),
    "Module": lambda v: isinstance(v, nn.Module),
}
_KIND_WORDS = {"nn.Module": "processor spec", "Module": "processor spec"}


def _check_types(cls: type, values: Mapping[str, Any], where: str) -> None:
    """Refuse a JSON value that does not fit a constructor argument annotated as a plain
    ``bool``, ``int``, ``float`` or ``str``."""
    parameters = inspect.signature(getattr(cls, "__init__")).parameters  # noqa: B009
    for key, value in values.items():
        parameter = parameters.get(key)
        if parameter is None:
            continue
        annotation = parameter.annotation
        kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        check = _KINDS.get(kind)
        if check is not None and not check(value):
            raise ConfigError(
                f"{where}.args.{key}: {cls.__name__} takes a {_KIND_WORDS.get(kind, kind)}, got "
                f"{type(value).__name__} {value!r}"
            )


def describe_spec(spec: Mapping[str, Any]) -> str:
    """A spec as one line of Python-like text: ``DryWet(processor=MultitapDelay(...), ...)``."""

    def text(value: Any) -> str:
        if is_spec(value):
            return describe_spec(value)
        if isinstance(value, list):
            return "[" + ", ".join(text(v) for v in value) + "]"
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{k!r}: {text(v)}" for k, v in value.items()) + "}"
        return repr(value)

    args = ", ".join(f"{key}={text(value)}" for key, value in (spec.get("args") or {}).items())
    return f"{spec['processor']}({args})"
