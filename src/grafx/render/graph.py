r"""``render_grafx``: run a render plan on sources, processors and parameters.

Each step gathers its inputs from earlier steps' outputs (views where the plan allows), sums
them per node, calls the step's processor once on the whole batch of nodes, and keeps the result
as the step's output tensor. Step outputs are never written in place, so autograd needs no
clones, and an output is released as soon as its last reader has run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from grafx.automation.expand import expand_curves
from grafx.data.configs import UTILITY_TYPES
from grafx.errors import ParameterError, RenderError
from grafx.processors.blackbox import BlackBox
from grafx.processors.core.drywet import (
    DRYWET_KEY,
    EDGE_GATE_KEY,
    drywet_blend,
    row_dots,
)
from grafx.render.edges import EdgeWeights
from grafx.render.edges import edge_weights as edge_weights_of
from grafx.render.plan import Access, InletRead, StepPlan
from grafx.render.prepare import RenderData

if TYPE_CHECKING:
    from grafx.automation.timeline import Timeline


class Intermediates(list):
    """Extras returned by processors: one dict per processor call that returned extras.

    It is a list in step order, like the reference's, with the node type and step index of each
    entry attached in :attr:`node_types` and :attr:`steps`; :meth:`by_type` groups the entries.
    """

    def __init__(self) -> None:
        super().__init__()
        self.node_types: list[str] = []
        self.steps: list[int] = []

    def add(self, node_type: str, step: int, extras: Mapping) -> None:
        self.append(dict(extras))
        self.node_types.append(node_type)
        self.steps.append(step)

    def by_type(self) -> dict[str, list[dict]]:
        """``{node_type: [extras of each step of that type, in order]}``."""
        grouped: dict[str, list[dict]] = {}
        for node_type, extras in zip(self.node_types, self, strict=True):
            grouped.setdefault(node_type, []).append(extras)
        return grouped


def _is_tree(value: Any) -> bool:
    return isinstance(value, (Mapping, nn.ModuleDict, nn.ParameterDict))


def _check_tree(
    value: Any, node_type: str, path: str, count: int, device: torch.device | None = None
) -> None:
    if isinstance(value, Tensor):
        if value.ndim == 0 or value.shape[0] != count:
            raise ParameterError(
                f"parameter {path or '<tensor>'!r} of type {node_type!r} has shape "
                f"{tuple(value.shape)}; its "
                f"first dimension must be the number of {node_type!r} nodes, {count}"
            )
        if device is not None and value.device != device:
            raise ParameterError(
                f"parameter {path or '<tensor>'!r} of type {node_type!r} is on {value.device} "
                f"but the sources are on {device}; move the parameters there first (e.g. "
                "grafx.device.move_tree)"
            )
    elif _is_tree(value):
        for key, item in value.items():
            _check_tree(item, node_type, f"{path}/{key}" if path else str(key), count, device)
    else:
        raise ParameterError(
            f"parameter {path or node_type!r} of type {node_type!r} is a "
            f"{type(value).__name__}, not a tensor or a dict of tensors"
        )


def read_rows(x: Tensor, access: Access, dim: int) -> Tensor:
    """The rows of ``x`` along ``dim`` that ``access`` names: a view for a slice."""
    if access.method == "slice":
        start, stop = access.index
        return x.narrow(dim, start, stop - start)
    if access.method == "index":
        return x.index_select(dim, cast(Tensor, access.index))
    return x.narrow(dim, 0, 0)


def _read_tree(value: Any, access: Access, batch: int | None, detach: bool) -> Any:
    if isinstance(value, Tensor):
        rows = read_rows(value, access, 0)
        if detach:
            rows = rows.detach()
        if batch is not None:
            rows = rows.unsqueeze(0).expand(batch, *rows.shape).reshape(-1, *rows.shape[1:])
        return rows
    return {k: _read_tree(v, access, batch, detach) for k, v in value.items()}


def _match_channels(parts: list[Tensor], node_type: str) -> list[Tensor]:
    """Broadcast mono parts to the widest channel count among them."""
    channels = {p.shape[-2] for p in parts}
    if len(channels) == 1:
        return parts
    widest = max(channels)
    if channels - {1, widest}:
        raise RenderError(
            f"type {node_type!r}: inputs with {sorted(channels)} channels cannot be combined"
        )
    return [
        p if p.shape[-2] == widest else p.expand(*p.shape[:-2], widest, p.shape[-1]) for p in parts
    ]


def _read_pieces(outputs: list, pieces: list, dim: int) -> tuple[list[Tensor], bool]:
    """The pieces' tensors, and whether any of them is a fresh copy (not a view)."""
    parts, fresh = [], False
    for piece in pieces:
        x = outputs[piece.step]
        if piece.index is None:
            parts.append(
                x if piece.length == x.shape[dim] else x.narrow(dim, piece.start, piece.length)
            )
        else:
            parts.append(x.index_select(dim, piece.index))
            fresh = True
    return parts, fresh


