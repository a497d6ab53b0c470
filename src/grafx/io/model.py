r"""A graph file as a complete model: the graph, its processors and its parameters.

:func:`load` reads a graph file (:mod:`grafx.io.graph_file`), rebuilds each node type's
processor from its spec (:mod:`grafx.processors.spec`; only registered names, nothing imported
or unpickled) and checks the stored parameters against the processors. A file without specs
(version 1, or saved without ``processors``) gets the mixing console's processors for the
console's type names, as before.

The file's ``sample_rate`` (version 3) is the rate its processors are built for; ``load(path,
sample_rate=R)`` rebuilds them for ``R`` (the same sound, see
:mod:`grafx.processors.core.rate`) or raises naming the processor that cannot convert. Older
files do not record a rate: they load as saved, with a logged warning, and
``GraphModel.sample_rate`` is ``None``.

Example:
    >>> import tempfile, torch
    >>> from grafx.data import GRAFX, NodeConfigs
    >>> from grafx.processors import StereoGain
    >>> G = GRAFX(config=NodeConfigs(["gain"]))
    >>> _ = G.add_serial_chain(["in", "gain", "out"])
    >>> path = tempfile.mkdtemp() + "/G.json"
    >>> save_graph(G, path, {"gain": {"log_gain": torch.zeros(1, 2)}}, processors={"gain": StereoGain()})
    >>> model = load(path)
    >>> model.processors
    {'gain': StereoGain()}
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from torch import Tensor, nn

from grafx.automation.expand import static_ndim, time_varying_keys
from grafx.data.configs import UTILITY_TYPES
from grafx.data.graph import GRAFX
from grafx.data.rows import count_nodes_per_type
from grafx.errors import ConfigError, GraphFileError, ParameterError
from grafx.io.graph_file import read_graph_document, save_graph
from grafx.mixing.console import CONSOLE_TYPES
from grafx.processors.core.drywet import DRYWET_KEY, EDGE_GATE_KEY
from grafx.processors.core.rate import processors_at_sample_rate
from grafx.processors.core.validation import check_parameters
from grafx.processors.spec import build_processor

__all__ = ["GraphModel", "load", "save_graph"]

logger = logging.getLogger(__name__)


class _Model(NamedTuple):
    graph: GRAFX
    processors: dict[str, nn.Module]
    parameters: dict | None


class GraphModel(_Model):
    """What :func:`load` returns: ``(graph, processors, parameters)``, and ``sample_rate``, the
    rate in Hz the processors are built for (``None``: a file that does not record it), and
    ``timeline``, the :class:`~grafx.automation.Timeline` of the parameters given as curves
    (``None``: nothing is automated); pass ``timeline.at_rate(render_rate)`` to the render."""

    sample_rate: float | None = None
    timeline: Any = None


def processor_types(G: GRAFX) -> list[str]:
    """The processor types a graph uses (its node types without ``in``/``out``/``mix``)."""
    used = {node_type for _, node_type in G.nodes(data="node_type")}
    order = G.config.node_types if G.config is not None else sorted(used)
    return [t for t in order if t in used and t not in UTILITY_TYPES]


def load(path: str | os.PathLike, sample_rate: float | None = None) -> GraphModel:
    """Read a graph file and rebuild its processors.

    Args:
        path: the graph file.
        sample_rate: the rate to render at; when the file records another, the processors are
            rebuilt for it (:func:`~grafx.processors.core.rate.processors_at_sample_rate`).
            ``None``: as saved.

    Returns:
        ``GraphModel(graph, processors, parameters)``: ``processors`` is ``{type: module}`` for
        every processor type the graph uses; ``parameters`` is ``None`` when the file has none.
        Its ``sample_rate`` is the processors' rate (``None`` if the file does not say); its
        ``timeline`` is the file's automation (``None`` if it has none), at that rate.

    Raises:
        GraphFileError: as :func:`~grafx.io.graph_file.load_graph`, and for an empty graph, a
            spec naming an unknown processor (the message says how to register it), arguments a
            processor does not take or of the wrong type, a spec nested too deep or too large,
            a type with neither a spec nor a built-in processor, and parameters whose shapes
            disagree with ``parameter_size()`` or that hold NaN/Inf, a curve ``(N, *shape, K)``
            on a parameter its processor does not take as time-varying, a curve in a file
            without automation, or a curve whose ``K`` is not the number of knots, and an
            ``automation`` field with bad knots. Each message names the
            file, the node type and the key; a processor that cannot serve ``sample_rate``
            (a one-line message naming its node type and class).
    """
    document = read_graph_document(path)
    G, parameters, specs = document.graph, document.parameters, document.specs
    where = str(path)
    if G.number_of_nodes() == 0:
        raise GraphFileError(f"{where}: the graph is empty (no nodes)")
    processors = _processors(G, specs or {}, where)
    if parameters is not None:
        _check_parameters(G, processors, parameters, where, document.timeline)
    rate = document.sample_rate
    if rate is None:
        logger.warning(
            "%s: the graph file (version %d) does not record its sample rate; its processors "
            "are used as saved, at any rate",
            where,
            document.version,
        )
    elif sample_rate is not None and float(sample_rate) != rate:
        try:
            processors = processors_at_sample_rate(processors, sample_rate, f"{where}: processors")
        except ConfigError as error:
            raise GraphFileError(str(error)) from None
        rate = float(sample_rate)
    model = GraphModel(G, processors, parameters)
    model.sample_rate = rate
    timeline = document.timeline
    if timeline is not None and rate is not None and timeline.sample_rate != rate:
        timeline = timeline.at_rate(rate)
    model.timeline = timeline
    return model


def _processors(G: GRAFX, specs: Mapping[str, Any], where: str) -> dict[str, nn.Module]:
    processors = {}
    for node_type in processor_types(G):
        if node_type in specs:
            try:
                processors[node_type] = build_processor(
                    specs[node_type], f"{where}: processors[{node_type!r}]"
                )
            except ConfigError as error:
                raise GraphFileError(str(error)) from None
        elif node_type in CONSOLE_TYPES:
            processors[node_type] = CONSOLE_TYPES[node_type]()
        else:
            raise GraphFileError(
                f"{where}: no built-in processor for type {node_type!r} and no processor spec "
                f"in the file (the console's types are {sorted(CONSOLE_TYPES)}); save the file "
                "with save_graph(..., processors=...)"
            )
    return processors


def _check_parameters(
    G: GRAFX, processors: Mapping, parameters: Mapping, where: str, timeline: Any = None
) -> None:
    counts = count_nodes_per_type(G, processors)
    for node_type, processor in processors.items():
        size = processor.parameter_size()
        if node_type not in parameters:
            if size:
                raise GraphFileError(f"{where}: no parameters for node type {node_type!r}")
            continue
        value = parameters[node_type]
        if not isinstance(value, Mapping):
            raise GraphFileError(f"{where}: parameters[{node_type!r}] must be a dict of tensors")
        moving = set(time_varying_keys(processor))
        if DRYWET_KEY in value and DRYWET_KEY not in size:
            size = {**size, DRYWET_KEY: (1,)}  # a node gate (grafx.gates), applied by the engine
            moving.add(DRYWET_KEY)
        _check_curves(node_type, processor, value, size, moving, timeline, where)
        knots = timeline.num_knots if timeline is not None else None
        try:
            check_parameters(
                type(processor).__name__,
                counts[node_type],
                value,
                size,
                time_varying=dict.fromkeys(moving, knots) if knots is not None else (),
            )
        except ParameterError as error:
            raise GraphFileError(f"{where}: parameters[{node_type!r}]: {error}") from None
    _check_edge_curves(parameters.get(EDGE_GATE_KEY), timeline, where)
    for node_type, value in parameters.items():
        for key, tensor in _leaves(value):
            if not tensor.is_floating_point():
                continue
            if node_type == EDGE_GATE_KEY or key == DRYWET_KEY:
                bad = bool(tensor.isnan().any())  # a gate at +-inf is exactly 1 or 0
            else:
                bad = not bool(tensor.isfinite().all())
            if bad:
                what = "NaN" if bool(tensor.isnan().any()) else "Inf"
                raise GraphFileError(
                    f"{where}: parameters[{node_type!r}].{key} holds {what} values"
                )


def _check_curves(
    node_type: str,
    processor: nn.Module,
    value: Mapping,
    size: Mapping,
    moving: set,
    timeline: Any,
    where: str,
) -> None:
    """Refuse a curve on a parameter that cannot move, or any curve without automation."""
    for key, tensor in value.items():
        shape = size.get(key)
        if not isinstance(tensor, Tensor) or shape is None or isinstance(shape, Mapping):
            continue
        if tensor.ndim != static_ndim(shape) + 1:
            continue
        if key not in moving:
            raise GraphFileError(
                f"{where}: parameters[{node_type!r}].{key} is a curve (shape "
                f"{list(tensor.shape)}) but {type(processor).__name__} does not take it as "
                f"time-varying (time-varying parameters: {sorted(moving) or 'none'})"
            )
        if timeline is None:
            raise GraphFileError(
                f"{where}: parameters[{node_type!r}].{key} is a curve (shape "
                f"{list(tensor.shape)}) but the file has no 'automation' field (knot times)"
            )
        if tensor.shape[-1] != timeline.num_knots:
            raise GraphFileError(
                f"{where}: parameters[{node_type!r}].{key} is a curve of {tensor.shape[-1]} "
                f"values per row, but the file's automation has {timeline.num_knots} knots"
            )


def _check_edge_curves(gate: Any, timeline: Any, where: str) -> None:
    """Refuse edge-gate curves ``(E, 1, K)`` without automation or with the wrong ``K``."""
    if not isinstance(gate, Tensor) or gate.ndim != 3:
        return
    if timeline is None:
        raise GraphFileError(
            f"{where}: parameters[{EDGE_GATE_KEY!r}] are curves (shape {list(gate.shape)}) but "
            "the file has no 'automation' field (knot times)"
        )
    if gate.shape[-1] != timeline.num_knots:
        raise GraphFileError(
            f"{where}: parameters[{EDGE_GATE_KEY!r}] are curves of {gate.shape[-1]} values per "
            f"row, but the file's automation has {timeline.num_knots} knots"
        )


def _leaves(tree: Any, prefix: str = ""):
    if isinstance(tree, Tensor):
        yield prefix.rstrip("."), tree
        return
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}{key}.")
