"""The mutable audio processing graph: :class:`GRAFX`, a ``networkx.MultiDiGraph``."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import torch

from grafx.data.configs import NodeConfigs
from grafx.errors import GraphError

SINGLE_PARAMETER_TYPE = int | float | np.ndarray | torch.Tensor
PARAMETER_TYPE = SINGLE_PARAMETER_TYPE | dict[str, SINGLE_PARAMETER_TYPE]

INVALID_OPS = ("error", "warn", "mute")
_ADD_KEYS = ("node_type", "parameters", "name")


def _check_invalid_op(invalid_op: object) -> str:
    if invalid_op not in INVALID_OPS:
        raise GraphError(
            f"Incorrect invalid_op is given: {invalid_op!r}; use one of {INVALID_OPS}."
        )
    return invalid_op


def _finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite real number (a one-element tensor too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            return None
        value = value.detach().item()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


class GRAFX(nx.MultiDiGraph):
    r"""An audio processing graph: a directed acyclic multigraph of typed processor nodes.

    Nodes are integer ids handed out by :meth:`add` (``0, 1, 2, ...``). Each node has the attributes
    ``node_type`` (a type name of ``config``), ``parameters`` (anything the user attaches; it is
    stored, saved with :func:`grafx.io.save_graph`, and otherwise left alone) and ``name``
    (an optional string; see :meth:`find_node`). Each edge has ``outlet`` and ``inlet``, the port
    *names* it joins.

    Invalid operations (an unknown type, an edge that would make a cycle, a port the type does not
    have, ...) are handled by ``invalid_op``: ``"error"`` raises :class:`~grafx.errors.GraphError`,
    ``"warn"`` emits a ``UserWarning`` and ``"mute"`` stays silent. In the last two modes the
    operation is skipped and the method returns ``None``; the graph is never left half-edited.

    Differences from the original library (bugs fixed): ``connect`` checks node ids, cycles, the
    ``in``/``out`` directions and duplicates, and never adds an invalid edge in ``"warn"`` or
    ``"mute"`` mode; ``add_serial_chain`` wires dict items correctly; ``counter`` accepts the list
    of cumulative counts of a batched graph; the ``config`` setter message reads the right way.

    Args:
        config: allowed node types; ``None`` accepts any type name (but such a graph cannot be
            converted to tensors).
        invalid_op: ``"error"``, ``"warn"`` or ``"mute"``.

    Example:
        >>> G = GRAFX(config=NodeConfigs(["eq"]))
        >>> start, end = G.add_serial_chain(["in", "eq", "out"])
        >>> (start, end)
        (0, 2)
        >>> print(G)
        GRAFX with 3 nodes & 2 edges
          [0] in -> [1] eq
          [1] eq -> [2] out
          [2] out
    """

    def __init__(self, config: NodeConfigs | None = None, invalid_op: str = "error"):
        super().__init__()
        if config is not None and not isinstance(config, NodeConfigs):
            config = NodeConfigs(config)
        self.graph.update(
            counter=0,
            consecutive_ids=True,
            batch=False,
            config=config,
            config_hash=hash(config),
            invalid_op=_check_invalid_op(invalid_op),
            rendering_order_method=None,
            type_sequence=None,
        )

    # ------------------------------------------------------------------ graph-level properties

    @property
    def counter(self) -> int | list[int]:
        """Next free node id; for a batched graph, the cumulative id counts of its graphs."""
        return self.graph["counter"]

    @counter.setter
    def counter(self, value: int | list[int]) -> None:
        ok_int = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ok_list = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
        )
        if not (ok_int or ok_list):
            raise GraphError(f"counter must be a non-negative int or a list of them, got {value!r}")
        self.graph["counter"] = value

    @property
    def consecutive_ids(self) -> bool:
        """Whether the node ids are exactly ``0, ..., counter - 1`` (no node was removed)."""
        return self.graph["consecutive_ids"]

    @consecutive_ids.setter
    def consecutive_ids(self, value: bool) -> None:
        self.graph["consecutive_ids"] = self._bool("consecutive_ids", value)

    @property
    def batch(self) -> bool:
        """Whether this graph is a disjoint union made by :func:`~grafx.data.batch.batch_grafx`."""
        return self.graph["batch"]

    @batch.setter
    def batch(self, value: bool) -> None:
        self.graph["batch"] = self._bool("batch", value)

    @property
    def config(self) -> NodeConfigs | None:
        """The :class:`~grafx.data.configs.NodeConfigs` given at construction (read-only)."""
        return self.graph["config"]

    @config.setter
    def config(self, value: NodeConfigs) -> None:
        raise GraphError(
            "config can only be set at construction; create a new GRAFX(config=...) instead."
        )

    @property
    def config_hash(self) -> int:
        """``hash(config)`` (read-only); equal configs have equal hashes."""
        return self.graph["config_hash"]

    @config_hash.setter
    def config_hash(self, value: int) -> None:
        raise GraphError("config_hash cannot be set directly; it always equals hash(config).")

    @property
    def invalid_op(self) -> str:
        """How invalid operations are handled: ``"error"``, ``"warn"`` or ``"mute"``."""
        return self.graph["invalid_op"]

    @invalid_op.setter
    def invalid_op(self, value: str) -> None:
        self.graph["invalid_op"] = _check_invalid_op(value)

    @property
    def rendering_order_method(self) -> str | None:
        """The scheduling method of the last reordering, or ``None``."""
        return self.graph["rendering_order_method"]

    @rendering_order_method.setter
    def rendering_order_method(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise GraphError(f"rendering_order_method must be a str or None, got {value!r}")
        self.graph["rendering_order_method"] = value

    @property
    def type_sequence(self) -> list | torch.Tensor | None:
        """The type of each render step after reordering, or ``None``."""
        return self.graph["type_sequence"]

    @type_sequence.setter
    def type_sequence(self, value: list | torch.Tensor | None) -> None:
        if value is not None and not isinstance(value, (list, torch.Tensor)):
            raise GraphError(f"type_sequence must be a list, a LongTensor or None, got {value!r}")
        self.graph["type_sequence"] = value

    @staticmethod
    def _bool(name: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise GraphError(f"{name} must be a bool, got {value!r}")
        return value

    # ------------------------------------------------------------------ invalid operations

    def raise_warning(self, msg: str) -> None:
        """Report an invalid operation according to ``invalid_op``.

        ``"error"`` raises :class:`~grafx.errors.GraphError`, ``"warn"`` warns (``UserWarning``),
        ``"mute"`` does nothing.
        """
        if self.invalid_op == "error":
            raise GraphError(msg)
        if self.invalid_op == "warn":
            warnings.warn(f"Following operation is invalid and was skipped: {msg}", stacklevel=3)

    # ------------------------------------------------------------------ nodes

    def _type_error(self, node_type: object) -> str | None:
        if not isinstance(node_type, str):
            return f"Invalid node_type: {node_type!r}, a node type must be a string."
        if self.config is not None and node_type not in self.config:
            return f"Invalid node_type: {node_type}, it only allows {self.config.node_types}."
        return None

    def add(
        self, node_type: str, parameters: PARAMETER_TYPE | None = None, name: str | None = None
    ) -> int | None:
        """Add one node and return its id (the current :attr:`counter`).

        Args:
            node_type: a type name of ``config`` (any string when ``config`` is ``None``).
            parameters: optional parameters attached to the node.
            name: optional name, e.g. ``"vocal eq"``; see :meth:`find_node`.

        Returns:
            The new node id, or ``None`` when the type is invalid in ``"warn"``/``"mute"`` mode.
        """
        problem = self._type_error(node_type)
        if problem is None and name is not None and not isinstance(name, str):
            problem = f"node name must be a string or None, got {name!r}"
        if problem is None and self.batch:
            problem = "cannot add nodes to a batched graph; add them before batch_grafx."
        if problem is not None:
            self.raise_warning(problem)
            return None
        node_id = self.counter
        assert isinstance(node_id, int)  # a list only in batched graphs, refused above
        self.add_node(node_id, node_type=node_type, parameters=parameters, name=name)
        self.graph["counter"] = node_id + 1
        return node_id

    def add_serial_chain(self, node_list: Sequence[str | Mapping[str, Any]]) -> tuple:
        """Add nodes connected one after another and return ``(first_id, last_id)``.

        Each item is a type name or a dict of :meth:`add` keyword arguments, e.g.
        ``{"node_type": "eq", "name": "vocal eq", "parameters": p}``. Consecutive nodes are joined
        from the first outlet of one to the first inlet of the next (``"main"`` for SISO types).
        Every item is checked before anything is added; in ``"warn"``/``"mute"`` mode invalid items
        are left out and their neighbours joined. Returns ``(None, None)`` if nothing was added.
        """
        if isinstance(node_list, (str, Mapping)) or not isinstance(node_list, Sequence):
            raise GraphError(f"add_serial_chain needs a list of node types, got {node_list!r}")
        items: list[dict[str, Any]] = []
        for i, item in enumerate(node_list):
            kwargs = {"node_type": item} if isinstance(item, str) else item
            if not isinstance(kwargs, Mapping) or "node_type" not in kwargs:
                raise GraphError(
                    f"add_serial_chain item {i}: expected a type name or a dict with 'node_type', "
                    f"got {item!r}"
                )
            unknown = sorted(set(kwargs) - set(_ADD_KEYS))
            if unknown:
                raise GraphError(
                    f"add_serial_chain item {i}: unknown keys {unknown}; allowed keys {_ADD_KEYS}"
                )
            problem = self._type_error(kwargs["node_type"])
            if problem is not None:
                self.raise_warning(f"add_serial_chain item {i}: {problem}")
                continue
            items.append(dict(kwargs))
        for pos, kwargs in enumerate(items):
            node_type = kwargs["node_type"]
            if pos > 0 and not self._ports(node_type, "inlets"):
                raise GraphError(
                    f"add_serial_chain: {node_type!r} has no inlet, so it must come first"
                )
            if pos < len(items) - 1 and not self._ports(node_type, "outlets"):
                raise GraphError(
                    f"add_serial_chain: {node_type!r} has no outlet, so it must come last"
                )
        added = [self.add(**kwargs) for kwargs in items]
        ids = [i for i in added if i is not None]
        for source, dest in itertools.pairwise(ids):
            outlet = self._ports(self.nodes[source]["node_type"], "outlets")[0]
            inlet = self._ports(self.nodes[dest]["node_type"], "inlets")[0]
            self.connect(source, dest, outlet, inlet)
        if not ids:
            return None, None
        return ids[0], ids[-1]

    def remove(self, node_id: int) -> tuple[list, list] | None:
        """Remove a node and its edges; returns ``(in_edges, out_edges)`` as ``(u, v, data)`` lists.

        Returns ``None`` if the node does not exist and ``invalid_op`` is not ``"error"``.
        """
        if node_id not in self:
            self.raise_warning(f"cannot remove node {node_id!r}: no such node in the graph.")
            return None
        in_edges = list(self.in_edges(node_id, data=True))
        out_edges = list(self.out_edges(node_id, data=True))
        self.remove_node(node_id)
        self.consecutive_ids = False
        return in_edges, out_edges

    def find_node(self, name: str) -> int:
        """Id of the node called ``name``; :class:`~grafx.errors.GraphError` if none or several."""
        found = [n for n, data in self.nodes(data=True) if data.get("name") == name]
        if len(found) != 1:
            what = "no node" if not found else f"{len(found)} nodes ({found})"
            raise GraphError(f"{what} named {name!r} in the graph")
        return found[0]

    # ------------------------------------------------------------------ edges

    def _ports(self, node_type: str, kind: str) -> list[str]:
        if self.config is not None and node_type in self.config:
            return self.config[node_type][kind]
        if (node_type == "in" and kind == "inlets") or (node_type == "out" and kind == "outlets"):
            return []
        return ["main"]

    def _resolve_port(self, node_id: int, port: str | int, kind: str) -> tuple[str | None, str]:
        node_type = self.nodes[node_id]["node_type"]
        ports = self._ports(node_type, kind)
        singular = kind[:-1]
        if not ports:
            side = "into" if kind == "inlets" else "out of"
            return None, f"node {node_id} ({node_type!r}) has no {kind}: no edge can go {side} it."
        if isinstance(port, int) and not isinstance(port, bool):
            if 0 <= port < len(ports):
                return ports[port], ""
        elif isinstance(port, str) and (port in ports or self.config is None):
            return port, ""
        return None, (
            f"node {node_id} ({node_type!r}) has no {singular} {port!r}; "
            f"its {kind} are {ports} (names or indices 0..{len(ports) - 1})."
        )

    def connect(
        self,
        source_id: int,
        dest_id: int,
        outlet: str | int = "main",
        inlet: str | int = "main",
        gain: float | None = None,
    ) -> None:
        """Add an edge from ``outlet`` of ``source_id`` to ``inlet`` of ``dest_id``.

        Ports are given by name or by index. ``gain``, a finite number, scales the signal the
        edge carries (a send level; stored as the edge attribute ``gain``, carried into
        ``GRAFXTensor.edge_gains``); ``None`` (default) means 1. Rejected (see
        ``invalid_op``): a missing node id, a self edge, an edge into an ``in`` node or out of
        an ``out`` node, an unknown port, a gain that is not a finite number, an identical edge
        that already exists, and an edge that closes a cycle (the message lists the nodes on
        it). An invalid edge is never added.
        """
        for node_id in (source_id, dest_id):
            if node_id not in self:
                self.raise_warning(
                    f"cannot connect {source_id!r} -> {dest_id!r}: node {node_id!r} does not exist."
                )
                return None
        if source_id == dest_id:
            self.raise_warning(
                f"cannot connect node {source_id} to itself: no self edge is allowed."
            )
            return None
        if gain is not None:
            value = _finite_number(gain)
            if value is None:
                self.raise_warning(
                    f"cannot connect {source_id} -> {dest_id}: gain must be a finite number, "
                    f"got {gain!r}."
                )
                return None
            gain = value
        outlet_name, problem = self._resolve_port(source_id, outlet, "outlets")
        if outlet_name is None:
            self.raise_warning(problem)
            return None
        inlet_name, problem = self._resolve_port(dest_id, inlet, "inlets")
        if inlet_name is None:
            self.raise_warning(problem)
            return None
        edges = self.get_edge_data(source_id, dest_id, default={})
        for data in edges.values():
            if data.get("outlet") == outlet_name and data.get("inlet") == inlet_name:
                self.raise_warning(
                    f"{source_id} <{outlet_name}> -> {dest_id} <{inlet_name}>: existing edge."
                )
                return None
        closes_cycle = (
            self.out_degree(dest_id) > 0
            and self.in_degree(source_id) > 0
            and nx.has_path(self, dest_id, source_id)
        )
        if closes_cycle:
            path = nx.shortest_path(self, dest_id, source_id)
            self.raise_warning(
                f"cannot connect {source_id} -> {dest_id}: it would create a cycle through "
                f"nodes {path + [dest_id]}."
            )
            return None
        attrs: dict[str, Any] = {"outlet": outlet_name, "inlet": inlet_name}
        if gain is not None:
            attrs["gain"] = gain
        self.add_edge(source_id, dest_id, **attrs)
        return None

    # ------------------------------------------------------------------ printing

    def __str__(self) -> str:
        lines = [f"GRAFX with {self.number_of_nodes()} nodes & {self.number_of_edges()} edges"]
        for node_id in sorted(self.nodes):
            head = f"  [{node_id}] {self.nodes[node_id]['node_type']}"
            out_edges = list(self.out_edges(node_id, data=True))
            if len(out_edges) == 1:
                _, dest, data = out_edges[0]
                outlet = data.get("outlet", "main")
                prefix = head if outlet == "main" else f"{head} <{outlet}>"
                lines.append(prefix + self._edge_tail(dest, data))
            else:
                lines.append(head)
                for _, dest, data in out_edges:
                    outlet = data.get("outlet", "main")
                    prefix = "    " if outlet == "main" else f"    <{outlet}>"
                    lines.append(prefix + self._edge_tail(dest, data))
        return "\n".join(lines)

    def _edge_tail(self, dest: int, data: Mapping) -> str:
        inlet = data.get("inlet", "main")
        inlet_text = "" if inlet == "main" else f"<{inlet}> "
        gain = data.get("gain")
        gain_text = "" if gain is None else f" (gain {gain:g})"
        return f" -> {inlet_text}[{dest}] {self.nodes[dest]['node_type']}{gain_text}"
