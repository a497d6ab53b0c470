r"""Pruning: find the processors a fitted graph does not need, and remove them.

The pieces: :func:`prune_graph` (the search: brute force, dry/wet ranking and the hybrid, in
rounds each followed by fine-tuning; one round is :func:`prune_round` on a :class:`PruneState`),
:func:`run_prune` (the job of ``grafx prune`` on a fit's folder, with :class:`PruneOptions`),
:func:`remove_nodes` (a node's input rewired to its outputs) and :class:`GateSparsity` (the L1
penalty on gates for :func:`grafx.fit.fit_parameters`). The gates themselves are in :mod:`grafx.gates`. Method of Lee et al., "Searching for Music
Mixing Graphs: A Pruning Approach", DAFx 2024.
"""

from grafx.gates import SPARSITY_WEIGHT, GateSparsity
from grafx.prune.job import PruneJobResult, run_prune
from grafx.prune.options import PruneOptions
from grafx.prune.rewire import PROTECTED_TYPES, remove_nodes
from grafx.prune.search import (
    METHODS,
    DescriptorGuard,
    PruneConfig,
    PruneResult,
    RoundResult,
    count_processors,
    prune_graph,
    prune_round,
)
from grafx.prune.state import PruneState

__all__ = [
    "METHODS",
    "PROTECTED_TYPES",
    "SPARSITY_WEIGHT",
    "DescriptorGuard",
    "GateSparsity",
    "PruneConfig",
    "PruneJobResult",
    "PruneOptions",
    "PruneResult",
    "PruneState",
    "RoundResult",
    "count_processors",
    "prune_graph",
    "prune_round",
    "run_prune",
    "remove_nodes",
]
