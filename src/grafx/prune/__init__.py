r"""Pruning: find the processors a fitted graph does not need, and remove them.

The pieces: :func:`prune_graph` (the search: brute force, dry/wet ranking and the hybrid, in
rounds each followed by fine-tuning), :func:`remove_nodes` (a node's input rewired to its
outputs) and :class:`GateSparsity` (the L1 penalty on gates for :func:`grafx.fit.fit_parameters`).
The gates themselves are in :mod:`grafx.gates`. Method of Lee et al., "Searching for Music
Mixing Graphs: A Pruning Approach", DAFx 2024.
"""

from grafx.gates import SPARSITY_WEIGHT, GateSparsity
from grafx.prune.rewire import PROTECTED_TYPES, remove_nodes
from grafx.prune.search import (
    METHODS,
    DescriptorGuard,
    PruneConfig,
    PruneResult,
    count_processors,
    prune_graph,
)

__all__ = [
    "METHODS",
    "PROTECTED_TYPES",
    "SPARSITY_WEIGHT",
    "DescriptorGuard",
    "GateSparsity",
    "PruneConfig",
    "PruneResult",
    "count_processors",
    "prune_graph",
    "remove_nodes",
]
