r"""Prediction heads: features in, the renderer's nested parameter dict out.

* :class:`PerNodeHead` maps one feature vector per node to that node's parameters, one linear
  map per processor type, so one head serves any console size or topology (the features come
  from a graph encoder, :class:`~grafx.nn.encoder.GraphEncoder`).
* :class:`PerGraphHead` maps one feature vector per graph to every node's parameters of a fixed
  layout (the node counts of the graph it was built from); a batch of ``B`` feature vectors
  gives the parameters of ``batch_grafx`` of ``B`` graphs of that layout.

Both shape their outputs from each processor's ``parameter_size()`` (through
:class:`~grafx.nn.layout.ParameterLayout`), containers (``DryWet``, ``SerialChain``,
``ParallelMix``, ...) and gates included. Outputs are raw values in the processors' own
parameter space, added to an optional base (e.g. the neutral console, so a zero output
renders it; the heads start at zero); with ``bounds`` (:func:`~grafx.nn.bounds.parameter_bounds`)
each bounded parameter is squashed into its physical range instead.

Example:
    >>> import torch
    >>> from grafx.presets import build_mixing_console, console_processors
    >>> G, _ = build_mixing_console(3, chain=["eq", "gain_pan"])
    >>> head = PerNodeHead.from_processors(console_processors(["eq", "gain_pan"]), 8)
    >>> out = head(torch.randn(G.number_of_nodes(), 8), node_type_names(G))
    >>> {t: {k: tuple(v.shape) for k, v in p.items()} for t, p in out.items()}
    {'eq': {'log_gain': (3, 1, 4), 'q_inv': (3, 1, 4), 'w0': (3, 1, 4)}, 'gain_pan': {'log_gain': (3, 2)}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError, GraphError, ParameterError
from grafx.nn.bounds import apply_bounds
from grafx.nn.layout import UTILITY_TYPES, ParameterLayout

__all__ = ["PerNodeHead", "PerGraphHead", "node_type_names", "graph_type_counts"]

Bounds = Mapping[str, tuple[Tensor, Tensor, Tensor]]


def node_type_names(G: Any) -> list[str]:
    """The type name of each node of ``G`` in ascending id order (the parameters' row order)."""
    return [G.nodes[n]["node_type"] for n in sorted(G.nodes)]


def graph_type_counts(G: Any) -> list[dict[str, int]]:
    """Nodes of each type per graph: one dict for a plain graph, one per graph for a batch."""
    counts: dict[int, dict[str, int]] = {}
    for node in sorted(G.nodes):
        data = G.nodes[node]
        row = counts.setdefault(int(data.get("graph_id", 0)), {})
        row[data["node_type"]] = row.get(data["node_type"], 0) + 1
    return [counts[g] for g in sorted(counts)]


def _finish(
    layout: ParameterLayout,
    node_type: str,
    raw: Tensor,
    base: Mapping | None,
    bounds: Bounds | None,
) -> dict:
    base_flat = None
    if base is not None and node_type in base:
        base_flat = layout.join(node_type, base[node_type]).to(raw)
        if base_flat.shape[0] != raw.shape[0]:
            raise ParameterError(
                f"type {node_type!r}: the base has {base_flat.shape[0]} rows, the head "
                f"{raw.shape[0]}"
            )
    if bounds is not None and node_type in bounds:
        start = raw.new_zeros(raw.shape) if base_flat is None else base_flat
        flat = apply_bounds(raw, start, bounds[node_type])
    else:
        flat = raw if base_flat is None else base_flat + raw
    return layout.split(node_type, flat)


class PerNodeHead(nn.Module):
    """One feature vector per node -> that node's parameters.

    Args:
        layout: the processors' :class:`~grafx.nn.layout.ParameterLayout`.
        feature_dim: size of each node's feature vector.
    """

    def __init__(self, layout: ParameterLayout, feature_dim: int):
        super().__init__()
        self.layout = layout
        self.feature_dim = int(feature_dim)
        linears = {t: nn.Linear(self.feature_dim, size) for t, size in layout.sizes.items() if size}
        for linear in linears.values():
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        self.linears = nn.ModuleDict(linears)

    @classmethod
    def from_processors(
        cls, processors: Mapping[str, Any], feature_dim: int, gated: Iterable[str] = ()
    ) -> PerNodeHead:
        """A head for ``processors`` (``{type: module}``), gates on the types of ``gated``."""
        return cls(ParameterLayout.from_processors(processors, gated), feature_dim)

    def forward(
        self,
        node_features: Tensor,
        node_types: Sequence[str],
        base: Mapping | None = None,
        bounds: Bounds | None = None,
    ) -> dict[str, Any]:
        """Parameters of every processor node.

        Args:
            node_features: ``(V, feature_dim)``, rows in the graph's node order.
            node_types: the type name of each row (:func:`node_type_names`).
            base: parameters the raw outputs are added to (e.g. the neutral console).
            bounds: ``{type: (low, high, mask)}`` to keep parameters in range.

        Returns:
            ``{type: nested dict of tensors (N_t, *shape)}`` in the graph's node order.

        Raises:
            ParameterError: features of the wrong size or count.
            ConfigError: a node type this head has no layout for.
        """
        if node_features.ndim != 2 or node_features.shape[1] != self.feature_dim:
            raise ParameterError(
                f"PerNodeHead: node features must be (V, {self.feature_dim}), got "
                f"{tuple(node_features.shape)}"
            )
        if len(node_types) != node_features.shape[0]:
            raise ParameterError(
                f"PerNodeHead: {node_features.shape[0]} feature rows for {len(node_types)} nodes"
            )
        rows: dict[str, list[int]] = {}
        for row, node_type in enumerate(node_types):
            if node_type in UTILITY_TYPES:
                continue
            if node_type not in self.layout.sizes:
                raise ConfigError(
                    f"PerNodeHead: no head for node type {node_type!r}; this head shapes "
                    f"{sorted(self.layout.sizes)}"
                )
            rows.setdefault(node_type, []).append(row)
        out = {}
        for node_type, index in rows.items():
            chosen = node_features[torch.tensor(index, device=node_features.device)]
            if node_type in self.linears:
                raw = self.linears[node_type](chosen)
            else:  # a processor without parameters
                raw = chosen.new_zeros(len(index), 0)
            out[node_type] = _finish(self.layout, node_type, raw, base, bounds)
        return out


class PerGraphHead(nn.Module):
    """One feature vector per graph -> every node's parameters, for a fixed node count per type.

    Args:
        layout: the processors' :class:`~grafx.nn.layout.ParameterLayout`.
        counts: nodes of each processor type in one graph.
        feature_dim: size of each graph's feature vector.
    """

    def __init__(self, layout: ParameterLayout, counts: Mapping[str, int], feature_dim: int):
        super().__init__()
        self.layout = layout
        self.feature_dim = int(feature_dim)
        self.counts = {t: int(n) for t, n in counts.items() if t not in UTILITY_TYPES and n}
        missing = sorted(set(self.counts) - set(layout.sizes))
        if missing:
            raise ConfigError(f"PerGraphHead: no processor layout for node type(s) {missing}")
        linears = {
            t: nn.Linear(self.feature_dim, n * layout.sizes[t])
            for t, n in self.counts.items()
            if layout.sizes[t]
        }
        for linear in linears.values():
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        self.linears = nn.ModuleDict(linears)

    @classmethod
    def from_graph(
        cls, G: Any, processors: Mapping[str, Any], feature_dim: int, gated: Iterable[str] = ()
    ) -> PerGraphHead:
        """A head for the layout of ``G`` (a graph, or a ``batch_grafx`` batch of graphs with
        equal node counts per type) and its processors.

        Raises:
            GraphError: a batch whose graphs have different node counts.
            ConfigError: a node type the processors cannot shape.
        """
        per_graph = graph_type_counts(G)
        if any(c != per_graph[0] for c in per_graph):
            raise GraphError(
                "PerGraphHead: the batched graphs have different node counts per type "
                f"({per_graph}); use a PerNodeHead for graphs of different sizes"
            )
        types = [t for t in per_graph[0] if t not in UTILITY_TYPES]
        layout = ParameterLayout.from_processors(processors, gated, node_types=types)
        return cls(layout, per_graph[0], feature_dim)

    def forward(
        self, graph_features: Tensor, base: Mapping | None = None, bounds: Bounds | None = None
    ) -> dict[str, Any]:
        """Parameters of ``B`` graphs in ``batch_grafx`` row order.

        Args:
            graph_features: ``(feature_dim,)`` for one graph or ``(B, feature_dim)``.
            base, bounds: as :meth:`PerNodeHead.forward`.

        Returns:
            ``{type: nested dict of tensors (B * N_t, *shape)}``, graph 0's rows first.

        Raises:
            ParameterError: features of the wrong size.
        """
        features = graph_features[None] if graph_features.ndim == 1 else graph_features
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ParameterError(
                f"PerGraphHead: graph features must be ({self.feature_dim},) or "
                f"(B, {self.feature_dim}), got {tuple(graph_features.shape)}"
            )
        out = {}
        for node_type, num_nodes in self.counts.items():
            count = features.shape[0] * num_nodes
            if node_type in self.linears:
                raw = self.linears[node_type](features).reshape(count, -1)
            else:  # a processor without parameters
                raw = features.new_zeros(count, 0)
            out[node_type] = _finish(self.layout, node_type, raw, base, bounds)
        return out
