r"""Graph files: a graph and its parameters as one versioned JSON document.

The document (``"format": "grafx-graph"``, ``"version": 3``) holds::

    config       [{"type": "in", "inlets": [], "outlets": ["main"]}, ...]  or null
    invalid_op   "error" | "warn" | "mute"
    counter      next free node id (a list of cumulative counts for a batched graph)
    batch        true for a batched graph
    nodes        [{"id": 0, "type": "out", "name": null}, ...]   (+ "parameters", "graph_id",
                 "original_id" when the node has them)
    edges        [{"source": 1, "dest": 0, "outlet": "main", "inlet": "main"}, ...]   (+ "gain"
                 when the edge has one)
    parameters   null, or {node type: value}
    processors   null, or {node type: {"processor": NAME, "args": {...}}} (version 2; see
                 :mod:`grafx.processors.spec`)
    tensor_file  null, or the name of a safetensors file beside it holding the tensor data
    sample_rate  null, or the rate in Hz the processors are built for (version 3): the rate
                 the graph was fitted at; :func:`grafx.io.load` rebuilds the processors for
                 another rate on request (:mod:`grafx.processors.core.rate`)
    automation   optional: the knot times of the parameters given as curves, ``{"knot_times":
                 [seconds, ...], "method": "linear" | "cubic", "duration": seconds or null}``
                 (:meth:`grafx.automation.Timeline.to_dict`); absent when nothing is automated.
                 Knots are in seconds, so they mean the same at any render rate. The field is
                 optional within version 3: a file without it reads as before, and a reader
                 that ignores it refuses the curves (their shapes) rather than misrendering.

Values (tensors, nested dicts of them, and numbers in node parameters) are described in
:mod:`grafx.io.tensor_json`: inline by default, or in the side file with ``tensors="safetensors"``
(faster and smaller for large parameter sets). Every dtype round-trips bit for bit. Version 1
files (no ``processors``) still load; :func:`grafx.io.load` rebuilds the processors. Nothing is ever
evaluated or unpickled: the file is parsed as JSON, the side file by safetensors, and both are
checked field by field. Version 1 and 2 files have no ``sample_rate``: their rate is unknown.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from grafx.automation import Timeline
from grafx.data.configs import NodeConfigs
from grafx.data.conversion import convert_to_graph
from grafx.data.graph import GRAFX, INVALID_OPS
from grafx.data.rows import count_nodes_per_type
from grafx.data.tensor import GRAFXTensor
from grafx.errors import ConfigError, GraphError, GraphFileError, ParameterError
from grafx.io.files import read_bounded, write_file
from grafx.io.tensor_json import TensorDecoder, TensorEncoder, tensor_leaves
from grafx.processors.core.drywet import EDGE_GATE_KEY
from grafx.processors.core.rate import check_rate
from grafx.processors.spec import processor_spec

FORMAT = "grafx-graph"
VERSION = 3
#: Versions this grafx reads (1: no processor specs; 1 and 2: no sample rate).
READ_VERSIONS = (1, 2, 3)
MAX_FILE_BYTES = 256 * 2**20
MAX_TENSOR_FILE_BYTES = 4 * 2**30
MAX_ID = 2**53
MAX_NODES = 1_000_000
MAX_EDGES = 4_000_000
TENSOR_STORES = ("inline", "safetensors")


def _check_counts(G: GRAFX, parameters: Mapping, where: str, error: type) -> None:
    counts = count_nodes_per_type(G)
    allowed = G.config.node_types if G.config is not None else sorted(counts)
    for node_type, value in parameters.items():
        if node_type == EDGE_GATE_KEY:
            _check_edge_gates(G, value, where, error)
            continue
        if node_type not in allowed:
            raise error(f"{where}: parameters for unknown node type {node_type!r}; {allowed}")
        for key, tensor in tensor_leaves(value, f"parameters[{node_type!r}]"):
            if tensor.ndim == 0 or tensor.shape[0] != counts.get(node_type, 0):
                raise error(
                    f"{where}: {key} has shape {list(tensor.shape)}, but its first dimension must "
                    f"be the number of {node_type!r} nodes, {counts.get(node_type, 0)}"
                )


def _check_edge_gates(G: GRAFX, value: Any, where: str, error: type) -> None:
    count = G.number_of_edges()
    curve = isinstance(value, torch.Tensor) and value.ndim == 3 and value.shape[:2] == (count, 1)
    if curve:
        return  # automated (count, 1, K): the knots are checked against the timeline on load
    if not isinstance(value, torch.Tensor) or tuple(value.shape) not in ((count,), (count, 1)):
        shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise error(
            f"{where}: the edge gates {EDGE_GATE_KEY!r} have shape {shape}; expected "
            f"[{count}, 1], one per edge of the graph (or, automated, [{count}, 1, K])"
        )


def _specs(G: GRAFX, processors: Mapping, where: str) -> dict:
    used = {node_type for _, node_type in G.nodes(data="node_type")}
    allowed = G.config.node_types if G.config is not None else sorted(used)
    specs = {}
    for node_type, processor in processors.items():
        if node_type not in allowed:
            raise ConfigError(
                f"{where}: a processor for unknown node type {node_type!r}; {allowed}"
            )
        try:
            specs[str(node_type)] = processor_spec(processor, f"processors[{node_type!r}]")
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
    return specs


def _document(G: GRAFX, parameters: Mapping | None, encoder: TensorEncoder) -> dict:
    config = None
    if G.config is not None:
        config = [
            {"type": t, "inlets": spec["inlets"], "outlets": spec["outlets"]}
            for t, spec in G.config.node_type_dict.items()
        ]
    for node_id, node_type in G.nodes(data="node_type"):
        if not isinstance(node_id, int) or not isinstance(node_type, str):
            raise GraphError(f"node {node_id!r}: a graph file needs int ids and str node types")
    nodes = []
    for node_id in sorted(G.nodes):
        data = G.nodes[node_id]
        entry = {"id": node_id, "type": data.get("node_type"), "name": data.get("name")}
        if entry["name"] is not None and not isinstance(entry["name"], str):
            raise GraphError(f"node {node_id}: name {entry['name']!r} is not a string")
        if data.get("parameters") is not None:
            entry["parameters"] = encoder.encode(
                data["parameters"], f"node {node_id} parameters", numbers=True
            )
        for key in ("graph_id", "original_id"):
            if key in data:
                entry[key] = data[key]
        nodes.append(entry)
    edges = []
    for u, v, d in G.edges(data=True):
        edge = {
            "source": u,
            "dest": v,
            "outlet": d.get("outlet", "main"),
            "inlet": d.get("inlet", "main"),
        }
        if d.get("gain") is not None:
            edge["gain"] = float(d["gain"])
        edges.append(edge)
    encoded = None
    if parameters is not None:
        encoded = {
            str(t): encoder.encode(value, f"parameters[{t!r}]") for t, value in parameters.items()
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
    G: GRAFX | GRAFXTensor,
    path: str | os.PathLike,
    parameters: Mapping | None = None,
    tensors: str = "inline",
    processors: Mapping | None = None,
    sample_rate: float | None = None,
    timeline: Any = None,
) -> None:
    """Write a graph, and optionally its per-type parameters and processors, to a graph file.

    Each file is written to a temporary file beside its destination and then moved over it, so a
    crash never leaves a half-written file. Node names and node ``parameters`` attributes
    (tensors, numbers, arrays or dicts of them) are saved too; arrays come back as tensors.

    Args:
        G: the graph; a :class:`~grafx.data.tensor.GRAFXTensor` is converted with
            :func:`~grafx.data.conversion.convert_to_graph` first.
        path: file to write (``str`` or ``Path``), conventionally ``*.json``.
        parameters: ``{node type: tensor or (nested) dict of tensors}``, e.g. the output of
            ``create_empty_parameters``; the first dimension of each tensor is the number of nodes
            of that type.
        tensors: ``"inline"`` keeps all tensor data in the JSON document; ``"safetensors"``
            writes it to ``path`` with the suffix ``.safetensors`` (written first), which the
            document names.
        processors: ``{node type: processor}``; each is stored as a spec (its registered name
            and constructor arguments), so :func:`grafx.io.load` rebuilds it.
        sample_rate: the rate in Hz the processors are built for (the rate the parameters
            were fitted at); ``None`` records an unknown rate.
        timeline: the :class:`~grafx.automation.Timeline` of the parameters given as curves
            (``(N, *shape, K)``, ``K`` knots), written as the ``automation`` field (knot times
            in seconds, method, duration); ``None``: no automation.

    Raises:
        ConfigError: a processor that is not registered or whose arguments are not JSON, or a
            ``sample_rate`` that is not a positive number.
        ParameterError: a parameter that is not a tensor or dict, of an unsupported dtype, for a
            type the graph does not have, or with the wrong first dimension.
        GraphFileError: a file cannot be written.
    """
    if isinstance(G, GRAFXTensor):
        G = convert_to_graph(G)
    if not isinstance(G, GRAFX):
        raise GraphError(f"save_graph needs a GRAFX or GRAFXTensor, got {type(G).__name__}")
    if tensors not in TENSOR_STORES:
        raise GraphFileError(f"{path}: tensors must be one of {TENSOR_STORES}, got {tensors!r}")
    path = Path(path)
    if parameters is not None:
        _check_counts(G, parameters, str(path), ParameterError)
    specs = None if processors is None else _specs(G, processors, str(path))
    if sample_rate is not None:
        sample_rate = check_rate(str(path), sample_rate)
    encoder = TensorEncoder(side_file=tensors == "safetensors")
    document = _document(G, parameters, encoder)
    document["processors"] = specs
    document["sample_rate"] = sample_rate
    if timeline is not None:
        if not isinstance(timeline, Timeline):
            raise ParameterError(
                f"{path}: timeline must be a grafx.automation.Timeline, got "
                f"{type(timeline).__name__}"
            )
        document["automation"] = timeline.to_dict()
    if encoder.tensors:
        from safetensors.torch import save

        side = path.with_suffix(".safetensors")
        document["tensor_file"] = side.name
        data = save(encoder.tensors, metadata={"format": FORMAT})
        write_file(side, data)
    text = _dumps(document).encode("utf-8")
    write_file(path, text)


def _load_tensor_file(path: Path, fail) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = read_bounded(path, MAX_TENSOR_FILE_BYTES, f"tensor file {path.name}")
    except GraphFileError as error:
        raise fail(str(error).removeprefix(f"{path}: ")) from None
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as error:
        raise fail(f"tensor file {path.name} is not a valid safetensors file: {error}") from None


# ---------------------------------------------------------------------------------- decoding


class _Reader:
    """Checks one parsed document; every problem becomes a GraphFileError naming the file."""

    def __init__(self, path: Path):
        self.path = path
        self.decoder = TensorDecoder(self.fail)

    def tensor_file(self, document: Mapping) -> None:
        """Point the decoder at the side file named by the document, if any."""
        name = self.field(document, "tensor_file", (str,), "document", optional=True)
        if name is None:
            return
        if "\x00" in name or Path(name).name != name or name in ("", ".", ".."):
            raise self.fail(f"tensor_file {name!r} must be a file name beside the graph file")
        side = self.path.parent / name

        def load():
            return _load_tensor_file(side, self.fail)

        self.decoder = TensorDecoder(self.fail, load)

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

    def index(self, obj: Mapping, key: str, where: str) -> int:
        """A required node id (:meth:`integer` that is never ``None``)."""
        value = self.integer(obj, key, where)
        if value is None:
            raise self.fail(f"{where}: missing field {key!r}")
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

    def graph(self, document: Mapping) -> GRAFX:
        config = self.config(document)
        invalid_op = self.field(document, "invalid_op", (str,), "document", optional=True)
        if invalid_op is not None and invalid_op not in INVALID_OPS:
            raise self.fail(
                f"document: invalid_op must be one of {INVALID_OPS}, got {invalid_op!r}"
            )
        G = GRAFX(config=config)
        nodes = self.field(document, "nodes", (list,), "document")
        edges = self.field(document, "edges", (list,), "document")
        if len(nodes) > MAX_NODES or len(edges) > MAX_EDGES:
            raise self.fail(
                f"{len(nodes)} nodes and {len(edges)} edges is over the limit "
                f"({MAX_NODES} nodes, {MAX_EDGES} edges)"
            )
        for i, node in enumerate(nodes):
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
                parameters = self.decoder.decode(node["parameters"], f"{where} parameters", True)
            attrs = {"node_type": node_type, "parameters": parameters, "name": name}
            for key in ("graph_id", "original_id"):
                if key in node:
                    attrs[key] = self.integer(node, key, where)
            G.add_node(node_id, **attrs)
        for i, edge in enumerate(edges):
            where = f"edges[{i}]"
            if not isinstance(edge, dict):
                raise self.fail(f"{where} must be an object, got {type(edge).__name__}")
            source = self.index(edge, "source", where)
            dest = self.index(edge, "dest", where)
            outlet = self.field(edge, "outlet", (str,), where)
            inlet = self.field(edge, "inlet", (str,), where)
            gain = self.field(edge, "gain", (int, float), where, optional=True)
            for end, node_id in (("source", source), ("dest", dest)):
                if node_id not in G:
                    raise self.fail(f"{where}: {end} node {node_id} does not exist")
            try:
                G.connect(source, dest, outlet, inlet, gain=gain)
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
        # Compare without building range(top): a file may ask for a counter of 2**53.
        G.consecutive_ids = len(ids) == top and (not ids or (ids[0] == 0 and ids[-1] == top - 1))

    def processors(self, document: Mapping, G: GRAFX) -> dict | None:
        """The raw processor specs by node type (built by :func:`grafx.io.load`)."""
        specs = self.field(document, "processors", (dict,), "document", optional=True)
        if specs is None:
            return None
        allowed = G.config.node_types if G.config is not None else None
        for node_type in specs:
            if allowed is not None and node_type not in allowed:
                raise self.fail(f"processors: unknown node type {node_type!r}; {allowed}")
        return specs

    def sample_rate(self, document: Mapping) -> float | None:
        """The document's ``sample_rate``: ``None`` (unknown) or a positive, finite number."""
        value = document.get("sample_rate")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(
                f"document: sample_rate must be a positive number of Hz or null, got "
                f"{type(value).__name__} {value!r}"
            )
        if not math.isfinite(value) or value <= 0:
            raise self.fail(
                f"document: sample_rate must be a positive number of Hz or null, got {value!r}"
            )
        return float(value)

    def timeline(self, document: Mapping, sample_rate: float | None) -> Any:
        """The document's ``automation`` field as a Timeline, or ``None``."""
        data = document.get("automation")
        if data is None:
            return None

        try:
            return Timeline.from_dict(data, sample_rate or 44100.0, where="automation")
        except ParameterError as error:
            raise self.fail(str(error)) from None

    def parameters(self, document: Mapping, G: GRAFX) -> dict | None:
        encoded = self.field(document, "parameters", (dict,), "document", optional=True)
        if encoded is None:
            return None
        parameters = {t: self.decoder.decode(v, f"parameters[{t!r}]") for t, v in encoded.items()}
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
    G, parameters, _ = read_graph_file(path)
    return G, parameters


