r"""The pieces of a render plan: row accesses, aggregations, inlet reads and steps.

Signals live in *buffer rows*: node ``v`` owns one row per outlet (an ``out`` node owns one row,
holding the sum of its inputs), numbered node by node. During rendering, each step keeps its own
output tensor, whose rows are that step's buffer rows in order; an :class:`InletRead` says which
rows of which earlier steps to gather (``pieces``), and an :class:`Aggregation` how to sum them
into one input per node. Nothing here touches audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class Access:
    """How a step reads or writes rows: ``"none"``, ``"slice"`` ``(start, stop)`` or ``"index"``.

    Printed as in the documentation, e.g. ``slice with (0, 3)`` or ``none with []``.
    """

    method: str
    index: tuple[int, int] | Tensor | list

    def __str__(self) -> str:
        return f"{self.method} with {self.index}"

    @property
    def idx(self) -> tuple[int, int] | Tensor | list:
        """The reference's name of :attr:`index`."""
        return self.index

    @property
    def size(self) -> int:
        if self.method == "none":
            return 0
        if isinstance(self.index, tuple):  # a slice (start, stop)
            return int(self.index[1]) - int(self.index[0])
        if isinstance(self.index, Tensor):
            return int(self.index.numel())
        return len(self.index)


@dataclass
class Aggregation:
    """How gathered rows become one input per node.

    ``"none"``: one row per node, in node order; ``"sum"``: every row into the step's single
    node; ``"scatter"``: row ``e`` is added into node ``index[e]`` (``num_nodes`` outputs).
    """

    method: str
    index: Tensor | None = None
    num_nodes: int = 0

    def __str__(self) -> str:
        return self.method if self.index is None else f"{self.method} with {self.index}"


@dataclass
class Piece:
    """Rows of one earlier step's output: ``narrow(start, length)`` or ``index_select(index)``."""

    step: int
    start: int = 0
    length: int = 0
    index: Tensor | None = None


@dataclass
class ExtraRead:
    """Further rows added into a scatter's base rows: ``base[index[e]] += rows[e]``.

    ``piece_index[k]`` is the part of ``index`` that belongs to ``pieces[k]``, so each piece is
    added straight from its source without concatenating the pieces first.
    """

    pieces: list[Piece]
    index: Tensor
    piece_index: list[Tensor]
    edges: Tensor | None = None


@dataclass
class InletRead:
    """Everything one inlet of one step reads.

    For a ``scatter``, ``pieces`` (and ``reorder``) give one *base* row per node, in node order,
    and ``extra`` the remaining rows with the node each one is added into, so a scatter costs
    one gather of the base plus one indexed add, never a zero-filled buffer.

    Attributes:
        access: the buffer rows read, in the order aggregated (for printing).
        pieces: reads from earlier steps, concatenated along the node axis.
        reorder: rows of the concatenation to take, in order, after it (or ``None``).
        aggregation: how the rows become one input per node.
        extra: for ``scatter``, the rows added into the base rows.
        edges: the graph edge (column of ``edge_indices``) of each row, in the order the rows
            are aggregated: node order for ``none`` and a scatter's base rows (after
            ``reorder``), the pieces' order for ``sum``; the extra rows' edges are
            ``extra.edges``. Edge gates scale rows by these.
    """

    access: Access
    pieces: list[Piece]
    reorder: Tensor | None
    aggregation: Aggregation
    extra: ExtraRead | None = None
    edges: Tensor | None = None


@dataclass
class StepPlan:
    """One render step: a type, its nodes, their inlet reads, parameters and output rows.

    Attributes:
        index: step number; 0 renders ``in`` nodes, the last one ``out`` nodes.
        node_type: type name of every node in the step.
        num_nodes: nodes in the step, ``n``.
        num_outlets: outlets per node (``out`` counts 1: its summed input).
        reads: one :class:`InletRead` per inlet (none for ``in``).
        parameter_read: rows of the per-type parameter tensors, as an :class:`Access`.
        dest_write: buffer rows the step's output fills, node-major, outlet-minor.
        node_read: graph rows of the step's nodes (for per-node common parameters).
    """

    index: int
    node_type: str
    num_nodes: int
    num_outlets: int
    reads: list[InletRead]
    parameter_read: Access
    dest_write: Access
    node_read: Access
    extras: dict = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"Render #{self.index}", f"  - Node type: {self.node_type}"]
        if len(self.reads) <= 1:
            read = str(self.reads[0].access) if self.reads else "none with []"
            aggregation = str(self.reads[0].aggregation) if self.reads else "none"
            lines += [f"  - Source read: {read}", f"  - Aggregation: {aggregation}"]
        else:
            lines.append("  - Source reads:")
            lines += [f"    * {r.access}" for r in self.reads]
            lines.append("  - Aggregations:")
            lines += [f"    * {r.aggregation}" for r in self.reads]
        lines.append(f"  - Parameter read: {self.parameter_read}")
        lines.append(f"  - Dest write: {self.dest_write}")
        return "\n".join(lines)
