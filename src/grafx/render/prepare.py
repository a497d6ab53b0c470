r"""``prepare_render``: turn a scheduled graph into a render plan (no audio).

The plan lists, per step, the node type, what each inlet reads and how it aggregates, which
parameter rows the step uses and which buffer rows it writes. It is built in time linear in
nodes plus edges (up to a sort), on CPU, so data-loader workers can build plans while the
accelerator renders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from grafx.errors import GraphError, RenderError
from grafx.render.order.compute import compute_render_order
from grafx.render.order.structure import GraphStructure, as_tensor_graph
from grafx.render.plan import Access, Aggregation, ExtraRead, InletRead, Piece, StepPlan


def graph_fingerprint(G_t: Any) -> str:
    """A short digest of a tensor graph's node types, edges, ports and edge gains."""
    digest = hashlib.blake2b(digest_size=8)
    gains = getattr(G_t, "edge_gains", None)
    for value in (G_t.node_types, G_t.edge_indices, G_t.edge_types, gains):
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
        num_edges: ``E``, the rows an edge gate needs.
        edge_gains: the graph's static edge gains ``(E,)`` (``GRAFXTensor.edge_gains``), or
            ``None``; the render scales edge ``e`` by ``edge_gains[e]`` unless it is given
            other gains.
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
    num_edges: int = 0
    edge_gains: torch.Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False)

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
        if "release" not in self._cache:
            release: list[list[int]] = [[] for _ in self.steps]
            for s, last in enumerate(self.last_use):
                if 0 < s < self.max_order:
                    release[max(last, s)].append(s)  # unread outputs go at once
            self._cache["release"] = release
        return self._cache["release"]

    def on(self, device: torch.device) -> list[StepPlan]:
        """The steps with every index tensor on ``device`` (cached per device)."""
        key = str(device)
        if key not in self._cache:
            self._cache[key] = [_step_to(step, device) for step in self.steps]
        return self._cache[key]


def _move(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, torch.Tensor) else value


def _step_to(step: StepPlan, device: torch.device) -> StepPlan:
    from dataclasses import replace

    def access(a: Access) -> Access:
        return Access(a.method, _move(a.index, device))

    def pieces(items: list[Piece]) -> list[Piece]:
        return [Piece(p.step, p.start, p.length, _move(p.index, device)) for p in items]

    reads = [
        InletRead(
            access=r.access,
            pieces=pieces(r.pieces),
            reorder=_move(r.reorder, device),
            aggregation=Aggregation(
                r.aggregation.method, _move(r.aggregation.index, device), r.aggregation.num_nodes
            ),
            extra=None
            if r.extra is None
            else ExtraRead(
                pieces(r.extra.pieces),
                _move(r.extra.index, device),
                [_move(i, device) for i in r.extra.piece_index],
                _move(r.extra.edges, device),
            ),
            edges=_move(r.edges, device),
        )
        for r in step.reads
    ]
    return replace(
        step,
        reads=reads,
        parameter_read=access(step.parameter_read),
        node_read=access(step.node_read),
    )


# The per-step helpers below work on Python lists: steps are usually small, and numpy's
# per-call overhead would dominate the plan time of long chains.


def _is_run(rows: list[int]) -> bool:
    if len(rows) <= 1:
        return True
    if rows[-1] - rows[0] != len(rows) - 1:
        return False
    return all(b - a == 1 for a, b in zip(rows, rows[1:], strict=False))


def _access(rows: list[int]) -> Access:
    """``none`` for no rows, ``slice`` for consecutive ascending rows, else ``index``."""
    if not rows:
        return Access("none", [])
    if _is_run(rows):
        return Access("slice", (rows[0], rows[-1] + 1))
    return Access("index", torch.tensor(rows, dtype=torch.long))


def _runs(steps: list[int], local: list[int]) -> list[tuple[int, int]]:
    """Split positions into maximal runs from one step with consecutive local rows."""
    bounds = [0]
    for e in range(1, len(steps)):
        if steps[e] != steps[e - 1] or local[e] != local[e - 1] + 1:
            bounds.append(e)
    bounds.append(len(steps))
    return list(zip(bounds[:-1], bounds[1:], strict=True)) if steps else []


def _pieces_by_run(steps: list[int], local: list[int]) -> list[Piece]:
    return [Piece(steps[a], local[a], b - a) for a, b in _runs(steps, local)]


def _step_bounds(steps: list[int]) -> list[int]:
    """Positions where the source step changes, with 0 and the length."""
    return [0, *(e for e in range(1, len(steps)) if steps[e] != steps[e - 1]), len(steps)]


def _pieces_by_step(steps: list[int], local: list[int]) -> list[Piece]:
    """One piece per run of positions from the same source step."""
    pieces = []
    bounds = _step_bounds(steps)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rows = local[a:b]
        if _is_run(rows):
            pieces.append(Piece(steps[a], rows[0], b - a))
        else:
            pieces.append(Piece(steps[a], index=torch.tensor(rows, dtype=torch.long)))
    return pieces


