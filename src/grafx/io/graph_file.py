r"""Graph files: a graph and its parameters as one versioned JSON document.

The document (``"format": "grafx-graph"``, ``"version": 1``) holds::

    config      [{"type": "in", "inlets": [], "outlets": ["main"]}, ...]  or null
    invalid_op  "error" | "warn" | "mute"
    counter     next free node id (a list of cumulative counts for a batched graph)
    batch       true for a batched graph
    nodes       [{"id": 0, "type": "out", "name": null}, ...]   (+ "parameters", "graph_id",
                "original_id" when the node has them)
    edges       [{"source": 1, "dest": 0, "outlet": "main", "inlet": "main"}, ...]
    parameters  null, or {node type: value}

A value is ``{"kind": "tensor", "dtype": "float32", "shape": [3, 2], "data": [...]}`` (``data``
flat in row-major order; ``"nan"``, ``"inf"``, ``"-inf"`` for non-finite floats), ``{"kind":
"dict", "items": {name: value}}`` or, for node parameters only, ``{"kind": "number", "value": x}``.
Floats are written with Python's shortest round-trip repr, so every dtype round-trips exactly.
Nothing is ever evaluated or unpickled; the file is only parsed as JSON and checked field by field.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grafx.data.configs import NodeConfigs
from grafx.data.conversion import convert_to_graph
from grafx.data.graph import GRAFX, INVALID_OPS
from grafx.data.tensor import GRAFXTensor
from grafx.errors import ConfigError, GraphError, GraphFileError, ParameterError

FORMAT = "grafx-graph"
VERSION = 1
MAX_FILE_BYTES = 256 * 2**20
MAX_DEPTH = 32
MAX_NDIM = 16
MAX_ID = 2**53

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


# ---------------------------------------------------------------------------------- encoding


def _encode_tensor(tensor: torch.Tensor, where: str) -> dict:
    tensor = tensor.detach().cpu()
    if tensor.dtype not in _DTYPE_NAMES:
        raise ParameterError(f"{where}: dtype {tensor.dtype} cannot be stored in a graph file")
    data = tensor.reshape(-1).tolist()
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        data = [v if math.isfinite(v) else ("nan" if v != v else repr(v)) for v in data]
    return {
        "kind": "tensor",
        "dtype": _DTYPE_NAMES[tensor.dtype],
        "shape": list(tensor.shape),
        "data": data,
    }


def _encode(value: Any, where: str, numbers: bool, depth: int = 0) -> dict:
    if depth > MAX_DEPTH:
        raise ParameterError(f"{where}: parameters nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, where)
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value if math.isfinite(value) else ("nan" if value != value else repr(value))
        return {"kind": "number", "value": number}
    if isinstance(value, Mapping) or hasattr(value, "items"):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParameterError(f"{where}: key {key!r} is not a string")
            items[key] = _encode(item, f"{where}[{key!r}]", numbers, depth + 1)
        return {"kind": "dict", "items": items}
    raise ParameterError(
        f"{where}: cannot store a {type(value).__name__} in a graph file; use tensors or dicts"
    )


def _check_counts(G: GRAFX, parameters: Mapping, where: str, error: type) -> None:
    counts: dict[str, int] = {}
    for _, node_type in G.nodes(data="node_type"):
        counts[node_type] = counts.get(node_type, 0) + 1
    allowed = G.config.node_types if G.config is not None else sorted(counts)
    for node_type, value in parameters.items():
        if node_type not in allowed:
            raise error(f"{where}: parameters for unknown node type {node_type!r}; {allowed}")
        for key, tensor in _leaves(value, f"parameters[{node_type!r}]"):
            if tensor.ndim == 0 or tensor.shape[0] != counts.get(node_type, 0):
                raise error(
                    f"{where}: {key} has shape {list(tensor.shape)}, but its first dimension must "
                    f"be the number of {node_type!r} nodes, {counts.get(node_type, 0)}"
                )


def _leaves(value: Any, where: str):
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, np.ndarray):
        yield where, torch.from_numpy(value)
    elif isinstance(value, Mapping) or hasattr(value, "items"):
        for key, item in value.items():
            yield from _leaves(item, f"{where}[{key!r}]")


def _document(G: GRAFX, parameters: Mapping | None) -> dict:
    config = None
    if G.config is not None:
        config = [
            {"type": t, "inlets": spec["inlets"], "outlets": spec["outlets"]}
            for t, spec in G.config.node_type_dict.items()
        ]
    nodes = []
    for node_id in sorted(G.nodes):
        data = G.nodes[node_id]
        entry = {"id": node_id, "type": data.get("node_type"), "name": data.get("name")}
        if data.get("parameters") is not None:
            entry["parameters"] = _encode(data["parameters"], f"node {node_id} parameters", True)
        for key in ("graph_id", "original_id"):
            if key in data:
                entry[key] = data[key]
        nodes.append(entry)
    edges = [
        {"source": u, "dest": v, "outlet": d.get("outlet", "main"), "inlet": d.get("inlet", "main")}
        for u, v, d in G.edges(data=True)
    ]
    encoded = None
    if parameters is not None:
        encoded = {
            str(t): _encode(value, f"parameters[{t!r}]", False) for t, value in parameters.items()
        }
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "invalid_op": G.invalid_op,
        "counter": G.counter,
        "batch": G.batch,
        "nodes": nodes,
        "edges": edges,
        "parameters": encoded,
    }


def _dumps(document: dict) -> str:
    # One line per config entry, node and edge: readable and diffable, yet compact for tensors.
    parts = []
    for key, value in document.items():
        text = json.dumps(value, allow_nan=False)
        if isinstance(value, list) and value and key != "counter":
            inner = ",\n".join("  " + json.dumps(item, allow_nan=False) for item in value)
            text = "[\n" + inner + "\n ]"
        parts.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def save_graph(
    G: GRAFX | GRAFXTensor, path: str | os.PathLike, parameters: Mapping | None = None
) -> None:
    """Write a graph, and optionally its per-type parameters, to a JSON graph file.

    The file is written to a temporary file beside ``path`` and then moved over it, so a crash
    never leaves a half-written file. Node names and node ``parameters`` attributes (tensors,
    numbers, arrays or dicts of them) are saved too; arrays come back as tensors.

    Args:
        G: the graph; a :class:`~grafx.data.tensor.GRAFXTensor` is converted with
            :func:`~grafx.data.conversion.convert_to_graph` first.
        path: file to write (``str`` or ``Path``), conventionally ``*.json``.
        parameters: ``{node type: tensor or (nested) dict of tensors}``, e.g. the output of
            ``create_empty_parameters``; the first dimension of each tensor is the number of nodes
            of that type.

    Raises:
        ParameterError: a parameter that is not a tensor or dict, of an unsupported dtype, for a
            type the graph does not have, or with the wrong first dimension.
        GraphFileError: the file cannot be written.
    """
    if isinstance(G, GRAFXTensor):
        G = convert_to_graph(G)
    if not isinstance(G, GRAFX):
        raise GraphError(f"save_graph needs a GRAFX or GRAFXTensor, got {type(G).__name__}")
    path = Path(path)
    if parameters is not None:
        _check_counts(G, parameters, str(path), ParameterError)
    text = _dumps(_document(G, parameters))
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise GraphFileError(f"{path}: cannot write: {error}") from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise GraphFileError(f"{path}: cannot write: {error}") from error
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------- decoding


class _Reader:
    """Checks one parsed document; every problem becomes a GraphFileError naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, problem: str) -> GraphFileError:
        return GraphFileError(f"{self.path}: {problem}")

    def field(self, obj: Mapping, key: str, kinds: tuple, where: str, optional: bool = False):
        if key not in obj:
            if optional:
                return None
            raise self.fail(f"{where}: missing field {key!r}")
        value = obj[key]
        if optional and value is None:
            return None
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(f"{where}: field {key!r} must be {names}, got {type(value).__name__}")
        return value

    def integer(self, obj: Mapping, key: str, where: str, optional: bool = False) -> int | None:
        value = self.field(obj, key, (int,), where, optional)
        if value is not None and not 0 <= value < MAX_ID:
            raise self.fail(f"{where}: field {key!r} must be between 0 and 2**53, got {value}")
        return value

    def config(self, document: Mapping) -> NodeConfigs | None:
        entries = self.field(document, "config", (list,), "document", optional=True)
        if entries is None:
            if "config" not in document:
                raise self.fail("document: missing field 'config'")
            return None
        spec = {}
        for i, entry in enumerate(entries):
            where = f"config[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(f"{where} must be an object, got {type(entry).__name__}")
            node_type = self.field(entry, "type", (str,), where)
            if node_type in spec:
                raise self.fail(f"{where}: node type {node_type!r} is listed twice")
            spec[node_type] = {
                "inlets": self.field(entry, "inlets", (list,), where),
                "outlets": self.field(entry, "outlets", (list,), where),
            }
        try:
            config = NodeConfigs(spec)
        except ConfigError as error:
            raise self.fail(f"config: {error}") from None
        if config.node_types != list(spec):
            raise self.fail(f"config: types must start with 'in', 'out', 'mix', got {list(spec)}")
        return config

    def value(self, item: Any, where: str, numbers: bool, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if not isinstance(item, dict):
            raise self.fail(f"{where} must be an object, got {type(item).__name__}")
        kind = self.field(item, "kind", (str,), where)
        if kind == "dict":
            items = self.field(item, "items", (dict,), where)
            return {
                k: self.value(v, f"{where}[{k!r}]", numbers, depth + 1) for k, v in items.items()
            }
        if kind == "number" and numbers:
            number = self.field(item, "value", (int, float, str), where)
            if isinstance(number, str):
                if number not in _NON_FINITE:
                    raise self.fail(f"{where}: {number!r} is not a number")
                return _NON_FINITE[number]
            return number
        if kind == "tensor":
            return self.tensor(item, where)
        raise self.fail(f"{where}: unknown kind {kind!r}")

    def tensor(self, item: Mapping, where: str) -> torch.Tensor:
        dtype_name = self.field(item, "dtype", (str,), where)
        if dtype_name not in DTYPES:
            raise self.fail(f"{where}: unsupported dtype {dtype_name!r}; allowed {list(DTYPES)}")
        dtype = DTYPES[dtype_name]
        shape = self.field(item, "shape", (list,), where)
        if len(shape) > MAX_NDIM or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise self.fail(f"{where}: shape {shape} is not a list of non-negative ints")
        data = self.field(item, "data", (list,), where)
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

    def graph(self, document: Mapping) -> GRAFX:
        config = self.config(document)
        invalid_op = self.field(document, "invalid_op", (str,), "document", optional=True)
        if invalid_op is not None and invalid_op not in INVALID_OPS:
            raise self.fail(
                f"document: invalid_op must be one of {INVALID_OPS}, got {invalid_op!r}"
            )
        G = GRAFX(config=config)
        for i, node in enumerate(self.field(document, "nodes", (list,), "document")):
            where = f"nodes[{i}]"
            if not isinstance(node, dict):
                raise self.fail(f"{where} must be an object, got {type(node).__name__}")
            node_id = self.integer(node, "id", where)
            node_type = self.field(node, "type", (str,), where)
            name = self.field(node, "name", (str,), where, optional=True)
            if node_id in G:
                raise self.fail(f"{where}: node id {node_id} is used twice")
            if config is not None and node_type not in config:
                raise self.fail(
                    f"{where}: node {node_id} has unknown node type {node_type!r}; "
                    f"the config allows {config.node_types}"
                )
            parameters = None
            if node.get("parameters") is not None:
                parameters = self.value(node["parameters"], f"{where} parameters", True)
            attrs = {"node_type": node_type, "parameters": parameters, "name": name}
            for key in ("graph_id", "original_id"):
                if key in node:
                    attrs[key] = self.integer(node, key, where)
            G.add_node(node_id, **attrs)
        for i, edge in enumerate(self.field(document, "edges", (list,), "document")):
            where = f"edges[{i}]"
            if not isinstance(edge, dict):
                raise self.fail(f"{where} must be an object, got {type(edge).__name__}")
            source = self.integer(edge, "source", where)
            dest = self.integer(edge, "dest", where)
            outlet = self.field(edge, "outlet", (str,), where)
            inlet = self.field(edge, "inlet", (str,), where)
            for end, node_id in (("source", source), ("dest", dest)):
                if node_id not in G:
                    raise self.fail(f"{where}: {end} node {node_id} does not exist")
            try:
                G.connect(source, dest, outlet, inlet)
            except GraphError as error:
                raise self.fail(f"{where}: {error}") from None
        self.finish(document, G)
        G.invalid_op = invalid_op or "error"
        return G

    def finish(self, document: Mapping, G: GRAFX) -> None:
        ids = sorted(G.nodes)
        batch = self.field(document, "batch", (bool,), "document", optional=True) or False
        counter = self.field(document, "counter", (int, list), "document", optional=True)
        if counter is None:
            counter = ids[-1] + 1 if ids else 0
        counts = counter if isinstance(counter, list) else [counter]
        if isinstance(counter, list) and not batch:
            raise self.fail("document: a list counter is only allowed with batch true")
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise self.fail(f"document: counter {counter} must hold ints")
        top = counts[-1] if counts else 0
        if not (ids[-1] if ids else -1) < top < MAX_ID:
            raise self.fail(f"document: counter {counter} is not above every node id")
        G.counter = counter
        G.batch = batch
        G.consecutive_ids = ids == list(range(top))

    def parameters(self, document: Mapping, G: GRAFX) -> dict | None:
        encoded = self.field(document, "parameters", (dict,), "document", optional=True)
        if encoded is None:
            return None
        parameters = {t: self.value(v, f"parameters[{t!r}]", False) for t, v in encoded.items()}
        _check_counts(G, parameters, str(self.path), GraphFileError)
        return parameters


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a graph file")


def _no_duplicates(pairs: list) -> dict:
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def load_graph(path: str | os.PathLike) -> tuple[GRAFX, dict | None]:
    """Read a graph file written by :func:`save_graph`.

    Args:
        path: the file (``str`` or ``Path``).

    Returns:
        ``(G, parameters)``: the graph, with the same ids, types, names, ports and edge order,
        and the per-type parameters (plain dicts of tensors), or ``None`` if the file has none.

    Raises:
        GraphFileError: the file is missing, larger than :data:`MAX_FILE_BYTES`, not JSON,
            truncated, of another format or version, or has a missing or mistyped field, an
            unknown node type, an edge to a missing node, an invalid edge, or parameters that do
            not fit the graph. The message names the file and the problem.
    """
    path = Path(path)
    reader = _Reader(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise reader.fail(f"{size} bytes is over the {MAX_FILE_BYTES}-byte limit")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise reader.fail(f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise reader.fail("not a UTF-8 text file") from None
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
        )
    except RecursionError:
        raise reader.fail("not a valid graph file: JSON nested too deeply") from None
    except ValueError as error:
        raise reader.fail(f"not valid JSON (truncated or corrupted?): {error}") from None
    if not isinstance(document, dict):
        raise reader.fail(f"expected a JSON object, got {type(document).__name__}")
    file_format = reader.field(document, "format", (str,), "document")
    if file_format != FORMAT:
        raise reader.fail(f"format is {file_format!r}, expected {FORMAT!r}")
    version = reader.field(document, "version", (int,), "document")
    if version != VERSION:
        raise reader.fail(f"unsupported version {version}; this grafx reads version {VERSION}")
    G = reader.graph(document)
    return G, reader.parameters(document, G)
