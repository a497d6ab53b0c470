r"""A graph encoder in plain torch: message passing over a graph's tensor form.

Each node starts from an embedding of its type, the mean audio features of the ``in`` nodes
upstream of it (its sources: a track's strip sees its stem, a bus the stems it sums), the
logarithm of how many there are, and the features of its graph's target. Then ``rounds`` times,
every node adds an MLP of itself and the means of its predecessors' and successors' states,

.. math:: h_v \leftarrow h_v + \mathrm{MLP}\bigl(h_v,\ \overline{h}_{u \to v},\ \overline{h}_{v \to w}\bigr),

so a node also learns what comes before and after it in its chain. The graph is given as
``edge_indices`` ``(2, E)`` (sources in row 0), the form of
:class:`~grafx.data.tensor.GRAFXTensor` and of the ``edge_index`` of
:func:`grafx.data.geometric.to_pyg_data`; batched graphs are one disjoint graph.

Example:
    >>> import torch
    >>> encoder = GraphEncoder(num_types=3, source_dim=4, target_dim=2, hidden=8)
    >>> types = torch.tensor([0, 1, 2])  # in -> eq -> out
    >>> edges = torch.tensor([[0, 1], [1, 2]])
    >>> encoder(types, edges, torch.randn(1, 4), torch.randn(1, 2)).shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from grafx.errors import GraphError, ParameterError

__all__ = ["GraphEncoder", "upstream_sources"]


def upstream_sources(edge_indices: Tensor, source_rows: Tensor, num_nodes: int) -> Tensor:
    """Which sources reach each node: ``(V, K)``, 1 where source ``k`` is upstream of node ``v``
    (or is ``v``); ``source_rows`` ``(K,)`` are the rows of the ``in`` nodes."""
    reach = torch.zeros(num_nodes, source_rows.shape[0], device=edge_indices.device)
    reach[source_rows, torch.arange(source_rows.shape[0], device=edge_indices.device)] = 1.0
    src, dst = edge_indices[0], edge_indices[1]
    for _ in range(num_nodes):
        spread = reach.index_add(0, dst, reach[src]).clamp_max(1.0)
        if torch.equal(spread, reach):
            break
        reach = spread
    return reach


def _mean_over(values: Tensor, index_from: Tensor, index_to: Tensor, num_nodes: int) -> Tensor:
    total = values.new_zeros(num_nodes, values.shape[1]).index_add(0, index_to, values[index_from])
    count = values.new_zeros(num_nodes).index_add(0, index_to, values.new_ones(index_to.shape[0]))
    return total / count.clamp_min(1.0)[:, None]


class GraphEncoder(nn.Module):
    """Node states ``(V, hidden)`` from node types, edges and audio features.

    Args:
        num_types: size of the node-type vocabulary.
        source_dim: size of each source's features.
        target_dim: size of each graph's target features.
        hidden: size of the node states.
        rounds: message-passing rounds.
    """

    def __init__(
        self, num_types: int, source_dim: int, target_dim: int, hidden: int = 64, rounds: int = 3
    ):
        super().__init__()
        self.num_types, self.source_dim, self.target_dim = num_types, source_dim, target_dim
        self.type_embedding = nn.Embedding(num_types, hidden)
        self.source_in = nn.Linear(source_dim + 1, hidden)
        self.target_in = nn.Linear(target_dim, hidden)
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            for _ in range(rounds)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(rounds))

    def forward(
        self,
        node_types: Tensor,
        edge_indices: Tensor,
        source_features: Tensor,
        target_features: Tensor,
        graph_ids: Tensor | None = None,
        source_type: int = 0,
    ) -> Tensor:
        """Encode a graph (or a disjoint batch of graphs).

        Args:
            node_types: type index of each node, ``(V,)``.
            edge_indices: ``(2, E)``.
            source_features: ``(K, source_dim)``, one row per node of type ``source_type``, in
                row order.
            target_features: ``(G, target_dim)``, one row per graph.
            graph_ids: graph of each node ``(V,)``; ``None``: all in graph 0.
            source_type: the type index of the ``in`` nodes.

        Returns:
            ``(V, hidden)``.

        Raises:
            ParameterError: feature sizes or counts that do not match.
            GraphError: edges that name missing nodes.
        """
        num_nodes = int(node_types.shape[0])
        source_rows = torch.nonzero(node_types == source_type).flatten()
        if source_features.ndim != 2 or source_features.shape != (
            source_rows.shape[0],
            self.source_dim,
        ):
            raise ParameterError(
                f"GraphEncoder: source features must be ({source_rows.shape[0]}, "
                f"{self.source_dim}) (one row per source node), got "
                f"{tuple(source_features.shape)}"
            )
        graph_ids = node_types.new_zeros(num_nodes) if graph_ids is None else graph_ids
        num_graphs = int(graph_ids.max()) + 1 if num_nodes else 0
        if target_features.ndim != 2 or target_features.shape != (num_graphs, self.target_dim):
            raise ParameterError(
                f"GraphEncoder: target features must be ({num_graphs}, {self.target_dim}) (one "
                f"row per graph), got {tuple(target_features.shape)}"
            )
        if edge_indices.numel() and (edge_indices.min() < 0 or edge_indices.max() >= num_nodes):
            raise GraphError(f"GraphEncoder: edge_indices name nodes outside 0..{num_nodes - 1}")
        with torch.no_grad():
            reach = upstream_sources(edge_indices, source_rows, num_nodes)
            count = reach.sum(1, keepdim=True)
        pooled = (
            reach.to(source_features) @ source_features / count.clamp_min(1.0).to(source_features)
        )
        sources = torch.cat([pooled, torch.log1p(count).to(source_features)], dim=1)
        h = (
            self.type_embedding(node_types)
            + self.source_in(sources)
            + self.target_in(target_features)[graph_ids]
        )
        src, dst = edge_indices[0], edge_indices[1]
        for update, norm in zip(self.updates, self.norms, strict=True):
            before = _mean_over(h, src, dst, num_nodes)
            after = _mean_over(h, dst, src, num_nodes)
            h = norm(h + update(torch.cat([h, before, after], dim=1)))
        return h