def _ids(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def _plan_inlet(src_rows, src_step, src_local, pos, num_nodes, edge_ids) -> InletRead:
    """Read plan of one inlet; the edges come sorted by (source step, source local row).

    ``edge_ids`` are the graph's numbers of these edges, recorded in the order the rows are
    aggregated (:attr:`~grafx.render.plan.InletRead.edges`).
    """
    if len(src_rows) == num_nodes:
        # One edge per node: read in node order and skip aggregation.
        if pos == list(range(num_nodes)):
            pieces = _pieces_by_step(src_step, src_local)
            return InletRead(
                _access(src_rows), pieces, None, Aggregation("none"), edges=_ids(edge_ids)
            )
        by_pos = sorted(range(num_nodes), key=pos.__getitem__)
        step_by_pos = [src_step[e] for e in by_pos]
        local_by_pos = [src_local[e] for e in by_pos]
        rows_by_pos = [src_rows[e] for e in by_pos]
        edges_by_pos = _ids([edge_ids[e] for e in by_pos])
        runs = _runs(step_by_pos, local_by_pos)
        grouped = _pieces_by_step(src_step, src_local)
        if len(runs) <= len(grouped):
            pieces = _pieces_by_run(step_by_pos, local_by_pos)
            return InletRead(
                _access(rows_by_pos), pieces, None, Aggregation("none"), edges=edges_by_pos
            )
        reorder = torch.tensor(by_pos, dtype=torch.long)
        return InletRead(
            _access(rows_by_pos), grouped, reorder, Aggregation("none"), edges=edges_by_pos
        )
    if num_nodes == 1:
        pieces = _pieces_by_step(src_step, src_local)
        return InletRead(_access(src_rows), pieces, None, Aggregation("sum"), edges=_ids(edge_ids))
    # Scatter: the first edge of each node (by source) forms the base, in node order; the
    # others are added into it.
    by_node = sorted(range(len(pos)), key=lambda e: (pos[e], src_step[e], src_local[e]))
    base: list[int] = []
    extra: list[int] = []
    seen: set[int] = set()
    for e in by_node:
        (extra if pos[e] in seen else base).append(e)
        seen.add(pos[e])
    base_read = _plan_inlet(
        [src_rows[e] for e in base],
        [src_step[e] for e in base],
        [src_local[e] for e in base],
        list(range(num_nodes)),
        num_nodes,
        [edge_ids[e] for e in base],
    )
    extra.sort(key=lambda e: (src_step[e], src_local[e]))
    extra_pos = [pos[e] for e in extra]
    extra_steps = [src_step[e] for e in extra]
    bounds = _step_bounds(extra_steps)
    extra_read = ExtraRead(
        _pieces_by_step(extra_steps, [src_local[e] for e in extra]),
        torch.tensor(extra_pos, dtype=torch.long),
        [
            torch.tensor(extra_pos[a:b], dtype=torch.long)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ],
        _ids([edge_ids[e] for e in extra]),
    )
    rows = [src_rows[e] for e in base] + [src_rows[e] for e in extra]
    index = torch.tensor(list(range(num_nodes)) + extra_pos, dtype=torch.long)
    return InletRead(
        _access(rows),
        base_read.pieces,
        base_read.reorder,
        Aggregation("scatter", index, num_nodes),
        extra_read,
        edges=base_read.edges,
    )


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


def _static_edge_gains(G_t: Any) -> torch.Tensor | None:
    gains = getattr(G_t, "edge_gains", None)
    if gains is None:
        return None
    gains = torch.as_tensor(gains).detach().cpu().double().reshape(-1)
    if gains.numel() != G_t.num_edges:
        raise GraphError(f"edge_gains has {gains.numel()} values for {G_t.num_edges} edges")
    bad = torch.nonzero(~torch.isfinite(gains)).flatten().tolist()
    if bad:
        raise GraphError(f"edge_gains of edges {bad} are not finite")
    return gains


class _NodeLayout(NamedTuple):
    """Where each node's outputs and parameters sit, in the plan's row orders."""

    offset: list[int]  # first buffer row of each node (one row per outlet; one per out node)
    num_rows: int
    nodes_sorted: list[int]  # the nodes by (step, row)
    step_start: list[int]  # where each step's nodes start in nodes_sorted
    per_type_index: list[int]  # each node's rank among its type's nodes (its parameter row)
    type_start: np.ndarray  # where each type's nodes start, by type id
    pos_in_step: np.ndarray  # each node's position among its step's nodes
    local_of_node: np.ndarray  # each node's first row inside its step's output

    @classmethod
    def of(cls, S: GraphStructure, order: np.ndarray, num_steps: int) -> _NodeLayout:
        V = S.num_nodes
        rows_per_node = S.num_outlets[S.types].copy()
        rows_per_node[S.types == S.out_type] = 1
        offset = np.concatenate([[0], np.cumsum(rows_per_node)])
        nodes_sorted = np.lexsort((np.arange(V), order))
        step_start = np.searchsorted(order[nodes_sorted], np.arange(num_steps + 1))
        pos_in_step = np.empty(V, dtype=np.int64)
        pos_in_step[nodes_sorted] = np.arange(V) - step_start[order[nodes_sorted]]
        type_sorted = np.lexsort((np.arange(V), S.types))
        type_start = np.searchsorted(S.types[type_sorted], np.arange(len(S.config) + 1))
        per_type_index = np.empty(V, dtype=np.int64)
        per_type_index[type_sorted] = np.arange(V) - type_start[S.types[type_sorted]]
        local_sorted = np.concatenate([[0], np.cumsum(rows_per_node[nodes_sorted])])[:-1]
        local_sorted -= local_sorted[step_start[order[nodes_sorted]]]
        local_of_node = np.empty(V, dtype=np.int64)
        local_of_node[nodes_sorted] = local_sorted
        return cls(
            offset=offset.tolist(),
            num_rows=int(offset[-1]),
            nodes_sorted=nodes_sorted.tolist(),
            step_start=step_start.tolist(),
            per_type_index=per_type_index.tolist(),
            type_start=type_start,
            pos_in_step=pos_in_step,
            local_of_node=local_of_node,
        )


class _EdgeLayout(NamedTuple):
    """The edges sorted by (dest step, inlet, source step, source local row), with what an
    inlet's read needs of each."""

    key: list[int]  # dest step * inlet_slots + inlet, per sorted edge
    edge_sorted: list[int]
    inlet_slots: int
    src_rows: list[int]  # buffer row of each edge's source outlet
    src_step: list[int]
    src_local: list[int]  # row of the source outlet inside its step's output
    pos_of_dst: list[int]  # position of each edge's destination inside its step

    @classmethod
    def of(cls, S: GraphStructure, order: np.ndarray, nodes: _NodeLayout) -> _EdgeLayout:
        src_rows = np.asarray(nodes.offset)[S.src] + S.outlet
        src_step = order[S.src]
        src_local = nodes.local_of_node[S.src] + S.outlet
        dst_step = order[S.dst]
        edge_sorted = np.lexsort((src_local, src_step, S.inlet, dst_step))
        inlet_slots = int(S.num_inlets.max()) + 1
        key = dst_step[edge_sorted] * inlet_slots + S.inlet[edge_sorted]
        return cls(
            key=key.tolist(),
            edge_sorted=edge_sorted.tolist(),
            inlet_slots=inlet_slots,
            src_rows=src_rows.tolist(),
            src_step=src_step.tolist(),
            src_local=src_local.tolist(),
            pos_of_dst=nodes.pos_in_step[S.dst].tolist(),
        )

    def span(self, cursor: int, step: int, inlet: int) -> tuple[int, int]:
        """``(first, end)`` in ``edge_sorted`` of the edges into ``inlet`` of ``step``'s nodes,
        searching from ``cursor`` (the end of the previous inlet's span)."""
        key, target = self.key, step * self.inlet_slots + inlet
        while cursor < len(key) and key[cursor] < target:
            cursor += 1
        first = cursor
        while cursor < len(key) and key[cursor] == target:
            cursor += 1
        return first, cursor

    def plan_inlet(self, first: int, end: int, num_nodes: int) -> InletRead:
        edges = self.edge_sorted[first:end]
        return _plan_inlet(
            [self.src_rows[e] for e in edges],
            [self.src_step[e] for e in edges],
            [self.src_local[e] for e in edges],
            [self.pos_of_dst[e] for e in edges],
            num_nodes,
            edges,
        )


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
    nodes = _NodeLayout.of(S, order, num_steps)
    edges = _EdgeLayout.of(S, order, nodes)
    last_use = [-1] * num_steps
    steps = []
    cursor = 0  # edges are sorted by (dest step, inlet): walk them once
    for i, node_type in enumerate(sequence):
        step_nodes = nodes.nodes_sorted[nodes.step_start[i] : nodes.step_start[i + 1]]
        n = len(step_nodes)
        num_outlets = 1 if node_type == "out" else config.num_outlets[node_type]
        reads = []
        for k in range(config.num_inlets[node_type]):
            first, cursor = edges.span(cursor, i, k)
            read = edges.plan_inlet(first, cursor, n)
            reads.append(read)
            for piece in read.pieces + (read.extra.pieces if read.extra else []):
                last_use[piece.step] = max(last_use[piece.step], i)
        dest = [nodes.offset[v] + o for v in step_nodes for o in range(num_outlets)]
        steps.append(
            StepPlan(
                index=i,
                node_type=node_type,
                num_nodes=n,
                num_outlets=num_outlets,
                reads=reads,
                parameter_read=_access([nodes.per_type_index[v] for v in step_nodes]),
                dest_write=_access(dest),
                node_read=_access(step_nodes),
            )
        )
    type_start = nodes.type_start
    type_counts = {t: int(c) for t, c in zip(config.node_types, np.diff(type_start), strict=True)}
    return RenderData(
        method=method,
        num_nodes=V,
        max_order=num_steps - 1,
        siso_only=config.siso_only,
        steps=steps,
        num_rows=nodes.num_rows,
        num_sources=type_counts["in"],
        type_counts=type_counts,
        last_use=last_use,
        fingerprint=graph_fingerprint(G_t),
        num_edges=S.num_edges,
        edge_gains=_static_edge_gains(G_t),
    )
