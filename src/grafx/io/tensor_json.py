r"""Tensors and nested dicts of tensors as JSON values, inline or in a safetensors side file.

A value is one of::

    {"kind": "tensor", "dtype": "float32", "shape": [3, 2], "data": [...]}   # inline
    {"kind": "tensor", "dtype": "float32", "shape": [3, 2], "key": "t0"}     # in the side file
    {"kind": "dict", "items": {name: value}}
    {"kind": "number", "value": 0.5}                                          # where allowed

Inline ``data`` is flat, row-major; non-finite floats are the strings ``"nan"``, ``"inf"`` and
``"-inf"``. Floats are written with Python's shortest round-trip repr, so every dtype round-trips
bit for bit. Decoding only ever builds tensors from checked lists of numbers, or reads a
safetensors file (a format that cannot execute code).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from grafx.errors import ParameterError

MAX_DEPTH = 32
MAX_NDIM = 16
DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float64",
        "float32",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "bool",
    )
}
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _non_finite_name(value: float) -> str:
    return "nan" if value != value else repr(value)


def tensor_leaves(value: Any, where: str):
    """Yield ``(where, tensor)`` for every tensor (or array) in a nested mapping."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, np.ndarray):
        yield where, torch.from_numpy(value)
    elif isinstance(value, Mapping) or hasattr(value, "items"):
        for key, item in value.items():
            yield from tensor_leaves(item, f"{where}[{key!r}]")


class TensorEncoder:
    """Turns tensors, arrays, numbers and (nested) mappings into JSON values.

    Args:
        side_file: put tensor data in :attr:`tensors` (for a safetensors file) instead of inline.
    """

    def __init__(self, side_file: bool = False):
        self.side_file = side_file
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, tensor: torch.Tensor, where: str) -> dict:
        tensor = tensor.detach().cpu()
        if tensor.dtype not in _DTYPE_NAMES:
            raise ParameterError(f"{where}: dtype {tensor.dtype} cannot be stored in a graph file")
        entry = {"kind": "tensor", "dtype": _DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape)}
        if self.side_file:
            key = f"t{len(self.tensors)}"
            self.tensors[key] = tensor.clone().contiguous()  # safetensors refuses shared storage
            entry["key"] = key
            return entry
        data = tensor.reshape(-1).tolist()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            data = [v if math.isfinite(v) else _non_finite_name(v) for v in data]
        entry["data"] = data
        return entry

    def encode(self, value: Any, where: str, numbers: bool = False, depth: int = 0) -> dict:
        """JSON value for ``value``; ``numbers`` allows plain ints and floats."""
        if depth > MAX_DEPTH:
            raise ParameterError(f"{where}: parameters nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if isinstance(value, torch.Tensor):
            return self.tensor(value, where)
        if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value if math.isfinite(value) else _non_finite_name(value)
            return {"kind": "number", "value": number}
        if isinstance(value, Mapping) or hasattr(value, "items"):
            items = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ParameterError(f"{where}: key {key!r} is not a string")
                items[key] = self.encode(item, f"{where}[{key!r}]", numbers, depth + 1)
            return {"kind": "dict", "items": items}
        raise ParameterError(
            f"{where}: cannot store a {type(value).__name__} in a graph file; use tensors or dicts"
        )


class TensorDecoder:
    """Checks JSON values and rebuilds tensors; every problem goes through ``fail``.

    Args:
        fail: builds the exception to raise from a problem description (it names the file).
        side_tensors: loads the side file's tensors on first use, or ``None`` if there is none.
    """

    def __init__(
        self,
        fail: Callable[[str], Exception],
        side_tensors: Callable[[], Mapping[str, torch.Tensor]] | None = None,
    ):
        self.fail = fail
        self._side_tensors = side_tensors
        self._loaded: Mapping[str, torch.Tensor] | None = None

    def _get(self, item: Mapping, key: str, kinds: tuple, where: str) -> Any:
        if key not in item:
            raise self.fail(f"{where}: missing field {key!r}")
        value = item[key]
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(f"{where}: field {key!r} must be {names}, got {type(value).__name__}")
        return value

    def decode(self, item: Any, where: str, numbers: bool = False, depth: int = 0) -> Any:
        """Rebuild the value; ``numbers`` allows ``"number"`` entries."""
        if depth > MAX_DEPTH:
            raise self.fail(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if not isinstance(item, dict):
            raise self.fail(f"{where} must be an object, got {type(item).__name__}")
        kind = self._get(item, "kind", (str,), where)
        if kind == "dict":
            items = self._get(item, "items", (dict,), where)
            return {
                k: self.decode(v, f"{where}[{k!r}]", numbers, depth + 1) for k, v in items.items()
            }
        if kind == "number" and numbers:
            number = self._get(item, "value", (int, float, str), where)
            if isinstance(number, str):
                if number not in _NON_FINITE:
                    raise self.fail(f"{where}: {number!r} is not a number")
                return _NON_FINITE[number]
            return number
        if kind == "tensor":
            return self.tensor(item, where)
        raise self.fail(f"{where}: unknown kind {kind!r}")

    def tensor(self, item: Mapping, where: str) -> torch.Tensor:
        dtype_name = self._get(item, "dtype", (str,), where)
        if dtype_name not in DTYPES:
            raise self.fail(f"{where}: unsupported dtype {dtype_name!r}; allowed {list(DTYPES)}")
        dtype = DTYPES[dtype_name]
        shape = self._get(item, "shape", (list,), where)
        if len(shape) > MAX_NDIM or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise self.fail(f"{where}: shape {shape} is not a list of non-negative ints")
        if "key" in item:
            return self._side_tensor(self._get(item, "key", (str,), where), dtype, shape, where)
        data = self._get(item, "data", (list,), where)
        if len(data) != math.prod(shape):
            raise self.fail(f"{where}: {len(data)} values do not fill shape {shape}")
        if dtype == torch.bool:
            valid = all(isinstance(v, bool) for v in data)
        elif dtype.is_floating_point:
            valid = all(
                (isinstance(v, (int, float)) and not isinstance(v, bool))
                or (isinstance(v, str) and v in _NON_FINITE)
                for v in data
            )
            if valid:
                data = [_NON_FINITE[v] if isinstance(v, str) else v for v in data]
        else:
            valid = all(isinstance(v, int) and not isinstance(v, bool) for v in data)
        if not valid:
            raise self.fail(f"{where}: data holds values that are not {dtype_name}")
        try:
            return torch.tensor(data, dtype=dtype).reshape(shape)
        except (RuntimeError, OverflowError, ValueError, TypeError) as error:
            raise self.fail(f"{where}: cannot build the tensor: {error}") from None

    def _side_tensor(self, key: str, dtype: torch.dtype, shape: list, where: str) -> torch.Tensor:
        if self._side_tensors is None:
            raise self.fail(f"{where}: refers to tensor {key!r}, but the file names no tensor file")
        if self._loaded is None:
            self._loaded = self._side_tensors()
        if key not in self._loaded:
            raise self.fail(f"{where}: tensor {key!r} is missing from the tensor file")
        tensor = self._loaded[key]
        if tensor.dtype != dtype or list(tensor.shape) != shape:
            raise self.fail(
                f"{where}: tensor {key!r} in the tensor file is {tensor.dtype} "
                f"{list(tensor.shape)}, but the graph file says {dtype} {shape}"
            )
        return tensor
