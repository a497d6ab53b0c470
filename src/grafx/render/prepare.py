r"""``prepare_render``: turn a scheduled graph into a render plan (no audio).

The plan lists, per step, the node type, what each inlet reads and how it aggregates, which
parameter rows the step uses and which buffer rows it writes. It is built in time linear in
nodes plus edges (up to a sort), on CPU, so data-loader workers can build plans while the
accelerator renders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from grafx.errors import RenderError
from grafx.render.order.compute import compute_render_order
from grafx.render.order.structure import GraphStructure, as_tensor_graph
from grafx.render.plan import (
    Aggregation,
    InletRead,
    Piece,
    StepPlan,
    make_access,
)


def graph_fingerprint(G_t: Any) -> str:
    """A short digest of a tensor graph's node types, edges and ports."""
    digest = hashlib.blake2b(digest_size=8)
    for value in (G_t.node_types, G_t.edge_indices, G_t.edge_types):
        if value is not None:
            digest.update(np.ascontiguousarray(value.detach().cpu().numpy()).tobytes())
            digest.update(b"|")
    return digest.hexdigest()


@dataclass
class RenderData:
    r"""A render plan; ``print`` shows it as in the documentation.

    Attributes:
        method: scheduling method of the graph.
        num_nodes: ``V``.
        max_order: index of the last step.
        siso_only: whether the config is SISO only.
        steps: one :class:`~grafx.render.plan.StepPlan` per step (``iter_list`` is an alias).
        num_rows: buffer rows (one per outlet; one per ``out`` node).
        num_sources: number of ``in`` nodes, the sources the render needs.
        type_counts: nodes of each type, the first dimension every parameter tensor needs.
        last_use: for each step, the last step that reads its output (-1: none).
        fingerprint: digest of the graph (see :meth:`check_graph`).
    """

    method: str | None
    num_nodes: int
    max_order: int
    siso_only: bool
    steps: list[StepPlan]
    num_rows: int
    num_sources: int
    type_counts: dict[str, int]
    last_use: list[int]
    fingerprint: str
    _device_cache: dict = field(default_factory=dict, repr=False)

    @property
    def iter_list(self) -> list[StepPlan]:
        return self.steps

    def __str__(self) -> str:
        return "\n\n".join(str(step) for step in self.steps)

    __repr__ = __str__

    def check_graph(self, G: Any) -> None:
        """Raise :class:`RenderError` unless this plan was built for ``G``'s nodes and edges."""
        if graph_fingerprint(as_tensor_graph(G)) != self.fingerprint:
            raise RenderError("this render plan was prepared for a different graph")

    def release_after(self) -> list[list[int]]:
        """For each step, the earlier steps whose outputs nobody reads after it (not 0 or last)."""
        if "release" not in self._device_cache:
            release: list[list[int]] = [[] for _ in self.steps]
            for s, last in enumerate(self.last_use):
                if 0 < s < self.max_order:
                    release[max(last, s)].append(s)  # unread outputs go at once
            self._device_cache["release"] = release
        return self._device_cache["release"]

    def on(self, device: torch.device) -> list[StepPlan]:
        """The steps with every index tensor on ``device`` (cached per device)."""
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = [_step_to(step, device) for step in self.steps]
        return self._device_cache[key]


def _move(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _step_to(step: StepPlan, device: torch.device) -> StepPlan:
    from dataclasses import replace

    from grafx.render.plan import Access

    def access(a: Access) -> Access:
        return Access(a.method, _move(a.index, device))

    reads = [
        InletRead(
            access=r.access,
            pieces=[Piece(p.step, p.start, p.length, _move(p.index, device)) for p in r.pieces],
            reorder=_move(r.reorder, device),
            aggregation=Aggregation(
                r.aggregation.method, _move(r.aggregation.index, device), r.aggregation.num_nodes
            ),
        )
        for r in step.reads
    ]
    return replace(
        step,
        reads=reads,
        parameter_read=access(step.parameter_read),
        node_read=access(step.node_read),
    )


def _runs(steps: np.ndarray, local: np.ndarray) -> list[tuple[int, int]]:
    """Split positions into maximal runs from one step with consecutive local rows."""
    if steps.size == 0:
        return []
    breaks = np.flatnonzero((np.diff(steps) != 0) | (np.diff(local) != 1)) + 1
    bounds = np.concatenate([[0], breaks, [steps.size]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _pieces_by_run(steps: np.ndarray, local: np.ndarray) -> list[Piece]:
    return [Piece(int(steps[a]), int(local[a]), b - a) for a, b in _runs(steps, local)]


def _pieces_by_step(steps: np.ndarray, local: np.ndarray) -> list[Piece]:
    """One piece per source step (positions must be grouped by step)."""
    pieces = []
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(steps) != 0) + 1, [steps.size]])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = local[a:b]
        if b - a == 1 or bool((np.diff(rows) == 1).all()):
            pieces.append(Piece(int(steps[a]), int(rows[0]), b - a))
        else:
            pieces.append(Piece(int(steps[a]), index=torch.from_numpy(rows.copy())))
    return pieces


