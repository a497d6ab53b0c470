"""Checks of processor parameters against ``parameter_size()``, with errors naming the key."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from torch import Tensor

from grafx.errors import ParameterError

#: Samples per control block of a ``"block"`` time-varying parameter when a processor does not
#: set ``control_block`` (see :mod:`grafx.automation.expand`).
DEFAULT_CONTROL_BLOCK = 256


def normalize_size(size: Any) -> Any:
    """``parameter_size()`` leaf or tree with every int ``k`` turned into the shape ``(k,)``."""
    if isinstance(size, Mapping):
        return {k: normalize_size(v) for k, v in size.items()}
    if isinstance(size, int):
        return (size,)
    return tuple(size)


def as_parameter_dict(value: Any) -> dict:
    """Plain (nested) dicts from a parameter mapping (``dict``, ``nn.ParameterDict``, ...).

    Tensors and other leaves are kept as they are; ``None`` gives ``{}``.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping) or hasattr(value, "items"):
        return {
            k: as_parameter_dict(v) if not isinstance(v, Tensor) and hasattr(v, "items") else v
            for k, v in value.items()
        }
    raise ParameterError(f"expected a dict of parameters, got {type(value).__name__}")


def check_parameters(
    owner: str,
    batch_size: int,
    parameters: Mapping[str, Any],
    sizes: Mapping[str, Any],
    prefix: str = "",
    time_varying: Mapping[str, int | None] | Collection[str] = (),
) -> None:
    """Raise :class:`ParameterError` unless ``parameters`` match ``sizes`` with a batch dim.

    Args:
        owner: processor name used in messages.
        batch_size: expected first dimension of every tensor.
        parameters: the keyword parameters given to ``forward`` (nested dicts allowed).
        sizes: ``parameter_size()`` of the processor.
        prefix: key path of a nested call, for messages.
        time_varying: top-level keys that may also arrive as control signals,
            ``(batch, *size, T)`` (see :mod:`grafx.automation`); a mapping gives the ``T`` each
            must have (``None``: any).
    """
    for key, size in sizes.items():
        name = f"{prefix}{key}"
        value = parameters.get(key)
        if value is None:
            raise ParameterError(f"{owner}: missing parameter {name!r}")
        if isinstance(size, Mapping):
            if not isinstance(value, Mapping):
                raise ParameterError(f"{owner}: parameter {name!r} must be a dict of tensors")
            check_parameters(owner, batch_size, value, size, prefix=f"{name}.")
            continue
        if not isinstance(value, Tensor):
            raise ParameterError(
                f"{owner}: parameter {name!r} must be a tensor, got {type(value).__name__}"
            )
        expected = (batch_size, *normalize_size(size))
        moving = key in time_varying and value.ndim == len(expected) + 1
        if moving and tuple(value.shape[:-1]) == expected:
            steps = time_varying.get(key) if isinstance(time_varying, Mapping) else None
            if steps is None or value.shape[-1] == steps:
                continue
            raise ParameterError(
                f"{owner}: control signal {name!r} has shape {tuple(value.shape)}, expected "
                f"{(*expected, steps)} (one value per sample or control block of the input)"
            )
        if tuple(value.shape) != expected:
            raise ParameterError(
                f"{owner}: parameter {name!r} has shape {tuple(value.shape)}, expected {expected} "
                f"(batch {batch_size} x parameter_size {normalize_size(size)})"
            )
    unknown = [k for k in parameters if k not in sizes and parameters[k] is not None]
    if unknown:
        raise ParameterError(f"{owner}: unknown parameter(s) {unknown}; expected {sorted(sizes)}")