def _concat(parts: list[Tensor], dim: int, node_type: str) -> tuple[Tensor, bool]:
    if len(parts) == 1:
        return parts[0], False
    return torch.cat(_match_channels(parts, node_type), dim), True


def _scale_rows(x: Tensor, weights: Tensor, dim: int) -> Tensor:
    """``x`` with row ``i`` along ``dim`` multiplied by ``weights[i]``: one weight per row
    ``(n,)``, or one per row and sample ``(n, L)`` (automated edge gates)."""
    if weights.ndim == 2:
        shape = [1] * x.ndim
        shape[dim], shape[-1] = weights.shape
        return x * weights.reshape(shape)
    if dim == 0 and x.ndim == 3 and torch.is_grad_enabled() and weights.requires_grad:
        return _ScaleRows.apply(x, weights)
    shape = [1] * x.ndim
    shape[dim] = -1
    return x * weights.reshape(shape)


def _per_sample(weights: Tensor, length: int) -> Tensor:
    """Weights ``(n,)`` or ``(n, L)`` as ``(n, L)`` (a view for ``(n,)``)."""
    return weights if weights.ndim == 2 else weights[:, None].expand(-1, length)


class _ScaleRows(torch.autograd.Function):
    """``x * weights[:, None, None]`` whose weight gradient is one dot product per row.

    Autograd's product would write ``grad * x`` in full before summing it per row.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(x, weights)
        return x * weights.reshape(-1, 1, 1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, weights = ctx.saved_tensors
        grad_x = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * weights.reshape(-1, 1, 1)
        if ctx.needs_input_grad[1]:
            grad_weights = row_dots(grad, x)
        return grad_x, grad_weights


def _split_weights(weights: Tensor, parts: list[Tensor], dim: int) -> tuple[Tensor, ...]:
    return weights.split([p.shape[dim] for p in parts])


def _gather(
    outputs: list,
    read: InletRead,
    dim: int,
    node_type: str,
    edge_weights: Tensor | EdgeWeights | None = None,
) -> Tensor:
    """One inlet's input per node: the read rows, each scaled by its edge's weight if given."""
    parts, fresh = _read_pieces(outputs, read.pieces, dim)
    aggregation = read.aggregation
    weights = None if edge_weights is None else edge_weights[read.edges]
    if aggregation.method == "sum":
        # Sum each piece and add (mono broadcasts to stereo): no concatenated copy.
        if weights is not None:
            parts = [
                _scale_rows(p, w, dim)
                for p, w in zip(parts, _split_weights(weights, parts, dim), strict=True)
            ]
        total = parts[0].sum(dim, keepdim=True)
        for part in parts[1:]:
            total = total + part.sum(dim, keepdim=True)
        return total
    x, copied = _concat(parts, dim, node_type)
    fresh = fresh or copied
    if read.reorder is not None:
        x, fresh = x.index_select(dim, read.reorder), True
    if aggregation.method != "scatter":
        return x if weights is None else _scale_rows(x, weights, dim)
    extra, index = read.extra, aggregation.index
    assert extra is not None and index is not None  # a scatter has both (prepare_render)
    extra_parts, _ = _read_pieces(outputs, extra.pieces, dim)
    extra_weights = None if edge_weights is None else edge_weights[extra.edges]
    num_nodes = aggregation.num_nodes
    if num_nodes <= _MATMUL_SCATTER_MAX_NODES and (
        x.numel() * index.numel() <= _MATMUL_SCATTER_MAX_NUMEL * num_nodes
    ):
        rows, _ = _concat([x, *extra_parts], dim, node_type)
        if weights is not None and extra_weights is not None:
            # Scaled before the 0/1 product (not as the matrix's entries): the same sums,
            # rounded alike, for gates given per edge and per edge and sample.
            if weights.ndim != extra_weights.ndim:  # flat curves beside moving ones
                length = x.shape[-1]
                weights, extra_weights = (
                    _per_sample(weights, length),
                    _per_sample(extra_weights, length),
                )
            rows = _scale_rows(rows, torch.cat([weights, extra_weights]), dim)
        return _matmul_scatter(rows, index, num_nodes, dim)
    if weights is not None and extra_weights is not None:
        x, fresh = _scale_rows(x, weights, dim), True
        extra_parts = [
            _scale_rows(p, w, dim)
            for p, w in zip(
                extra_parts, _split_weights(extra_weights, extra_parts, dim), strict=True
            )
        ]
    # Add each extra piece straight into the base rows (a copy of them unless already fresh).
    channels = max(p.shape[-2] for p in [x, *extra_parts])
    if x.shape[-2] != channels:
        x, fresh = x.expand(*x.shape[:-2], channels, x.shape[-1]), False
    for part, piece_index in zip(extra_parts, extra.piece_index, strict=True):
        if part.shape[-2] != channels:
            part = part.expand(*part.shape[:-2], channels, part.shape[-1])
        if fresh:
            x.index_add_(dim, piece_index, part)
        else:
            x, fresh = x.index_add(dim, piece_index, part), True
    return x


# Small scatter-sums are a 0/1 matrix product: CPU index_add with several threads costs
# milliseconds even on tiny inputs, while a small GEMM costs microseconds. Large ones add the
# extra rows into the base rows with index_add, reading each row once.
_MATMUL_SCATTER_MAX_NODES = 16
_MATMUL_SCATTER_MAX_NUMEL = 1 << 18


def _matmul_scatter(x: Tensor, index: Tensor, num_nodes: int, dim: int) -> Tensor:
    """Sum the rows of ``x`` along ``dim`` into ``num_nodes`` rows: row ``e`` into ``index[e]``."""
    num_rows = x.shape[dim]
    columns = torch.arange(num_rows, device=x.device)
    matrix = x.new_zeros(num_nodes, num_rows)
    matrix[index, columns] = 1
    flat = x.reshape(*x.shape[:dim], num_rows, -1)
    return torch.matmul(matrix, flat).reshape(*x.shape[:dim], num_nodes, *x.shape[dim + 1 :])


def _split_result(result: Any, step: StepPlan) -> tuple[list[Tensor], Mapping | None]:
    extras = None
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        result, extras = result
    if isinstance(result, Tensor):
        outs = [result]
    elif isinstance(result, (list, tuple)) and all(isinstance(r, Tensor) for r in result):
        outs = list(result)
    else:
        raise RenderError(
            f"the {step.node_type!r} processor returned a {type(result).__name__}; expected a "
            f"tensor, a list of tensors (one per outlet) or (signals, extras dict)"
        )
    if len(outs) != step.num_outlets and step.num_outlets > 0:
        raise RenderError(
            f"the {step.node_type!r} processor returned {len(outs)} signal(s) for "
            f"{step.num_outlets} outlet(s)"
        )
    return outs, extras


def _stack_outlets(outs: list[Tensor], step: StepPlan, batch: int | None) -> Tensor:
    expected = step.num_nodes * (batch or 1)
    for out in outs:
        if out.ndim != 3 or out.shape[0] != expected:
            raise RenderError(
                f"the {step.node_type!r} processor returned shape {tuple(out.shape)}; expected "
                f"({expected}, C, L) for {step.num_nodes} node(s)"
            )
    if batch is not None:
        outs = [o.reshape(batch, step.num_nodes, *o.shape[1:]) for o in outs]
    if len(outs) == 1:
        return outs[0]
    outs = _match_channels(outs, step.node_type)
    dim = 1 if batch is None else 2
    stacked = torch.stack(outs, dim)
    return stacked.flatten(dim - 1, dim)


def render_grafx(
    source: Tensor,
    processors: Mapping[str, nn.Module] | nn.ModuleDict,
    parameters: Mapping[str, Any] | None,
    render_data: RenderData,
    *,
    common_parameters: Any = None,
    parameters_grad: bool = True,
    input_signal_grad: bool | None = None,
    graph: Any = None,
    edge_gains: Tensor | None = None,
    timeline: Timeline | None = None,
) -> tuple[Tensor, Intermediates]:
    r"""Render a graph's output from its sources, processors and parameters.

    ::

        output, intermediates = render_grafx(source, processors, parameters, render_data)

    The original implementation's argument order, ``(processors, source, ...)``, is accepted too
    (the one tensor among the first two arguments is the source) and returns the same pair;
    :func:`grafx.compat.render_grafx` is the original's function itself (its keyword names,
    and the signal buffer as a third value).

    Args:
        source: ``(K, C, L)``, or ``(B, K, C, L)`` for ``B`` source sets rendered through the same
            graph and parameters; row ``k`` feeds the ``k``-th ``in`` node (graph batches:
            the sources of every graph, concatenated in graph order).
        processors: ``{type: nn.Module}`` (a dict or ``nn.ModuleDict``); ``in``, ``out`` and
            ``mix`` need none (they pass on the sum of their inputs).
        parameters: ``{type: tensor or nested dict of tensors}`` (dicts, ``nn.ParameterDict``,
            ``nn.ModuleDict``); every tensor is ``(N_t, ...)``, row ``n`` for the ``n``-th
            ``t``-node in row order. A bare tensor is passed as the keyword ``parameter``.
            A type whose dict holds the reserved key ``drywet_weight`` ``(N_t, 1)`` has *node
            gates*: the engine takes that key off before calling the processor and returns
            :math:`w\,f(u) + (1 - w)\,u`, :math:`w = \sigma(\omega)`, per node (outlet
            ``k`` blended with inlet ``k``; see :mod:`grafx.gates`). A processor whose
            ``parameter_size()`` lists ``drywet_weight`` itself (``DryWet(...,
            external_param=False)``) receives it and applies the same blend.
            The reserved top-level key ``edge_gate``, ``(E, 1)`` (row ``e`` for column ``e`` of
            the planned graph's ``edge_indices``), holds *edge gates*: edge ``e`` carries
            :math:`\sigma(\omega_e)` times its source's signal into its destination's sum,
            applied while the inputs are gathered (the same gates for every row of a 4-D
            batch). :func:`~grafx.render.permute.permute_parameters` carries them to a
            reordered graph's edge order.
        render_data: the plan from :func:`~grafx.render.prepare.prepare_render`.
        common_parameters: a tensor or dict of tensors ``(V, ...)`` indexed by node row, passed
            to every processor call.
        parameters_grad: ``False`` detaches the parameters.
        input_signal_grad: ``False`` detaches the sources; by default gradients reach them when
            they require grad (the reference never let them through unless asked).
        graph: if given, check that ``render_data`` was prepared for it.
        edge_gains: linear gains ``(E,)`` (or ``(E, 1)``), one per column of the planned
            graph's ``edge_indices``: edge ``e`` carries ``edge_gains[e]`` times its source's
            signal (gradients flow to them; the same gains for every row of a 4-D batch). They
            replace the graph's own gains (``GRAFX.connect(..., gain=)``, kept in the plan),
            which apply when this is ``None``; edge gates, if any, multiply either. With
            ``timeline=``, they may be curves ``(E, K)`` instead, linear gains at the
            timeline's ``K`` knots, interpolated at every rendered sample (see Automation).

    Returns:
        ``output``, the ``out`` nodes' signals ``(N_out, C, L)`` or ``(B, N_out, C, L)`` in
        ``out``-row order; ``intermediates``, an :class:`Intermediates` list of the extras
        dicts processors returned (with ``(signals, extras)``), with the type and step of each.

    Processors get ``(n, C, L)`` inputs (``(B·n, C, L)`` batch-major for 4-D sources), one
    positional signal per inlet (a generator, a processor whose ``input_names`` is empty on a
    type with no inlet, gets the keyword ``num_samples`` = ``L`` instead), and return a
    tensor, a list of tensors (one per outlet), or either paired with an extras dict. They may change the channel count (mono to stereo):
    when mono and stereo signals meet at an inlet, mono is broadcast. The nodes of one render
    step are processed as one batch, so they share a channel count too: in a graph that mixes
    mono and stereo paths, a mono signal batched with stereo ones becomes dual mono (the same
    values in both channels), and whether that happens depends on the schedule. Use stereo
    sources (or a ``MonoToStereo`` node after each ``in``) when the output's channel count must
    not depend on it. Fan-in sums every incoming
    edge, parallel edges included. Unlike the reference, dtype follows the sources (float64
    stays float64), nothing is left uninitialised, and every input of every node is summed in
    every method.

    Raises:
        RenderError: sources of the wrong rank or count, a missing processor, a plan for another
            graph, a processor output of the wrong shape or number of outlets.
        ParameterError: a parameter tensor whose first dimension is not the node count (the
            message names the type and key), a parameter for an unknown type, or a gate of
            the wrong shape, on a type without a processor or with unequal inlets and outlets,
            edge gates or gains that are not one per edge, gain curves without a timeline or
            with another number of knots, NaN or infinite gains.
        NotSupportedError: ``edge_gains`` of shape ``(B, E)`` (per batch row).

    Automation: with ``timeline=`` (a :class:`grafx.automation.Timeline`), a parameter that
    its processor lists in ``time_varying`` (and any node gate) may be a curve
    ``(N_t, *shape, K)``, its values at the timeline's ``K`` knots; the engine interpolates it
    to one value per rendered sample before the call (see :mod:`grafx.automation`). Curves on
    other parameters, or without a timeline, raise :class:`ParameterError`. The edge gates may
    be curves ``(E, 1, K)`` too (automated sends): each edge's gate per sample; and so may
    ``edge_gains``, ``(E, K)``. An edge curve is interpolated only when the inlet that reads
    its edge is gathered, for that inlet's edges (:mod:`grafx.render.edges`), and a flat one
    renders bit for bit like the static value.
    """
    if isinstance(processors, Tensor) and not isinstance(source, Tensor):
        source, processors = processors, source  # the original implementation's order
    output, intermediates, _ = _render(
        source,
        processors,
        parameters,
        render_data,
        common_parameters=common_parameters,
        parameters_grad=parameters_grad,
        input_signal_grad=input_signal_grad,
        graph=graph,
        edge_gains=edge_gains,
        timeline=timeline,
        keep_buffer=False,
    )
    return output, intermediates


def render_grafx_with_buffer(
    source: Tensor,
    processors: Mapping[str, nn.Module] | nn.ModuleDict,
    parameters: Mapping[str, Any] | None,
    render_data: RenderData,
    *,
    common_parameters: Any = None,
    parameters_grad: bool = True,
    input_signal_grad: bool | None = None,
    graph: Any = None,
    edge_gains: Tensor | None = None,
    timeline: Timeline | None = None,
) -> tuple[Tensor, Intermediates, Tensor]:
    """:func:`render_grafx` that also returns the signal buffer, ``(output, intermediates,
    buffer)``.

    The buffer is ``(R, C, L)`` (or ``(B, R, C, L)``) with every outlet's signal in buffer-row
    order (one row per outlet; row ``v`` is node ``v``'s output for SISO graphs); mono rows are
    broadcast to the widest channel count. Every step's output is kept until the end, so this
    takes more memory than :func:`render_grafx`. The arguments are :func:`render_grafx`'s.
    """
    output, intermediates, buffer = _render(
        source,
        processors,
        parameters,
        render_data,
        common_parameters=common_parameters,
        parameters_grad=parameters_grad,
        input_signal_grad=input_signal_grad,
        graph=graph,
        edge_gains=edge_gains,
        timeline=timeline,
        keep_buffer=True,
    )
    assert buffer is not None  # _render assembles it when keep_buffer is set
    return output, intermediates, buffer


def _render(
    source: Tensor,
    processors: Mapping[str, nn.Module] | nn.ModuleDict,
    parameters: Mapping[str, Any] | None,
    render_data: RenderData,
    *,
    common_parameters: Any,
    parameters_grad: bool,
    input_signal_grad: bool | None,
    graph: Any,
    edge_gains: Tensor | None,
    timeline: Timeline | None,
    keep_buffer: bool,
) -> tuple[Tensor, Intermediates, Tensor | None]:
    dim = _check_source(source, render_data, graph)
    if input_signal_grad is False:
        source = source.detach()
    parameters = {} if parameters is None else parameters
    _check_inputs(processors, parameters, render_data, source.device)
    curve_grids: dict = {}  # automation sample times, found once per render
    edge_weights = edge_weights_of(
        parameters,
        edge_gains,
        render_data,
        source,
        not parameters_grad,
        timeline,
        curve_grids,
    )
    if common_parameters is not None:
        _check_tree(common_parameters, "common", "", render_data.num_nodes, source.device)
    call = _StepCall(
        parameters=parameters,
        common_parameters=common_parameters,
        detach_parameters=not parameters_grad,
        batch=source.shape[0] if dim == 1 else None,
        length=source.shape[-1],
        gated=_gated_types(processors, parameters, render_data, curves=timeline is not None),
        timeline=timeline,
        curve_grids=curve_grids,
    )

    steps = render_data.on(source.device)
    outputs: list[Tensor | None] = [None] * len(steps)
    outputs[0] = source
    intermediates = Intermediates()
    release = render_data.release_after()
    for step in steps[1:]:
        node_type = step.node_type
        inputs = [_gather(outputs, read, dim, node_type, edge_weights) for read in step.reads]
        # nn.ModuleDict has no .get()
        processor = processors[node_type] if node_type in processors else None  # noqa: SIM401
        if processor is None:
            if len(inputs) != 1:
                raise RenderError(f"type {node_type!r} has no processor")
            outputs[step.index] = inputs[0]
        else:
            outputs[step.index] = call(step, processor, inputs, intermediates)
        # Drop this step's gathered inputs now, not when the next step rebinds the name: without
        # autograd (which keeps what it needs) they are freed before the next gather.
        inputs = []
        if not keep_buffer:
            for s in release[step.index]:
                outputs[s] = None
    output = outputs[-1]
    assert output is not None  # the last step is the out nodes' sum, never released
    buffer = _assemble_buffer(outputs, steps, dim) if keep_buffer else None
    return output, intermediates, buffer


def _check_source(source: Tensor, render_data: RenderData, graph: Any) -> int:
    """The node axis of the sources (0 for ``(K, C, L)``, 1 for ``(B, K, C, L)``), checked
    against the plan (and the plan against ``graph``, if given)."""
    if not isinstance(render_data, RenderData):
        raise RenderError(
            f"render_data must come from prepare_render, got {type(render_data).__name__}"
        )
    if graph is not None:
        render_data.check_graph(graph)
    if not isinstance(source, Tensor) or source.ndim not in (3, 4):
        shape = tuple(source.shape) if isinstance(source, Tensor) else type(source).__name__
        raise RenderError(
            f"source has shape {shape}; expected (K, C, L) or (B, K, C, L) with K = "
            f"{render_data.num_sources} 'in' nodes"
        )
    dim = source.ndim - 3
    if source.shape[dim] != render_data.num_sources:
        raise RenderError(
            f"source has {source.shape[dim]} signals (shape {tuple(source.shape)}) but the plan "
            f"was prepared for a graph with {render_data.num_sources} 'in' node(s)"
        )
    return dim


@dataclass
class _StepCall:
    """Calls one step's processor: its parameter rows, the keywords it needs, node gates."""

    parameters: Mapping[str, Any]
    common_parameters: Any
    detach_parameters: bool
    batch: int | None
    length: int
    gated: set[str]
    timeline: Timeline | None
    curve_grids: dict = field(default_factory=dict)  # automation sample times, found once
    no_chunks: set[int] = field(default_factory=set)  # processors that returned extras

    def __call__(
        self, step: StepPlan, processor: Any, inputs: list[Tensor], intermediates: Intermediates
    ) -> Tensor | None:
        node_type, batch = step.node_type, self.batch
        if batch is not None:
            inputs = [x.reshape(-1, *x.shape[2:]) for x in inputs]
        kwargs: dict[str, Any] = {}
        if node_type in self.parameters:
            value = self.parameters[node_type]
            read = _read_tree(value, step.parameter_read, batch, self.detach_parameters)
            kwargs = read if isinstance(read, dict) else {"parameter": read}
        if not step.reads and getattr(processor, "input_names", None) == ():
            kwargs["num_samples"] = self.length  # a generator renders the sources' length
        if self.common_parameters is not None:
            common = _read_tree(self.common_parameters, step.node_read, batch, False)
            kwargs.update(common if isinstance(common, dict) else {"common": common})
        if self.timeline is not None or getattr(processor, "time_varying", None):
            kwargs = expand_curves(
                node_type,
                processor,
                kwargs,
                self.timeline,
                self.length,
                node_type in self.gated,
                self.curve_grids,
            )
        gate = kwargs.pop(DRYWET_KEY) if node_type in self.gated else None
        checked = kwargs if gate is None else {**kwargs, DRYWET_KEY: gate}
        rows = _chunk_rows(processor, inputs, checked, self.no_chunks)
        if rows is None:
            outs, extras = self._run(step, processor, inputs, kwargs, gate)
        else:
            outs, extras = self._run_chunks(step, processor, inputs, kwargs, gate, rows)
        if extras is not None:
            intermediates.add(node_type, step.index, extras)
        return _stack_outlets(outs, step, batch) if step.num_outlets > 0 else None

    def _run(
        self, step: StepPlan, processor: Any, inputs: list[Tensor], kwargs: dict, gate: Any
    ) -> tuple[list[Tensor], Mapping | None]:
        """One processor call (and the node gate's blend) on the given rows."""
        outs, extras = _split_result(processor(*inputs, **kwargs), step)
        if gate is not None:
            owned = _owned_outputs(outs, inputs, kwargs, extras, processor)
            outs = [
                drywet_blend(o, u, gate, overwrite_wet=own)
                for o, u, own in zip(outs, inputs, owned, strict=True)
            ]
        return outs, extras

    def _run_chunks(
        self,
        step: StepPlan,
        processor: Any,
        inputs: list[Tensor],
        kwargs: dict,
        gate: Any,
        rows: int,
    ) -> tuple[list[Tensor], Mapping | None]:
        """The processor called on ``rows`` nodes at a time, outlets concatenated.

        Inputs and parameters are split into views (one gradient concatenation each in the
        backward), so every temporary a processor makes holds ``rows`` nodes' signals only.
        Extras are merged as the processor's ``chunked_extras`` (``{key: "sum" | "cat"}``)
        declares; a processor that returns any other extra is called again on the whole batch,
        and not chunked again in this render: its extras may describe the batch as a whole.
        """
        total = inputs[0].shape[0]
        sizes = [min(rows, total - start) for start in range(0, total, rows)]
        input_chunks = [x.split(sizes) for x in inputs]
        kwarg_chunks = _split_tree(kwargs, sizes)
        gate_chunks = None if gate is None else _split_tree(gate, sizes)
        reductions = getattr(processor, "chunked_extras", None) or {}
        pieces: list[list[Tensor]] = []
        extras_pieces: list[Mapping] = []
        for k in range(len(sizes)):
            outs, extras = self._run(
                step,
                processor,
                [chunks[k] for chunks in input_chunks],
                kwarg_chunks[k],
                None if gate_chunks is None else gate_chunks[k],
            )
            if extras is not None and not set(extras) <= set(reductions):
                self.no_chunks.add(id(processor))
                del pieces, outs
                return self._run(step, processor, inputs, kwargs, gate)
            pieces.append(outs)
            if extras is not None:
                extras_pieces.append(extras)
        outlets = [list(chunk) for chunk in zip(*pieces, strict=True)]
        merged = _merge_extras(extras_pieces, reductions) if extras_pieces else None
        return [torch.cat(_match_channels(o, step.node_type)) for o in outlets], merged


#: A step whose signals take more than this many bytes per inlet calls its processor on
#: chunks of nodes, each at most this size (at least one node): the processors' temporaries
#: (padded FFT buffers, spectra, envelopes, the tensors autograd saves) then stay a few times
#: this size however many tracks a step holds. They are reused from the heap instead of being
#: mapped and faulted in afresh per allocation (glibc maps blocks over 32 MiB), and each
#: chunk's working set is closer to the caches; time per node stays flat as graphs grow.
STEP_CHUNK_BYTES = 8 << 20


def _chunk_rows(
    processor: Any, inputs: list[Tensor], kwargs: Mapping, no_chunks: set[int]
) -> int | None:
    """Nodes per chunk for this call, or ``None`` to call the processor once on all of them.

    Only grafx's own processors are chunked, each node's output depending on that node's
    input and parameter rows alone (a container only if everything it wraps is one of them);
    never a black box (it parallelises across the whole batch itself), a user's module, or a
    processor that returned undeclared extras earlier in this render.
    """
    if not inputs or id(processor) in no_chunks or not _grafx_rowwise(processor):
        return None
    total = inputs[0].shape[0]
    row_bytes = max(x[:1].numel() * x.element_size() for x in inputs)
    if total < 2 or total * row_bytes <= STEP_CHUNK_BYTES:
        return None
    if any(x.shape[0] != total for x in inputs) or not _rows_match(kwargs, total):
        return None
    return max(1, STEP_CHUNK_BYTES // max(row_bytes, 1))


def _grafx_rowwise(processor: Any) -> bool:
    """Whether ``processor`` and every module inside it (a container's wrapped processors) are
    grafx processors other than black boxes."""
    modules = processor.modules() if isinstance(processor, nn.Module) else [processor]
    return all(
        isinstance(m, _HOLDERS)
        or (type(m).__module__.startswith("grafx.processors.") and not isinstance(m, BlackBox))
        for m in modules
    )


# torch modules that only hold others (each of which is checked itself)
_HOLDERS = (nn.ModuleDict, nn.ModuleList, nn.ParameterDict, nn.ParameterList)


def _merge_extras(pieces: list[Mapping], reductions: Mapping[str, str]) -> dict:
    """The chunks' extras as one dict: per key, the ``"sum"`` of the chunks' values or their
    ``"cat"`` (concatenation along the first dimension), as the processor declares."""
    merged: dict = {}
    for key in dict.fromkeys(k for piece in pieces for k in piece):
        values = [piece[key] for piece in pieces if key in piece]
        if reductions[key] == "sum":
            total = values[0]
            for value in values[1:]:
                total = total + value
            merged[key] = total
        else:
            merged[key] = torch.cat(values)
    return merged


def _rows_match(tree: Any, total: int) -> bool:
    """Whether every tensor in a nest of mappings has ``total`` rows (non-tensors: anything)."""
    if isinstance(tree, Tensor):
        return tree.ndim > 0 and tree.shape[0] == total
    if isinstance(tree, Mapping):
        return all(_rows_match(v, total) for v in tree.values())
    return not isinstance(tree, (list, tuple))


def _split_tree(tree: Any, sizes: list[int]) -> list[Any]:
    """``tree`` (tensors in nested mappings) split into row chunks of ``sizes``; other leaves
    are repeated."""
    if isinstance(tree, Tensor):
        return list(tree.split(sizes))
    if isinstance(tree, Mapping):
        split = {k: _split_tree(v, sizes) for k, v in tree.items()}
        return [{k: v[i] for k, v in split.items()} for i in range(len(sizes))]
    return [tree] * len(sizes)


def _storage_pointers(tree: Any, found: set[int]) -> set[int]:
    """Adds the storage addresses of the tensors in a nest of mappings and sequences."""
    if isinstance(tree, Tensor):
        found.add(tree.untyped_storage().data_ptr())
    elif isinstance(tree, Mapping):
        for value in tree.values():
            _storage_pointers(value, found)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            _storage_pointers(value, found)
    return found


def _owned_outputs(
    outs: list[Tensor],
    inputs: list[Tensor],
    kwargs: Mapping,
    extras: Mapping | None,
    processor: Any,
) -> list[bool]:
    """Per outlet, whether its signal's memory is the processor's fresh output, read by nothing
    the engine keeps: no storage shared with an input, another outlet, the processor's
    arguments, its intermediates or the tensors it (or a submodule) holds. Only then may the
    node gate's blend (without gradients) be written into it. Any gradient recorded: none."""
    if torch.is_grad_enabled() and any(o.requires_grad for o in outs):
        return [False] * len(outs)
    kept = _storage_pointers([inputs, kwargs, extras], set())
    # tensors the processor holds: parameters, buffers and plain attributes (caches)
    holders = processor.modules() if isinstance(processor, nn.Module) else [processor]
    for holder in holders:
        _storage_pointers(list(getattr(holder, "__dict__", {}).values()), kept)
    pointers = [o.untyped_storage().data_ptr() for o in outs]
    return [p not in kept and pointers.count(p) == 1 for p in pointers]


def _assemble_buffer(outputs: list, steps: list[StepPlan], dim: int) -> Tensor:
    parts: list[Tensor] = []
    row_parts: list[Tensor] = []
    for step, out in zip(steps, outputs, strict=True):
        if out is None or step.dest_write.method == "none":
            continue
        parts.append(out)
        a = step.dest_write
        if a.method == "slice":
            start, stop = cast(tuple[int, int], a.index)
            row_parts.append(torch.arange(start, stop))
        else:
            row_parts.append(cast(Tensor, a.index).cpu())
    buffer = torch.cat(_match_channels(parts, "buffer"), dim)
    rows = torch.cat(row_parts)
    if bool((rows[1:] > rows[:-1]).all()):
        return buffer
    return buffer.index_select(dim, torch.argsort(rows).to(buffer.device))


def _check_inputs(
    processors: Mapping | nn.ModuleDict,
    parameters: Mapping,
    render_data: RenderData,
    device: torch.device,
) -> None:
    if not isinstance(processors, (Mapping, nn.ModuleDict)):
        raise RenderError(f"processors must be a dict of modules, got {type(processors).__name__}")
    for step in render_data.steps[1:]:
        if step.node_type not in processors and step.node_type not in UTILITY_TYPES:
            raise RenderError(
                f"no processor for node type {step.node_type!r} (step {step.index}); "
                f"processors has {sorted(processors.keys())}"
            )
    for node_type, value in parameters.items():
        if node_type == EDGE_GATE_KEY:
            continue  # checked by _edge_weights
        if node_type not in render_data.type_counts:
            raise ParameterError(
                f"parameters for unknown node type {node_type!r}; the graph's config allows "
                f"{sorted(render_data.type_counts)}"
            )
        _check_tree(value, node_type, "", render_data.type_counts[node_type], device)


def _gated_types(
    processors: Mapping | nn.ModuleDict,
    parameters: Mapping,
    render_data: RenderData,
    curves: bool = False,
) -> set[str]:
    """Types whose dry/wet gate the engine applies (checked once per render); with ``curves``
    a gate may also be a curve ``(N_t, 1, K)``."""
    gated = set()
    for node_type, value in parameters.items():
        if node_type == EDGE_GATE_KEY or not _is_tree(value) or DRYWET_KEY not in value:
            continue
        if not render_data.type_counts.get(node_type):
            continue  # no node of this type (e.g. all pruned away): nothing to gate
        # nn.ModuleDict has no .get(); any module with parameter_size()
        processor: Any = processors[node_type] if node_type in processors else None  # noqa: SIM401
        if processor is None:
            raise ParameterError(
                f"type {node_type!r} has a {DRYWET_KEY!r} gate but no processor to gate"
            )
        if DRYWET_KEY in processor.parameter_size():
            continue  # e.g. DryWet(external_param=False): it blends by itself
        gate = value[DRYWET_KEY]
        count = render_data.type_counts[node_type]
        curve = curves and isinstance(gate, Tensor) and gate.ndim == 3
        if curve and tuple(gate.shape[:2]) == (count, 1):
            gated.add(node_type)
            continue
        if not isinstance(gate, Tensor) or tuple(gate.shape) not in ((count,), (count, 1)):
            shape = tuple(gate.shape) if isinstance(gate, Tensor) else type(gate).__name__
            raise ParameterError(
                f"gate {node_type}/{DRYWET_KEY} has shape {shape}; expected ({count}, 1), "
                f"one value per {node_type!r} node"
            )
        gated.add(node_type)
    for step in render_data.steps[1:]:
        if step.node_type in gated and len(step.reads) != step.num_outlets:
            raise ParameterError(
                f"type {step.node_type!r} has {len(step.reads)} inlet(s) and {step.num_outlets} "
                f"outlet(s); a {DRYWET_KEY!r} gate blends outlet k with inlet k, so it needs as "
                "many of each"
            )
    return gated