def _plan_inlet(src_rows, src_step, src_local, pos, num_nodes) -> InletRead:
    """Read plan of one inlet; the edges come sorted by (source step, source local row)."""
    num_edges = src_rows.size
    if num_edges == num_nodes:
        # One edge per node: read in node order and skip aggregation.
        if bool((pos == np.arange(num_nodes)).all()):
            pieces = _pieces_by_step(src_step, src_local)
            return InletRead(make_access(src_rows), pieces, None, Aggregation("none"))
        by_pos = np.argsort(pos, kind="stable")
        runs = _runs(src_step[by_pos], src_local[by_pos])
        grouped = _pieces_by_step(src_step, src_local)
        if len(runs) <= len(grouped):
            pieces = _pieces_by_run(src_step[by_pos], src_local[by_pos])
            return InletRead(make_access(src_rows[by_pos]), pieces, None, Aggregation("none"))
        reorder = torch.from_numpy(by_pos.copy())
        return InletRead(make_access(src_rows[by_pos]), grouped, reorder, Aggregation("none"))
    pieces = _pieces_by_step(src_step, src_local)
    if num_nodes == 1:
        return InletRead(make_access(src_rows), pieces, None, Aggregation("sum"))
    index = torch.from_numpy(pos.copy())
    return InletRead(make_access(src_rows), pieces, None, Aggregation("scatter", index, num_nodes))


def _checked_order(S: GraphStructure, G_t: Any) -> tuple[list[str], np.ndarray, str | None]:
    if G_t.rendering_orders is None or G_t.type_sequence is None:
        sequence, order = compute_render_order(G_t, method="beam")
        return list(sequence), order.cpu().numpy().astype(np.int64), "beam"
    order = G_t.rendering_orders.detach().cpu().numpy().astype(np.int64)
    sequence = [str(t) for t in G_t.type_sequence]
    problem = None
    if order.shape != (S.num_nodes,):
        problem = f"rendering_orders has shape {order.shape}, the graph has {S.num_nodes} nodes"
    elif order.min() < 0 or order.max() >= len(sequence):
        problem = f"steps must be in 0..{len(sequence) - 1} (type_sequence has {len(sequence)})"
    else:
        for t in sequence:
            if t not in S.config:
                raise RenderError(f"type_sequence names unknown type {t!r}")
        seq_ids = np.array([S.config.node_type_to_index[t] for t in sequence])
        wrong = np.flatnonzero(seq_ids[order] != S.types)
        late = np.flatnonzero(order[S.src] >= order[S.dst])
        counts = np.bincount(order, minlength=len(sequence))
        if wrong.size:
            problem = f"{S.describe(wrong[0])} is in a {sequence[order[wrong[0]]]!r} step"
        elif late.size:
            e = late[0]
            problem = f"{S.describe(S.dst[e])} renders before its input {S.describe(S.src[e])}"
        elif sequence[0] != "in" or sequence[-1] != "out" or "in" in sequence[1:]:
            problem = "the type sequence must start with all 'in' nodes and end with 'out'"
        elif "out" in sequence[:-1]:
            problem = "'out' nodes must all be in the last step"
        elif (counts == 0).any():
            problem = f"step {int(np.flatnonzero(counts == 0)[0])} has no node"
    if problem is not None:
        raise RenderError(f"the graph's rendering order does not fit it: {problem}")
    return sequence, order, G_t.rendering_order_method


