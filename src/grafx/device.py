r"""Where a render or a fit runs: choosing a device and a dtype, and moving inputs there.

Processors, the render engine, the losses and the fit follow their inputs: every tensor they
make takes the device and dtype of the audio they are given, so running on a GPU is a matter
of putting the sources, the target, the parameters (and the processors' buffers) there first.
These helpers do that once, outside the hot loop:

* :func:`resolve_device` turns ``None``/``"auto"`` into CUDA when it is usable, else the CPU,
  and checks that a named device exists (a clear :class:`~grafx.errors.ConfigError` if not);
* :func:`resolve_dtype` maps ``"float32"``/``"float64"`` to torch dtypes;
* :func:`move_tree` moves a nested dict of tensors (per-type parameters), keeping its shape;
* :func:`move_processors` moves the processors' buffers (``nn.Module.to``, in place).

Processors that cannot run on a device (black boxes calling Python or C code on the samples)
copy their input to the CPU, call out there, and return their output on the input's device.

Example:
    >>> import torch
    >>> resolve_device("cpu"), resolve_dtype("float64")
    (device(type='cpu'), torch.float64)
    >>> tree = move_tree({"eq": {"log_gain": torch.zeros(2, 1)}}, "meta", torch.float64)
    >>> tree["eq"]["log_gain"].device, tree["eq"]["log_gain"].dtype
    (device(type='meta'), torch.float64)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ConfigError

__all__ = [
    "DTYPES",
    "default_device",
    "resolve_device",
    "resolve_dtype",
    "move_tree",
    "move_processors",
    "describe_device",
]

#: The dtypes a render or a fit may run in, by name.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def default_device() -> torch.device:
    """CUDA (its current device) when this torch has a usable GPU, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device named by ``device``, checked to be usable here.

    Args:
        device: ``None`` or ``"auto"`` (:func:`default_device`), or a torch device name:
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"meta"`` (shapes only, no data).

    Raises:
        ConfigError: an unknown name, or a device this machine or this torch build lacks (the
            message says which torch is installed and how to get a CUDA one).
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return default_device()
    try:
        resolved = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(
            f"unknown device {device!r}; use auto, cpu, cuda, cuda:N, mps or meta"
        ) from None
    if resolved.type in ("cpu", "meta"):
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = (
                f"CUDA {torch.version.cuda}"
                if torch.version.cuda
                else "no CUDA support (a CPU build)"
            )
            raise ConfigError(
                f"device {str(resolved)!r}: no usable CUDA GPU here (torch {torch.__version__} "
                f"has {build}); use --device cpu, or install a CUDA build of torch (README: "
                "'Running on a GPU')"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ConfigError(
                f"device {str(resolved)!r}: this machine has {count} CUDA device(s), "
                f"numbered 0 to {count - 1}"
            )
        if resolved.index is None:  # the same key as the tensors made there report
            resolved = torch.device("cuda", torch.cuda.current_device())
        return resolved
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as error:
        raise ConfigError(f"device {str(resolved)!r} is not usable here: {error}") from None
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """``torch.float32`` for ``None``, else the floating dtype named (see :data:`DTYPES`).

    Raises:
        ConfigError: a name not in :data:`DTYPES`.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ConfigError(f"dtype {dtype} is not supported; use one of {sorted(DTYPES)}")
        return dtype
    name = str(dtype).strip().lower().removeprefix("torch.")
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPES)}")
    return DTYPES[name]


def move_tree(
    tree: Any, device: str | torch.device | None = None, dtype: torch.dtype | None = None
) -> Any:
    """A nested dict of tensors with every tensor on ``device`` (floating ones in ``dtype``).

    Integer and boolean tensors keep their dtype; non-tensor leaves are kept as they are; a
    tensor already in place is returned as is (no copy). ``None`` keeps either.
    """
    if isinstance(tree, Tensor):
        target = dtype if dtype is not None and tree.is_floating_point() else None
        return tree.to(device=device, dtype=target)
    if isinstance(tree, Mapping):
        return {key: move_tree(value, device, dtype) for key, value in tree.items()}
    return tree


def move_processors(processors: Any, device: str | torch.device) -> Any:
    """Move every processor's buffers to ``device`` (``nn.Module.to``, in place); returns them.

    Only the device changes: processors compute in their input's dtype and keep design buffers
    (float64 filter prototypes, say) in the dtype they chose.
    """
    values = processors.values() if hasattr(processors, "values") else processors
    for processor in values:
        if hasattr(processor, "to"):
            processor.to(device)
    return processors


def describe_device(device: torch.device) -> str:
    """A one-line name for logs: ``"cuda:0 (NVIDIA H100 80GB HBM3)"``, ``"cpu (4 threads)"``."""
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
