r"""Carry per-type parameters and sources from one node order to another.

Parameters of type ``t`` are rows in node order: the ``n``-th node of type ``t`` owns row ``n``.
When nodes are renumbered (:func:`~grafx.render.reorder.reorder_for_fast_render`), these rows
must be permuted too, or parameters land on the wrong nodes. Nodes are matched by their original
id (``node_ids``, plus ``graph_ids`` for batched graphs), which reordering keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ParameterError, RenderError
from grafx.processors.core.drywet import EDGE_GATE_KEY


def _node_keys(G_t: Any) -> Tensor:
    ids = G_t.node_ids if G_t.node_ids is not None else torch.arange(G_t.num_nodes)
    ids = ids.long().cpu()
    if G_t.graph_ids is not None:
        ids = G_t.graph_ids.long().cpu() * (int(ids.max()) + 1 if ids.numel() else 1) + ids
    return ids


def type_permutation(G_before: Any, G_after: Any, node_type: str) -> Tensor:
    r"""Row of ``G_before``'s type-``node_type`` parameters that each row of ``G_after`` needs.

    Args:
        G_before: graph whose node order the parameters follow.
        G_after: the same graph in another node order (e.g. reordered).
        node_type: a type name.

    Returns:
        ``perm`` with ``params_after = params_before[perm]``, ``(N_t,)`` long, on CPU.
    """
    config = G_before.config
    type_id = config.type_index(node_type)
    keys_before = _node_keys(G_before)[G_before.node_types.cpu() == type_id]
    keys_after = _node_keys(G_after)[
        G_after.node_types.cpu() == G_after.config.type_index(node_type)
    ]
    if keys_before.numel() != keys_after.numel():
        raise RenderError(
            f"type {node_type!r}: {keys_before.numel()} node(s) before and "
            f"{keys_after.numel()} after; these are not the same graph"
        )
    sorted_keys, order = torch.sort(keys_before)
    if sorted_keys.numel() > 1 and bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
        raise RenderError(f"type {node_type!r}: node ids repeat, so nodes cannot be matched")
    position = torch.searchsorted(sorted_keys, keys_after).clamp(max=max(len(sorted_keys) - 1, 0))
    if keys_after.numel() and not bool((sorted_keys[position] == keys_after).all()):
        missing = keys_after[sorted_keys[position] != keys_after][0]
        raise RenderError(f"type {node_type!r}: node {int(missing)} is not in the first graph")
    return order[position]


def _edge_keys(G_t: Any) -> Tensor:
    """One row per edge: (source key, destination key, outlet, inlet), ``(E, 4)`` on CPU."""
    nodes = _node_keys(G_t)
    edges = G_t.edge_indices.long().cpu()
    ports = torch.zeros_like(edges) if G_t.edge_types is None else G_t.edge_types.long().cpu()
    return torch.stack([nodes[edges[0]], nodes[edges[1]], ports[0], ports[1]], 1)


def _lexsort_rows(keys: Tensor) -> Tensor:
    order = torch.arange(keys.shape[0])
    for column in reversed(range(keys.shape[1])):
        order = order[torch.argsort(keys[order, column], stable=True)]
    return order


def edge_permutation(G_before: Any, G_after: Any) -> Tensor:
    r"""Edge of ``G_before`` that each edge of ``G_after`` is: ``gates_after = gates_before[perm]``.

    Edges are matched by their end nodes' ids and their ports; parallel edges with the same
    ports are matched in their order in each graph (they carry the same signal, so any match
    renders the same).

    Returns:
        ``(E,)`` long, on CPU.
    """
    before, after = _edge_keys(G_before), _edge_keys(G_after)
    if before.shape != after.shape:
        raise RenderError(
            f"{before.shape[0]} edge(s) before and {after.shape[0]} after; these are not the "
            "same graph"
        )
    order_before, order_after = _lexsort_rows(before), _lexsort_rows(after)
    if not torch.equal(before[order_before], after[order_after]):
        raise RenderError("the two graphs' edges differ; these are not the same graph")
    perm = torch.empty_like(order_after)
    perm[order_after] = order_before
    return perm


def _permute_tree(value: Any, perm: Tensor, node_type: str, path: str) -> Any:
    if isinstance(value, Tensor):
        if value.ndim == 0 or value.shape[0] != perm.numel():
            raise ParameterError(
                f"parameter {node_type!r}/{path or '<tensor>'}: first dimension "
                f"{tuple(value.shape)[:1]} != {perm.numel()} nodes of type {node_type!r}"
            )
        permuted = value.index_select(0, perm.to(value.device))
        if isinstance(value, nn.Parameter):
            return nn.Parameter(permuted.detach(), requires_grad=value.requires_grad)
        return permuted
    if isinstance(value, (Mapping, nn.ModuleDict, nn.ParameterDict)):
        items = {
            k: _permute_tree(v, perm, node_type, f"{path}/{k}" if path else k)
            for k, v in value.items()
        }
        if isinstance(value, nn.ParameterDict):
            return nn.ParameterDict(items)
        if isinstance(value, nn.ModuleDict):
            return nn.ModuleDict(items)
        return items
    raise ParameterError(
        f"parameter {node_type!r}/{path}: expected a tensor or a dict of tensors, got "
        f"{type(value).__name__}"
    )


def permute_parameters(parameters: Mapping, G_before: Any, G_after: Any) -> Any:
    r"""Reorder per-type parameters made for ``G_before``'s node order to ``G_after``'s.

    Args:
        parameters: ``{type: tensor or (nested) dict of tensors}``, each tensor ``(N_t, ...)``;
            a dict, :class:`torch.nn.ParameterDict` or :class:`torch.nn.ModuleDict`. The edge
            gates (the reserved key ``"edge_gate"``, ``(E, 1)`` in ``G_before``'s edge order)
            follow their edges instead.
        G_before: the graph the parameters follow.
        G_after: the same graph renumbered, e.g. by ``reorder_for_fast_render``.

    Returns:
        The same structure with every tensor's rows permuted. Plain tensors are permuted with
        ``index_select`` (differentiable); ``nn.Parameter`` leaves become new parameters (to be
        trained from here on) inside containers of the same kind.

    Example:
        >>> import torch
        >>> from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
        >>> from grafx.render import reorder_for_fast_render
        >>> G = GRAFX(config=NodeConfigs(["gain"]))
        >>> out_id = G.add("out")
        >>> for _ in range(2):
        ...     start_id, end_id = G.add_serial_chain(["in", "gain"])
        ...     G.connect(end_id, out_id)
        >>> G_t = convert_to_tensor(G)
        >>> G_fast = reorder_for_fast_render(G_t)
        >>> parameters = {"gain": torch.tensor([[1.0], [2.0]])}  # rows follow G_t's gain nodes
        >>> permuted = permute_parameters(parameters, G_t, G_fast)
        >>> permuted["gain"].shape
        torch.Size([2, 1])
    """
    result = {}
    for node_type, value in parameters.items():
        if node_type == EDGE_GATE_KEY:
            perm = edge_permutation(G_before, G_after)
        else:
            perm = type_permutation(G_before, G_after, node_type)
        result[node_type] = _permute_tree(value, perm, node_type, "")
    if isinstance(parameters, nn.ParameterDict):
        return nn.ParameterDict(result)
    if isinstance(parameters, nn.ModuleDict):
        return nn.ModuleDict(result)
    return result


def permute_sources(source: Tensor, G_before: Any, G_after: Any) -> Tensor:
    r"""Reorder sources made for ``G_before``'s ``in`` nodes to ``G_after``'s.

    ``reorder_for_fast_render`` keeps the relative order of ``in`` nodes, so this is the
    identity for it; it matters for any other renumbering.

    Args:
        source: ``(K, C, L)`` or ``(B, K, C, L)``.
        G_before, G_after: the two node orders.

    Returns:
        The permuted sources, same shape.
    """
    perm = type_permutation(G_before, G_after, "in").to(source.device)
    return source.index_select(source.ndim - 3, perm)


class ParameterPermuter:
    r""":func:`permute_parameters` for one pair of graphs, with the permutations made once.

    A renderer calls this at every render: each type's permutation (and the edge gates') is
    computed on the first call, copied once to each device it is used on, and skipped where it
    is the identity, so a render costs no host computation and no host-to-device copy here.
    Unlike :func:`permute_parameters`, ``nn.Parameter`` leaves are permuted like plain tensors
    (differentiably) and a leaf whose rows do not move is passed on as it is.

    Args:
        G_before: the graph the parameters follow.
        G_after: the same graph renumbered.
    """

    def __init__(self, G_before: Any, G_after: Any):
        self.G_before, self.G_after = G_before, G_after
        self._perms: dict[str, Tensor | None] = {}
        self._counts: dict[str, int] = {}
        self._on_device: dict[tuple[str, str], Tensor] = {}

    def _perm(self, key: str, device: torch.device) -> Tensor | None:
        if key not in self._perms:
            if key == EDGE_GATE_KEY:
                made = edge_permutation(self.G_before, self.G_after)
            else:
                made = type_permutation(self.G_before, self.G_after, key)
            identity = torch.equal(made, torch.arange(made.numel()))
            self._perms[key] = None if identity else made
            self._counts[key] = made.numel()
        perm = self._perms[key]
        if perm is None or perm.device == device:
            return perm
        cached = self._on_device.get((key, str(device)))
        if cached is None:
            cached = self._on_device[(key, str(device))] = perm.to(device)
        return cached

    def _tree(self, value: Any, key: str, path: str, count: int) -> Any:
        if isinstance(value, Tensor):
            if value.ndim == 0 or value.shape[0] != count:
                raise ParameterError(
                    f"parameter {key!r}/{path or '<tensor>'}: first dimension "
                    f"{tuple(value.shape)[:1]} != {count} nodes of type {key!r}"
                )
            perm = self._perm(key, value.device)
            return value if perm is None else value.index_select(0, perm)
        if isinstance(value, (Mapping, nn.ModuleDict, nn.ParameterDict)):
            return {
                k: self._tree(v, key, f"{path}/{k}" if path else k, count) for k, v in value.items()
            }
        raise ParameterError(
            f"parameter {key!r}/{path}: expected a tensor or a dict of tensors, got "
            f"{type(value).__name__}"
        )

    def _count(self, key: str) -> int:
        if key not in self._counts:
            self._perm(key, torch.device("cpu"))
        return self._counts[key]

    def __call__(self, parameters: Mapping) -> dict:
        """``parameters`` (``G_before``'s order) in ``G_after``'s order, as plain dicts."""
        return {
            key: self._tree(value, key, "", self._count(key)) for key, value in parameters.items()
        }