def prepare_render(G: Any) -> RenderData:
    r"""Build the render plan of a scheduled graph.

    Args:
        G: a :class:`~grafx.data.tensor.GRAFXTensor`, best reordered with
            :func:`~grafx.render.reorder.reorder_for_fast_render` so that reads are slices.
            A graph with no ``rendering_orders`` is scheduled with ``"beam"`` here (without
            reordering); a ``GRAFX`` is converted first.

    Returns:
        A :class:`RenderData`. For each step: the node type; per inlet, the source read
        (``none``/``slice``/``index``) and aggregation (``none``/``sum``/``scatter``); the
        parameter read; the destination write.

    Raises:
        GraphError: the graph cannot be rendered (names the node).
        RenderError: its ``rendering_orders``/``type_sequence`` do not fit it.
    """
    G_t = as_tensor_graph(G)
    S = GraphStructure(G_t)
    sequence, order, method = _checked_order(S, G_t)
    V = S.num_nodes
    config = S.config
    num_steps = len(sequence)

    # Buffer rows: one per outlet, one for each out node.
    rows_per_node = S.num_outlets[S.types].copy()
    rows_per_node[S.types == S.out_type] = 1
    offset = np.concatenate([[0], np.cumsum(rows_per_node)])
    num_rows = int(offset[-1])

    # Nodes sorted by (step, row); position of each node inside its step.
    nodes_sorted = np.lexsort((np.arange(V), order))
    step_start = np.searchsorted(order[nodes_sorted], np.arange(num_steps + 1))
    pos_in_step = np.empty(V, dtype=np.int64)
    pos_in_step[nodes_sorted] = np.arange(V) - step_start[order[nodes_sorted]]
    # Rank of each node among nodes of its type (its parameter row).
    type_sorted = np.lexsort((np.arange(V), S.types))
    type_start = np.searchsorted(S.types[type_sorted], np.arange(len(config) + 1))
    per_type_index = np.empty(V, dtype=np.int64)
    per_type_index[type_sorted] = np.arange(V) - type_start[S.types[type_sorted]]
    # First local row (inside its step's output) of each node.
    node_rows_sorted = rows_per_node[nodes_sorted]
    local_sorted = np.concatenate([[0], np.cumsum(node_rows_sorted)])[:-1]
    local_sorted -= local_sorted[step_start[order[nodes_sorted]]]
    local_of_node = np.empty(V, dtype=np.int64)
    local_of_node[nodes_sorted] = local_sorted

    # Edges sorted by (dest step, inlet, source step, source local row).
    src_rows = offset[S.src] + S.outlet
    src_step = order[S.src]
    src_local = local_of_node[S.src] + S.outlet
    dst_step = order[S.dst]
    edge_sorted = np.lexsort((src_local, src_step, S.inlet, dst_step))
    key = dst_step[edge_sorted] * (S.num_inlets.max() + 1) + S.inlet[edge_sorted]
    last_use = [-1] * num_steps

    steps = []
    for i, node_type in enumerate(sequence):
        nodes = nodes_sorted[step_start[i] : step_start[i + 1]]
        n = nodes.size
        num_outlets = 1 if node_type == "out" else config.num_outlets[node_type]
        reads = []
        for k in range(config.num_inlets[node_type]):
            a, b = np.searchsorted(
                key, [i * (S.num_inlets.max() + 1) + k, i * (S.num_inlets.max() + 1) + k + 1]
            )
            edges = edge_sorted[a:b]
            read = _plan_inlet(
                src_rows[edges], src_step[edges], src_local[edges], pos_in_step[S.dst[edges]], n
            )
            reads.append(read)
            for piece in read.pieces:
                last_use[piece.step] = max(last_use[piece.step], i)
        dest = (offset[nodes][:, None] + np.arange(num_outlets)[None, :]).reshape(-1)
        steps.append(
            StepPlan(
                index=i,
                node_type=node_type,
                num_nodes=n,
                num_outlets=num_outlets,
                reads=reads,
                parameter_read=make_access(per_type_index[nodes]),
                dest_write=make_access(dest),
                node_read=make_access(nodes),
            )
        )
    type_counts = {t: int(c) for t, c in zip(config.node_types, np.diff(type_start), strict=True)}
    return RenderData(
        method=method,
        num_nodes=V,
        max_order=num_steps - 1,
        siso_only=config.siso_only,
        steps=steps,
        num_rows=num_rows,
        num_sources=type_counts["in"],
        type_counts=type_counts,
        last_use=last_use,
        fingerprint=graph_fingerprint(G_t),
    )
