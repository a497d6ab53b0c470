"""Optional export of a :class:`GRAFXTensor` to ``torch_geometric`` for graph neural networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grafx.errors import MissingDependencyError

if TYPE_CHECKING:  # only for the annotation: grafx.data.tensor imports this module
    from grafx.data.tensor import GRAFXTensor


def to_pyg_data(G_t: GRAFXTensor) -> Any:
    r"""A ``torch_geometric.data.Data`` view of a tensor graph.

    Fields: ``x`` the node types ``(V,)`` (integers, e.g. for an embedding), ``edge_index``
    ``(2, E)``, ``edge_attr`` ``(E, 2)`` = ``edge_types.T`` (outlet, inlet index) when the config
    has MIMO types, ``num_nodes``, and ``node_ids`` ``(V,)`` (plus ``graph_ids`` when batched,
    and ``edge_weight`` ``(E,)`` = ``edge_gains`` when the graph's edges have gains).
    The tensors are shared, not copied.

    Raises:
        MissingDependencyError: torch_geometric is not installed; install the ``geometric`` extra.
    """
    try:
        from torch_geometric.data import Data
    except ImportError as error:
        raise MissingDependencyError(
            "to_pyg_data needs torch_geometric, which is not installed; "
            "install the 'geometric' extra: pip install 'grafx-torch[geometric]'"
        ) from error
    fields: dict[str, Any] = {
        "x": G_t.node_types,
        "edge_index": G_t.edge_indices,
        "num_nodes": G_t.num_nodes,
    }
    if G_t.edge_types is not None:
        fields["edge_attr"] = G_t.edge_types.T
    if G_t.node_ids is not None:
        fields["node_ids"] = G_t.node_ids
    if G_t.graph_ids is not None:
        fields["graph_ids"] = G_t.graph_ids
    if G_t.edge_gains is not None:
        fields["edge_weight"] = G_t.edge_gains
    return Data(**fields)