class GraphDocument(NamedTuple):
    """Everything :func:`read_graph_document` reads from a graph file."""

    graph: GRAFX
    parameters: dict | None
    specs: dict | None
    #: the rate the processors are built for, in Hz; ``None``: unknown (versions 1 and 2)
    sample_rate: float | None
    version: int
    #: the knots of the parameters given as curves (at the file's rate, or 44100 Hz when the
    #: file does not record one); ``None``: no automation
    timeline: Any = None


def read_graph_file(path: str | os.PathLike) -> tuple[GRAFX, dict | None, dict | None]:
    """:func:`load_graph` plus the file's raw processor specs (``None`` in a version 1 file)."""
    document = read_graph_document(path)
    return document.graph, document.parameters, document.specs


def read_graph_document(path: str | os.PathLike) -> GraphDocument:
    """A graph file's graph, parameters, raw processor specs, sample rate, version and
    automation timeline.

    Raises:
        GraphFileError: as :func:`load_graph`, a ``sample_rate`` that is not null or a
            positive number, and an ``automation`` field whose knots are not numbers, not
            increasing, negative or after its ``duration``, or with an unknown method.
    """
    path = Path(path)
    reader = _Reader(path)
    try:
        text = read_bounded(path, MAX_FILE_BYTES, "").decode("utf-8")
    except GraphFileError as error:
        raise reader.fail(str(error).removeprefix(f"{path}: ")) from None
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
    if "\\u" in text:  # an escape may encode a lone surrogate, which no output can print
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise reader.fail("a string holds a lone surrogate, not text") from None
    file_format = reader.field(document, "format", (str,), "document")
    if file_format != FORMAT:
        raise reader.fail(f"format is {file_format!r}, expected {FORMAT!r}")
    version = reader.field(document, "version", (int,), "document")
    if version not in READ_VERSIONS:
        raise reader.fail(
            f"unsupported version {version}; this grafx reads versions {list(READ_VERSIONS)} "
            "(a newer grafx wrote it?)"
        )
    sample_rate = reader.sample_rate(document) if version >= 3 else None
    reader.tensor_file(document)
    G = reader.graph(document)
    specs = reader.processors(document, G) if version >= 2 else None
    timeline = reader.timeline(document, sample_rate)
    parameters = reader.parameters(document, G)
    return GraphDocument(G, parameters, specs, sample_rate, version, timeline)
