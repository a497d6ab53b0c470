"""Tensor form of a graph: node types, edges and their ports as integer tensors."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from grafx.data.configs import NodeConfigs
from grafx.data.geometric import to_pyg_data
from grafx.errors import GraphError

# The fields shown by ``print``, in the order of the documentation.
_PRINTED_FIELDS = (
    "node_types",
    "edge_indices",
    "edge_types",
    "rendering_order_method",
    "rendering_orders",
    "type_sequence",
    "counter",
    "batch",
    "config",
    "config_hash",
    "invalid_op",
)


@dataclass(eq=False)
class GRAFXTensor:
    r"""A graph as tensors, ready for scheduling, rendering or a graph neural network.

    Row ``i`` of every per-node tensor describes the same node. Parameters of type ``t`` follow
    the row order too: the ``n``-th node of type ``t`` (counting rows from 0) owns row ``n`` of
    each tensor in ``parameters[t]``. ``node_ids`` (and ``graph_ids`` for batches) record which
    node of the source graph each row is, so :meth:`node_row` and :meth:`parameter_row` answer
    "which row is node 7's?" before and after any reordering.

    Attributes:
        node_types: integer type of each node (see ``config.node_type_to_index``), ``(V,)``.
        edge_indices: ``(2, E)``, row 0 the source rows and row 1 the destination rows.
        edge_types: ``(2, E)``, row 0 the outlet index and row 1 the inlet index of each edge;
            ``None`` when the config is SISO-only.
        rendering_order_method: scheduling method used by ``reorder_for_fast_render``, or ``None``.
        rendering_orders: render step of each node, ``(V,)``, or ``None``.
        type_sequence: type name of each render step, or ``None``.
        counter: next free node id of the source graph; for a batched graph the list of cumulative
            counts ``[offset_1, ..., total]`` (graph ``g``'s ids start at ``offset_g``, ``offset_0 = 0``).
        batch: whether this is several graphs batched together.
        config: the :class:`~grafx.data.configs.NodeConfigs` of the graph.
        config_hash: ``hash(config)``; equal configs have equal hashes.
        invalid_op: ``"error"``, ``"warn"`` or ``"mute"``, copied from the source graph.
        node_ids: the id each row had in the source :class:`~grafx.data.graph.GRAFX`, ``(V,)``;
            it survives reordering, so a node can always be found by its original id.
        graph_ids: for batched graphs, the index of the graph each row came from, ``(V,)``.
        edge_gains: linear gain of each edge, ``(E,)`` in ``edge_indices`` order (float64; 1
            where an edge has none), or ``None`` when no edge of the source graph has a
            ``gain``; :func:`~grafx.render.render_grafx` scales each edge's signal by it.
    """

    node_types: Tensor
    edge_indices: Tensor
    counter: Any = 0
    batch: bool = False
    config: NodeConfigs | None = None
    config_hash: int | None = None
    invalid_op: str = "error"
    edge_types: Tensor | None = None
    rendering_order_method: str | None = None
    rendering_orders: Tensor | None = None
    type_sequence: list[str] | None = None
    node_ids: Tensor | None = None
    graph_ids: Tensor | None = None
    extras: dict = field(default_factory=dict)
    edge_gains: Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.node_types.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_indices.shape[1])

    def to(self, device: torch.device | str) -> GRAFXTensor:
        """Move every tensor field to ``device`` in place; returns ``self`` for chaining."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                setattr(self, name, value.to(device))
        return self

    def node_row(self, node_id: int, graph_id: int | None = None) -> int:
        """Row of the node whose original id is ``node_id`` (in graph ``graph_id`` when batched).

        Rows move when the tensor is reordered for rendering; ``node_ids`` moves with them, so this
        always finds the right row. Without ``node_ids``, row ``i`` is node ``i``.

        Raises:
            GraphError: no such node, or several (a batched tensor needs ``graph_id``).
        """
        ids = self.node_ids if self.node_ids is not None else torch.arange(self.num_nodes)
        match = ids.cpu() == int(node_id)
        if graph_id is not None:
            if self.graph_ids is None:
                match &= int(graph_id) == 0
            else:
                match &= self.graph_ids.cpu() == int(graph_id)
        rows = torch.nonzero(match).flatten().tolist()
        where = f"node {node_id}" + ("" if graph_id is None else f" of graph {graph_id}")
        if not rows:
            raise GraphError(f"{where} is not in this GRAFXTensor")
        if len(rows) > 1:
            raise GraphError(
                f"{where} matches rows {rows} (one per batched graph); pass graph_id to choose"
            )
        return rows[0]

    def parameter_row(self, node_id: int, graph_id: int | None = None) -> tuple[str, int]:
        r"""Where the parameters of a node live: ``(node_type, n)``.

        The node's parameters are row ``n`` of every tensor in ``parameters[node_type]``; ``n`` is
        the number of rows of the same type above the node's row. This is the convention of
        :func:`grafx.render.graph.render_grafx`, and it stays right after reordering because
        ``node_ids`` are permuted with the rows.

        Example:
            >>> from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
            >>> G = GRAFX(config=NodeConfigs(["eq"]))
            >>> _ = G.add_serial_chain(["in", "eq", "eq", "out"])
            >>> convert_to_tensor(G).parameter_row(2)
            ('eq', 1)
        """
        row = self.node_row(node_id, graph_id)
        types = self.node_types.cpu()
        type_index = int(types[row])
        rank = int((types[:row] == type_index).sum())
        if self.config is None:
            return str(type_index), rank
        return self.config.node_types[type_index], rank

    def to_pyg(self) -> Any:
        """This graph as a ``torch_geometric.data.Data``; see :func:`grafx.data.geometric.to_pyg_data`."""
        return to_pyg_data(self)

    def copy(self, **changes: Any) -> GRAFXTensor:
        """Shallow copy with some fields replaced."""
        return replace(self, **changes)

    def __str__(self) -> str:
        def show(value: Any) -> str:
            if isinstance(value, Tensor):
                return str(list(value.shape))
            return repr(value)

        names = _PRINTED_FIELDS + (("edge_gains",) if self.edge_gains is not None else ())
        lines = [f"  {name}={show(getattr(self, name))}" for name in names]
        return "GRAFXTensor(\n" + ", \n".join(lines) + "\n)"

    __repr__ = __str__
