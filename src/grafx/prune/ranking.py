"""One round's choice of removals: the candidates, their ranking, and the removals kept.

:func:`rank_candidates` orders the candidates (node id, gate, or measured cost);
:func:`search_round` finds the removals within the round's loss limit
(:func:`removal_limit`): bisection over the ranking's prefixes, one-at-a-time checks, or both
(see :mod:`grafx.prune.search`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from grafx.data.configs import UTILITY_TYPES
from grafx.progress import Progress
from grafx.prune.evaluator import Evaluator

if TYPE_CHECKING:
    from grafx.prune.search import PruneConfig

__all__ = ["loudest_stretch", "prunable", "rank_candidates", "removal_limit", "search_round"]


def loudest_stretch(target: Tensor, length: int) -> tuple[int, int]:
    """``(start, stop)`` of the ``length`` samples of ``target`` (``(..., L)``) with most energy."""
    total = target.shape[-1]
    if length >= total:
        return 0, total
    energy = target.detach().double().square().reshape(-1, total).sum(0)
    cumulative = torch.cat([energy.new_zeros(1), torch.cumsum(energy, 0)])
    start = int(torch.argmax(cumulative[length:] - cumulative[:-length]))
    return start, start + length


def rank_candidates(
    evaluator: Evaluator,
    candidates: Sequence[int],
    gates: Mapping[int, float],
    config: PruneConfig,
    progress: bool = False,
) -> list[int]:
    """The candidates to try, in order: by node id (``"brute"``), by gate (smallest first), or
    by measured cost alone (cheapest first, ties by gate then id; one render per candidate).
    With ``progress``, measuring the costs shows its progress (:class:`~grafx.progress.Progress`)."""
    if config.method == "brute":
        return sorted(candidates)
    if config.method == "drywet" or config.order == "gate":
        return sorted((n for n in candidates if n in gates), key=lambda n: (gates[n], n))
    costs = {}
    with Progress("prune ranking", len(candidates), unit="node", enabled=progress) as bar:
        for n in candidates:
            costs[n] = evaluator.loss({n})
            bar.update(len(costs))
    return sorted(candidates, key=lambda n: (costs[n], gates.get(n, 1.0), n))


def search_round(
    evaluator: Evaluator,
    candidates: Sequence[int],
    ranked: Sequence[int],
    limit: float,
    config: PruneConfig,
) -> list[int]:
    """Nodes to remove this round (closing them keeps the loss within ``limit``), in the order
    they were accepted."""
    closed: list[int] = []
    trials: Sequence[int]
    if config.method in ("drywet", "hybrid"):
        lo, hi = 0, len(ranked)
        while lo < hi:  # the longest prefix of the ranking within the limit
            mid = (lo + hi + 1) // 2
            if evaluator.accepts(set(ranked[:mid]), limit):
                lo = mid
            else:
                hi = mid - 1
        closed = list(ranked[:lo])
        if config.method == "drywet":
            return closed
        trials = ranked[lo:]
    else:
        trials = sorted(candidates)
    refused = 0
    for node in trials:
        if evaluator.accepts({*closed, node}, limit):
            closed.append(node)
            refused = 0
        else:
            refused += 1
            if config.method == "hybrid" and refused >= config.patience:
                break
    return closed


def removal_limit(config: PruneConfig, loss_before: float, rounds: Sequence[Mapping]) -> float:
    """The highest loss a removal may leave: the tolerance around the reference loss (the given
    graph's, or with ``reference="best"`` the lowest after any round in ``rounds``)."""
    reference = loss_before
    if config.reference == "best":
        reference = min([loss_before, *(r["loss"] for r in rounds)])
    if config.tolerance_mode == "absolute":
        return reference + config.tolerance
    return (1 + config.tolerance) * reference


def prunable(G: Any, node: int, evaluator: Evaluator) -> bool:
    """Whether ``node`` may be removed: not ``in``/``out``/``mix``, as many inlets as outlets,
    and a gate the evaluator can close."""
    node_type = G.nodes[node]["node_type"]
    if node_type in UTILITY_TYPES:
        return False
    config = G.config
    if (
        config is not None
        and node_type in config
        and (config.num_inlets[node_type] != config.num_outlets[node_type])
    ):
        return False
    return evaluator.closable(node, evaluator.renderer.processors)
