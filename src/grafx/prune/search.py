r"""Pruning search: remove the processors a fitted graph does not need, within a loss tolerance.

Following Lee et al., "Searching for Music Mixing Graphs: A Pruning Approach" (DAFx 2024),
each round proposes processors to remove, checks the real loss of the graph without them, keeps
the removals that cost at most the tolerance, removes them (:func:`~grafx.prune.remove_nodes`)
and fine-tunes what is left. A candidate is tried by closing its gate (:math:`w_v = 0`, exactly
the same audio as removing it), so every check is one render of the current graph. Methods:

* ``"brute"``: try every processor in node-id order, one at a time, keeping each removal that
  stays within the tolerance (one render per processor per round).
* ``"drywet"``: rank the gated processors by their dry/wet weight :math:`w` (smallest first) and
  remove the longest prefix of the ranking that stays within the tolerance, found by bisection
  (about :math:`\log_2 N` renders a round).
* ``"hybrid"`` (default): the longest prefix of a ranking found by bisection, as in
  ``"drywet"``, then the next candidates of the ranking one at a time as in ``"brute"`` until
  ``patience`` in a row are refused. The ranking (``order``):

  - ``"cost"`` (default): by each candidate's measured cost, the loss of the graph with that
    processor alone removed (one render per candidate and round; ties by gate), cheapest first;
  - ``"gate"``: by the dry/wet weight, as ``"drywet"`` (the paper's proposal), about
    :math:`\log_2 N` + ``patience`` renders a round.

  Why ``"cost"`` by default: a gate's value says little about what its processor does when
  gates start at type-dependent values (the console's delay and reverb at 0.1 and 0.15, the
  others at 0.99) and a fit is too short for the sparsity penalty to move them; a processor
  left neutral by the fit (cost 0) then ranks behind every delay and reverb and the patience
  ends the round before it is tried. And a ranking that is not cheapest-first makes the search
  non-monotone in the tolerance: a larger tolerance accepts a longer prefix, which may spend the
  whole budget on one costly processor that a smaller tolerance refuses, leaving no room for
  several cheap ones (``tests/prune/test_prune_order.py`` shows both). Removing in increasing
  cost order removes the most processors a budget allows when costs add up, and a larger
  tolerance then removes a superset within a round.

The tolerance is relative to a reference loss: a removal is accepted while the loss stays at
most :math:`(1 + \tau)\,\mathcal{L}_0` (``tolerance_mode="absolute"``:
:math:`\mathcal{L}_0 + \tau`, which the mixing-graphs paper's figures resemble more). By default
(``reference="given"``) :math:`\mathcal{L}_0` is the loss of the graph as given and stays fixed,
so errors do not compound over rounds. When the fit was short, early removals and their
fine-tuning can lower the loss well below it, and later rounds may spend that room on removals
that undo the gain; ``reference="best"`` takes the lowest loss seen so far instead, which can
only tighten the limit. Either way the pruned graph's loss is within the limit by construction
(fine-tuning is kept only when it lowers the loss).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from grafx.device import move_tree
from grafx.errors import ConfigError, GraphError
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.prune.rewire import PROTECTED_TYPES, remove_nodes

__all__ = [
    "METHODS",
    "ORDERS",
    "REFERENCES",
    "PruneConfig",
    "PruneResult",
    "DescriptorGuard",
    "prune_graph",
    "count_processors",
]

METHODS = ("brute", "drywet", "hybrid")
ORDERS = ("cost", "gate")
REFERENCES = ("given", "best")
_STATE = "prune-state.json"
_GRAPH = "prune-graph.json"


@dataclass
class PruneConfig:
    """Options of :func:`prune_graph`.

    Attributes:
        tolerance: :math:`\\tau`, the loss increase allowed (see ``tolerance_mode``), ``>= 0``.
        tolerance_mode: ``"relative"`` (default): accept while the loss is at most
            :math:`(1 + \\tau)\\,\\mathcal{L}_0`; ``"absolute"``: at most
            :math:`\\mathcal{L}_0 + \\tau`.
        reference: what :math:`\\mathcal{L}_0` is: ``"given"`` (default), the loss of the graph
            as given, fixed for the whole search; ``"best"``, the lowest loss seen so far (the
            given graph's or a round's after fine-tuning), so that a round cannot spend the
            room an earlier round's fine-tuning made: the pruned graph is then within the
            tolerance of the best graph the search found, not only of the one it was given.
        method: ``"brute"``, ``"drywet"`` or ``"hybrid"``.
        rounds: rounds of pruning (each followed by fine-tuning); the search stops earlier when
            a round removes nothing.
        finetune_steps: fit steps after each round (0: none).
        patience: ``"hybrid"``: refusals in a row that end a round's one-at-a-time checks.
        sparsity: weight of the gate L1 penalty during fine-tuning
            (:class:`~grafx.prune.GateSparsity`; 0: none).
        recover_steps: when a round's search removes nothing, try removing its ``patience``
            best-ranked candidates one at a time with this many fine-tuning steps before the
            check (another processor may take over the removed one's work), keeping the first
            within the tolerance; 0 (default): no such tries, the paper's search.
        order: ``"hybrid"``: the ranking, ``"cost"`` (each candidate's measured cost alone,
            cheapest first) or ``"gate"`` (dry/wet weight, smallest first); see the module
            docstring. ``"brute"`` tries nodes in id order and ``"drywet"`` ranks by gate,
            whatever ``order`` says.
        rank_samples: ``"hybrid"`` with ``order="cost"``: measure each candidate's cost on
            this many samples (the target's loudest stretch, rendered from rest) instead of the
            whole song, so that ranking a long song costs less than one full render per
            candidate; 0 (default) or a length at least the song's: the whole song. Only the
            ranking uses the excerpt; every removal is still accepted by the full-length loss.
        band_tolerance_db: a removal is refused when the mix's third-octave mid band-level
            error against the target (bands 40 Hz-16 kHz that the rate holds; side bands too
            where the target's side is within 60 dB of its loudest mid band) grows by more than
            this many dB over the given graph's error in any band (``None``: no band check).
        loudness_tolerance_lu: a removal is refused when the mix's integrated loudness ends
            more than this many LU further from the target's than the given graph's does
            (``None``: no loudness check).
    """

    tolerance: float = 0.01
    method: str = "hybrid"
    rounds: int = 12
    finetune_steps: int = 500
    patience: int = 3
    sparsity: float = 1e-4
    order: str = "cost"
    recover_steps: int = 0
    tolerance_mode: str = "relative"
    reference: str = "given"
    rank_samples: int = 0
    band_tolerance_db: float | None = 1.0
    loudness_tolerance_lu: float | None = 0.5

    def check(self) -> None:
        """Raise :class:`~grafx.errors.ConfigError` naming the first bad option."""
        if not isinstance(self.tolerance, (int, float)) or not math.isfinite(self.tolerance):
            raise ConfigError(f"prune tolerance must be a finite number, got {self.tolerance!r}")
        if self.tolerance < 0:
            raise ConfigError(f"prune tolerance must be 0 or more, got {self.tolerance}")
        if self.method not in METHODS:
            raise ConfigError(f"prune method must be one of {list(METHODS)}, got {self.method!r}")
        if self.tolerance_mode not in ("relative", "absolute"):
            raise ConfigError(
                "prune tolerance_mode must be one of ['relative', 'absolute'], got "
                f"{self.tolerance_mode!r}"
            )
        if self.reference not in REFERENCES:
            raise ConfigError(
                f"prune reference must be one of {list(REFERENCES)}, got {self.reference!r}"
            )
        if self.order not in ORDERS:
            raise ConfigError(f"prune order must be one of {list(ORDERS)}, got {self.order!r}")
        for name in ("rounds", "finetune_steps", "patience", "recover_steps", "rank_samples"):
            value = getattr(self, name)
            minimum = 0 if name in ("finetune_steps", "recover_steps", "rank_samples") else 1
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"prune option {name}={value!r} is out of range")
        if not self.sparsity >= 0:
            raise ConfigError(f"prune option sparsity={self.sparsity!r} must be 0 or more")
        for name in ("band_tolerance_db", "loudness_tolerance_lu"):
            value = getattr(self, name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"prune option {name}={value!r} must be a finite number >= 0 (or None: off)"
                )


@dataclass
class PruneResult:
    """What :func:`prune_graph` returns.

    Attributes:
        graph: the pruned :class:`~grafx.data.GRAFX` (survivors keep their node ids).
        parameters: its parameters, ``{type: nested dict (N_t', ...)}`` in its node order.
        removed: ids of the removed nodes, in the order they were removed.
        loss_before: loss of the graph as given.
        loss_after: loss of the pruned, fine-tuned graph.
        rho: :math:`\\rho`, the fraction of processors removed.
        num_processors: processors (nodes other than ``in``/``out``/``mix``) before pruning.
        removed_per_type: ``{type: (removed, before)}``.
        rounds: one dict per round: ``removed``, ``loss_pruned`` (before fine-tuning),
            ``loss`` (after), ``renders`` (full-length loss checks), ``excerpt_renders``
            (the ranking's renders of the excerpt, where ``rank_samples`` applies) and
            ``seconds``; ``recovered`` is
            true where the removal was one of ``recover_steps``.
        evaluations: loss checks in total (excerpt renders included).
        refused_by_descriptors: removals within the loss tolerance that the mix descriptors
            refused (see :class:`PruneConfig`'s ``band_tolerance_db``).
    """

    graph: Any
    parameters: dict[str, Any]
    removed: list[int]
    loss_before: float
    loss_after: float
    rho: float
    num_processors: int
    removed_per_type: dict[str, tuple[int, int]]
    rounds: list[dict] = field(default_factory=list)
    evaluations: int = 0
    refused_by_descriptors: int = 0


class DescriptorGuard:
    """The descriptor half of pruning's acceptance rule: does a mix keep the fitted mix's tonal
    balance and loudness?

    A mix passes when, in every checked band, its absolute band-level error against the target
    is at most the fitted mix's plus ``band_tolerance_db``, and its absolute integrated-loudness
    error against the target is at most the fitted mix's plus ``loudness_tolerance_lu`` (for a
    fit that matches the target's loudness: within that many LU of the fitted mix's; a change
    towards the target always passes). Checked bands: third-octave mid bands
    with centres from 40 Hz to 16 kHz (those the rate holds), and the side bands among them
    whose target level is within 60 dB of the target's loudest mid band.

    Args:
        fitted: the fitted (given) graph's mix ``(C, L)``.
        target: the target ``(C, L)``.
        sample_rate: in Hz.
        band_tolerance_db, loudness_tolerance_lu: the tolerances (``None``: that check off).
    """

    def __init__(self, fitted, target, sample_rate, band_tolerance_db, loudness_tolerance_lu):
        from grafx.metrics import BAND_RANGE_HZ, third_octave_centres

        self.sample_rate = sample_rate
        self.band_tolerance_db, self.loudness_tolerance_lu = (
            band_tolerance_db,
            loudness_tolerance_lu,
        )
        centres = third_octave_centres(sample_rate)
        self.span = (centres >= BAND_RANGE_HZ[0] * 0.99) & (centres <= BAND_RANGE_HZ[1] * 1.01)
        self.centres = centres
        target_levels = self._levels(target)
        self.target_levels = target_levels
        audible = target_levels[1] >= np_nanmax(target_levels[0]) - 60.0
        self.checked = [self.span, self.span & audible]  # mid, side
        self.fitted_error = abs(self._levels(fitted) - target_levels)
        self.target_loudness = self._loudness(target)
        self.fitted_loudness_error = abs(self._loudness(fitted) - self.target_loudness)

    def _levels(self, mix):
        from grafx.metrics import band_levels

        audio = mix.detach().to("cpu", torch.float64).expand(2, -1).numpy()
        mid_side = [0.5 * (audio[0] + audio[1]), 0.5 * (audio[0] - audio[1])]
        return band_levels(mid_side, self.sample_rate, self.centres)

    def _loudness(self, mix) -> float:
        from grafx.metrics import integrated_loudness

        return integrated_loudness(mix.detach().expand(2, -1), self.sample_rate)

    def why_refused(self, mix) -> str | None:
        """``None`` when ``mix`` passes, else the first reason it does not (one line)."""
        if self.band_tolerance_db is not None:
            error = abs(self._levels(mix) - self.target_levels)
            for row, part in enumerate(("mid", "side")):
                worse = error[row] - self.fitted_error[row]
                bad = self.checked[row] & (worse > self.band_tolerance_db)
                if bad.any():
                    band = int(bad.nonzero()[0][worse[bad].argmax()])
                    return (
                        f"{part} band {self.centres[band]:.0f} Hz error {worse[band]:+.1f} dB "
                        f"over the fitted mix's (tolerance {self.band_tolerance_db:g} dB)"
                    )
        if self.loudness_tolerance_lu is not None:
            error = self._loudness(mix) - self.target_loudness
            worse = abs(error) - self.fitted_loudness_error
            if not worse <= self.loudness_tolerance_lu:  # nan (silence) is refused too
                return (
                    f"loudness error {error:+.2f} LU, {worse:.2f} LU over the fitted mix's "
                    f"(tolerance {self.loudness_tolerance_lu:g} LU)"
                )
        return None


def np_nanmax(values) -> float:
    import numpy as np

    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else -math.inf


def count_processors(G: Any) -> dict[str, int]:
    """Nodes per processor type (every type but ``in``, ``out`` and ``mix``)."""
    counts: dict[str, int] = {}
    for _, node_type in G.nodes(data="node_type"):
        if node_type not in (*PROTECTED_TYPES, "mix"):
            counts[node_type] = counts.get(node_type, 0) + 1
    return counts


class _Evaluator:
    """Full-length loss of one graph with some of its nodes' gates closed."""

    def __init__(
        self, G, processors, parameters, sources, target, loss_fn, type_sequence=None, guard=None
    ):
        from grafx.fit import GraphRenderer
        from grafx.presets import node_rows

        self.guard: DescriptorGuard | None = guard
        self.refused = 0
        self.renderer = GraphRenderer(G, processors, type_sequence)
        self.parameters, self.sources, self.target, self.loss_fn = (
            parameters,
            sources,
            target,
            loss_fn,
        )
        self.rows = node_rows(G)
        self.types = dict(G.nodes(data="node_type"))
        self.count = 0
        # Types without a gate get an open one (+inf: exactly the processor), so that any node
        # can be closed for a check; it never leaves this evaluator.
        self.work = {
            t: dict(v.items()) if hasattr(v, "items") else v for t, v in parameters.items()
        }
        like = next(iter(_leaves(parameters)), torch.zeros(()))
        for node_type in set(self.types.values()) & set(processors):
            value = self.work.setdefault(node_type, {})
            equal = (
                G.config is None
                or node_type not in G.config
                or (G.config.num_inlets[node_type] == G.config.num_outlets[node_type])
            )
            if (
                isinstance(value, dict)
                and DRYWET_KEY not in value
                and DRYWET_KEY not in processors[node_type].parameter_size()
                and equal
            ):
                n = sum(1 for t in self.types.values() if t == node_type)
                value[DRYWET_KEY] = like.new_full((n, 1), math.inf)

    def closable(self, node: int, processors: Mapping) -> bool:
        """Whether a gate check can stand for the node's removal."""
        node_type = self.types[node]
        value = self.work.get(node_type)
        return isinstance(value, dict) and DRYWET_KEY in value and node_type in processors

    def excerpt(self, start: int, stop: int) -> _Evaluator:
        """The same graph and parameters (and renderer) scored on ``[start, stop)`` only."""
        view = copy.copy(self)
        view.sources, view.target = self.sources[..., start:stop], self.target[..., start:stop]
        view.count = 0
        return view

    def loss(self, closed: set[int]) -> float:
        """The loss of the mix with the ``closed`` nodes bypassed."""
        mix = self.mix(closed)
        with torch.no_grad():
            return float(self.loss_fn(mix, self.target))

    def accepts(self, closed: set[int], limit: float) -> bool:
        """Whether bypassing ``closed`` keeps the loss within ``limit`` and (with a guard) the
        mix descriptors within their tolerances."""
        mix = self.mix(closed)
        with torch.no_grad():
            if float(self.loss_fn(mix, self.target)) > limit:
                return False
        if self.guard is not None and self.guard.why_refused(mix) is not None:
            self.refused += 1
            return False
        return True

    def mix(self, closed: set[int]) -> Tensor:
        """The mix ``(C, L)`` with the ``closed`` nodes bypassed (no gradients)."""
        parameters = dict(self.work)
        by_type: dict[str, list[int]] = {}
        for node in closed:
            by_type.setdefault(self.types[node], []).append(self.rows[node])
        for node_type, rows in by_type.items():
            value = dict(parameters[node_type])
            gate = value[DRYWET_KEY].clone()
            gate[rows] = -math.inf
            value[DRYWET_KEY] = gate
            parameters[node_type] = value
        self.count += 1
        with torch.no_grad():
            mix, _ = self.renderer(self.sources, parameters)
            return mix


def _floating_dtype(tree: Any) -> torch.dtype | None:
    """The dtype of the first floating tensor of a nested dict (``None`` if it has none)."""
    return next((t.dtype for t in _leaves(tree) if t.is_floating_point()), None)


def _leaves(tree: Any):
    if isinstance(tree, Tensor):
        yield tree
    elif hasattr(tree, "items"):
        for value in tree.values():
            yield from _leaves(value)


def _gate_mix(parameters: Mapping, G: Any) -> dict[int, float]:
    from grafx.gates import gated_nodes

    return gated_nodes(parameters, G)


def _loudest_stretch(target: Tensor, length: int) -> tuple[int, int]:
    """``(start, stop)`` of the ``length`` samples of ``target`` (``(..., L)``) with most energy."""
    total = target.shape[-1]
    if length >= total:
        return 0, total
    energy = target.detach().double().square().reshape(-1, total).sum(0)
    cumulative = torch.cat([energy.new_zeros(1), torch.cumsum(energy, 0)])
    start = int(torch.argmax(cumulative[length:] - cumulative[:-length]))
    return start, start + length


def _ranking(evaluator, candidates, gates, config, progress: bool = False) -> list[int]:
    """The candidates to try, in order: by gate or by measured cost alone (cheapest first).
    With ``progress``, measuring the costs shows its progress (:class:`~grafx.progress.Progress`)."""
    if config.method == "brute":
        return sorted(candidates)
    if config.method == "drywet" or config.order == "gate":
        return sorted((n for n in candidates if n in gates), key=lambda n: (gates[n], n))
    from grafx.progress import Progress

    costs = {}
    with Progress("prune ranking", len(candidates), unit="node", enabled=progress) as bar:
        for n in candidates:
            costs[n] = evaluator.loss({n})
            bar.update(len(costs))
    return sorted(candidates, key=lambda n: (costs[n], gates.get(n, 1.0), n))


def _search_round(evaluator, candidates, ranked, limit, config) -> list[int]:
    """Nodes to remove this round (closing them keeps the loss within ``limit``)."""
    closed: list[int] = []
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


def prune_graph(
    G: Any,
    processors: Mapping[str, nn.Module],
    parameters: Mapping,
    sources: Tensor,
    target: Tensor,
    config: PruneConfig | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    fit_config: Any = None,
    type_sequence: list[str] | None = None,
    state_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    sample_rate: float | None = None,
    **overrides: Any,
) -> PruneResult:
    r"""Prune a fitted graph: remove processors while the loss stays within the tolerance.

    Args:
        G: the fitted graph (one ``out`` node); not modified.
        processors: ``{type: nn.Module}``.
        parameters: its fitted ``{type: nested dict of tensors}`` in ``G``'s node order; the
            ``"drywet"`` and ``"hybrid"`` methods rank the nodes by their gates
            (:mod:`grafx.gates`), ``"brute"`` needs none.
        sources: stems ``(K, C, L)``, one per ``in`` node in id order.
        target: the mix ``(C', L)``.
        config: a :class:`PruneConfig`; keyword ``overrides`` replace its fields.
        loss_fn: ``loss(estimate, target)``; default :func:`grafx.losses.default_mix_loss` at
            ``sample_rate``. Prune with the loss the graph was fitted with.
        fit_config: the :class:`~grafx.fit.FitConfig` of the fine-tuning (its ``steps`` is
            replaced by ``config.finetune_steps``); default: ``FitConfig`` with the whole audio
            per step when it is shorter than the default crop.
        type_sequence: fixed schedule of ``G`` (e.g. the console's) for the first round; pruned
            graphs are scheduled by beam search.
        state_dir: a folder to keep the search's state in after every round (and the
            fine-tuning's checkpoints); calling again with the same folder resumes.
        log: called with one line per round.
        sample_rate: the audio's rate in Hz (the default loss and the mix descriptors of the
            acceptance rule need it); ``None``: ``loss_fn.sample_rate`` where the loss has
            one (:class:`~grafx.losses.MixLoss`, :class:`~grafx.losses.BandLoss`), else
            44.1 kHz.

    Returns:
        A :class:`PruneResult`.

    Raises:
        ConfigError: a bad option; ``"drywet"``/``"hybrid"`` on a graph without gates; a saved
            state made with other options.
        GraphError: the graph has no processor to prune.
    """
    from grafx.fit import FitConfig, fit_parameters
    from grafx.gates import GateSparsity

    config = dataclasses.replace(config or PruneConfig(), **overrides)
    config.check()
    if sample_rate is None:  # the loss's own rate (MixLoss, BandLoss) when it has one
        sample_rate = getattr(loss_fn, "sample_rate", None) or 44100
    if loss_fn is None:
        from grafx.losses import default_mix_loss

        loss_fn = default_mix_loss(sample_rate)
    # Every render, loss and fine-tuning runs where the audio is.
    target = target.to(sources.device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(sources.device)
    log = log or (lambda _line: None)
    before = count_processors(G)
    num_processors = sum(before.values())
    if num_processors == 0:
        raise GraphError("the graph has no processor to prune (only 'in', 'out' and 'mix' nodes)")
    if config.method != "brute" and not any(
        hasattr(v, "items") and DRYWET_KEY in v for v in parameters.values()
    ):
        raise ConfigError(
            f"method {config.method!r} ranks processors by their dry/wet gates and the graph has "
            "none; gate it (grafx.gates.add_node_gates) and fit it, or use method='brute'"
        )
    fit_config = fit_config or FitConfig(
        progress=False, crop_len=None if sources.shape[-1] <= 2**15 else 2**15
    )
    penalties = {"sparsity": GateSparsity(config.sparsity, ramp=0.0)} if config.sparsity else {}

    state_path = Path(state_dir) if state_dir is not None else None
    if state_path is not None:
        state_path.mkdir(parents=True, exist_ok=True)
    options = {
        "tolerance": config.tolerance,
        "method": config.method,
        "order": config.order,
        "recover_steps": config.recover_steps,
        "tolerance_mode": config.tolerance_mode,
        "reference": config.reference,
        "rank_samples": config.rank_samples,
        "band_tolerance_db": config.band_tolerance_db,
        "loudness_tolerance_lu": config.loudness_tolerance_lu,
    }
    current_G, current = G, dict(parameters.items())
    removed: list[int] = []
    rounds: list[dict] = []
    evaluations, start_round, loss_before = 0, 0, None
    if state_path is not None and (state_path / _STATE).exists():
        current_G, current, state = _load_state(state_path, options)
        # A saved state is read onto the CPU; the search goes on where its audio is.
        current = move_tree(current, sources.device, _floating_dtype(parameters))
        removed, rounds = state["removed"], state["rounds"]
        evaluations, loss_before = state["evaluations"], state["loss_before"]
        start_round = len(rounds)
        type_sequence = None
        log(f"resuming after round {start_round} ({len(removed)} processor(s) removed)")
    given = _Evaluator(G, processors, parameters, sources, target, loss_fn, type_sequence)
    given_mix = given.mix(set())  # one render: the reference loss and the descriptors' mix
    if loss_before is None:
        with torch.no_grad():
            loss_before = float(loss_fn(given_mix, target))
        evaluations += 1
    guard = None
    if config.band_tolerance_db is not None or config.loudness_tolerance_lu is not None:
        guard = DescriptorGuard(
            given_mix, target, sample_rate, config.band_tolerance_db, config.loudness_tolerance_lu
        )
    refused = sum(r.get("descriptor_refusals", 0) for r in rounds)
    loss_now = rounds[-1]["loss"] if rounds else loss_before
    done = bool(rounds) and not rounds[-1]["removed"]

    stretch = None  # where the cost ranking renders, when not the whole song
    if (
        config.method == "hybrid"
        and config.order == "cost"
        and 0 < config.rank_samples < sources.shape[-1]
    ):
        stretch = _loudest_stretch(target, config.rank_samples)

    for r in range(start_round, config.rounds):
        if done:
            break
        began = time.perf_counter()
        limit = _limit(config, loss_before, rounds)
        evaluator = _Evaluator(
            current_G, processors, current, sources, target, loss_fn, type_sequence, guard
        )
        type_sequence = None
        candidates = [n for n in sorted(current_G.nodes) if _prunable(current_G, n, evaluator)]
        gates = _gate_mix(current, current_G)
        ranker = evaluator if stretch is None else evaluator.excerpt(*stretch)
        ranked = _ranking(ranker, candidates, gates, config, fit_config.progress)
        closed = _search_round(evaluator, candidates, ranked, limit, config)
        evaluations += evaluator.count + (ranker.count if ranker is not evaluator else 0)
        info = {
            "round": r + 1,
            "removed": [int(n) for n in closed],
            "renders": evaluator.count,
            "limit": limit,
            "descriptor_refusals": evaluator.refused,
        }
        refused += evaluator.refused
        if ranker is not evaluator:
            info["excerpt_renders"] = ranker.count
        if closed:
            current_G, current = remove_nodes(current_G, current, closed)
            removed += [int(n) for n in closed]
            loss_pruned = _Evaluator(current_G, processors, current, sources, target, loss_fn)
            loss_now = loss_pruned.loss(set())
            evaluations += 1
            info["loss_pruned"] = loss_now
            if config.finetune_steps and count_processors(current_G):
                checkpoint = None if state_path is None else str(state_path / f"finetune{r + 1}")
                tuned = fit_parameters(
                    current_G,
                    processors,
                    current,
                    sources,
                    target,
                    loss_fn,
                    dataclasses.replace(
                        fit_config, steps=config.finetune_steps, checkpoint=checkpoint
                    ),
                    penalties=penalties,
                )
                check = _Evaluator(
                    current_G, processors, tuned.parameters, sources, target, loss_fn, None, guard
                )
                tuned_mix = check.mix(set())
                with torch.no_grad():
                    loss_tuned = float(loss_fn(tuned_mix, target))
                evaluations += 1
                keeps = guard is None or guard.why_refused(tuned_mix) is None
                if loss_tuned < loss_now and keeps:  # keep the fine-tuning only when it helps
                    current, loss_now = tuned.parameters, loss_tuned
        elif config.recover_steps:
            # nothing passes as it is: remove the cheapest refused ones one at a time with some
            # fine-tuning first (the others may take over their work), keep the first within
            # the limit
            info["loss_pruned"] = loss_now
            for node in ranked[: config.patience]:
                trial_G, trial = remove_nodes(current_G, current, [node])
                if count_processors(trial_G):
                    trial = fit_parameters(
                        trial_G,
                        processors,
                        trial,
                        sources,
                        target,
                        loss_fn,
                        dataclasses.replace(fit_config, steps=config.recover_steps),
                        penalties=penalties,
                    ).parameters
                trial_check = _Evaluator(
                    trial_G, processors, trial, sources, target, loss_fn, None, guard
                )
                evaluations += 1
                if trial_check.accepts(set(), limit):
                    loss_trial = trial_check.loss(set())
                    current_G, current, loss_now = trial_G, trial, loss_trial
                    closed = [node]
                    removed.append(int(node))
                    info["removed"] = [int(node)]
                    info["recovered"] = True
                    break
            done = not closed
        else:
            done = True
            info["loss_pruned"] = loss_now
        info["loss"] = loss_now
        info["seconds"] = round(time.perf_counter() - began, 3)
        rounds.append(info)
        log(
            f"round {r + 1}: removed {len(closed)} ({len(removed)}/{num_processors} in all), "
            f"loss {loss_now:.5f} (limit {limit:.5f}), {evaluator.count} checks"
            + (f", {evaluator.refused} refused by the mix descriptors" if evaluator.refused else "")
        )
        if state_path is not None:
            _save_state(
                state_path,
                current_G,
                current,
                processors,
                {
                    **options,
                    "removed": removed,
                    "rounds": rounds,
                    "evaluations": evaluations,
                    "loss_before": loss_before,
                },
            )
    after = count_processors(current_G)
    per_type = {t: (n - after.get(t, 0), n) for t, n in before.items()}
    return PruneResult(
        graph=current_G,
        parameters=current,
        removed=removed,
        loss_before=loss_before,
        loss_after=loss_now,
        rho=len(removed) / num_processors,
        num_processors=num_processors,
        removed_per_type=per_type,
        rounds=rounds,
        evaluations=evaluations,
        refused_by_descriptors=refused,
    )


def _limit(config: PruneConfig, loss_before: float, rounds: list[dict]) -> float:
    """The highest loss a removal may leave: the tolerance around the reference loss."""
    reference = loss_before
    if config.reference == "best":
        reference = min([loss_before, *(r["loss"] for r in rounds)])
    if config.tolerance_mode == "absolute":
        return reference + config.tolerance
    return (1 + config.tolerance) * reference


def _prunable(G: Any, node: int, evaluator: _Evaluator) -> bool:
    node_type = G.nodes[node]["node_type"]
    if node_type in (*PROTECTED_TYPES, "mix"):
        return False
    config = G.config
    if (
        config is not None
        and node_type in config
        and (config.num_inlets[node_type] != config.num_outlets[node_type])
    ):
        return False
    return evaluator.closable(node, evaluator.renderer.processors)


def _save_state(path: Path, G: Any, parameters: Mapping, processors: Mapping, state: dict) -> None:
    from grafx.io import save_graph
    from grafx.io.atomic import atomic_write

    path.mkdir(parents=True, exist_ok=True)
    save_graph(G, path / _GRAPH, parameters, processors=processors)
    with atomic_write(path / _STATE) as file:  # written last: a state whose JSON exists is whole
        file.write(json.dumps({"format": "grafx-prune-state", "version": 1, **state}).encode())


def _load_state(path: Path, options: dict) -> tuple[Any, dict, dict]:
    from grafx.errors import GraphFileError
    from grafx.io import load_graph

    try:
        state = json.loads((path / _STATE).read_text())
    except (OSError, ValueError) as error:
        raise GraphFileError(f"{path / _STATE}: unreadable prune state: {error}") from None
    if state.get("format") != "grafx-prune-state":
        raise GraphFileError(f"{path / _STATE}: not a grafx prune state")
    old = {
        "band_tolerance_db": None,
        "loudness_tolerance_lu": None,
        "order": "gate",
        "recover_steps": 0,
        "tolerance_mode": "relative",
        "reference": "given",
        "rank_samples": 0,
    }  # what states written before these options did
    saved = {k: state.get(k, old.get(k)) for k in options}
    if saved != options:
        raise ConfigError(
            f"{path}: holds a pruning search with {saved}, not {options}; use another folder or "
            "start again (restart)"
        )
    G, parameters = load_graph(path / _GRAPH)
    return G, parameters or {}, state
