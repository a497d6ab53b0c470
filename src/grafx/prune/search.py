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

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError, GraphError
from grafx.fit import FitConfig, fit_parameters
from grafx.gates import GateSparsity, gated_nodes
from grafx.losses import default_mix_loss
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.progress import LOGGER as PROGRESS_LOGGER
from grafx.prune.evaluator import DescriptorGuard, Evaluator, count_processors, floating_dtype
from grafx.prune.ranking import loudest_stretch as _loudest_stretch
from grafx.prune.ranking import prunable, removal_limit
from grafx.prune.ranking import rank_candidates as _ranking
from grafx.prune.ranking import search_round as _search_round
from grafx.prune.rewire import remove_nodes
from grafx.prune.state import STATE_FILE, PruneState, load_state, save_state

__all__ = [
    "METHODS",
    "ORDERS",
    "REFERENCES",
    "PruneConfig",
    "PruneResult",
    "PruneContext",
    "PruneState",
    "RoundResult",
    "DescriptorGuard",
    "prune_graph",
    "start_search",
    "prune_round",
    "search_result",
    "count_processors",
]

LOGGER = logging.getLogger(__name__)

METHODS = ("brute", "drywet", "hybrid")
ORDERS = ("cost", "gate")
REFERENCES = ("given", "best")


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
        recover_steps: when a round's search removes nothing, try its candidates one at a
            time in ranking order, each removed and the survivors fine-tuned this many steps
            before the check (the others may take over the removed one's work, and a short fit
            goes on improving), keeping each that passes the loss limit and the descriptors and
            going on from it, until ``patience`` refusals in a row; 0: no such tries, the
            paper's search. Default 50.
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
        stft_tolerance: a removal is refused when the mix's STFT distance to the target
            (:data:`grafx.metrics.STFT_DISTANCE_SETTINGS`) exceeds (1 + this) times the
            given graph's (``None``: no check); see :class:`DescriptorGuard`.
        band_rms_tolerance: a removal is refused when the rms of the mix's mid band-level
            errors (the bands ``band_tolerance_db`` checks) exceeds (1 + this) times the
            given graph's (``None``: no check): the per-band rule alone lets every band drift
            by up to ``band_tolerance_db``.
    """

    tolerance: float = 0.01
    method: str = "hybrid"
    rounds: int = 12
    finetune_steps: int = 500
    patience: int = 3
    sparsity: float = 1e-4
    order: str = "cost"
    recover_steps: int = 50
    tolerance_mode: str = "relative"
    reference: str = "given"
    rank_samples: int = 0
    band_tolerance_db: float | None = 1.0
    loudness_tolerance_lu: float | None = 0.5
    stft_tolerance: float | None = 0.05
    band_rms_tolerance: float | None = 0.05

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
        for name in (
            "band_tolerance_db",
            "loudness_tolerance_lu",
            "stft_tolerance",
            "band_rms_tolerance",
        ):
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


@dataclass
class PruneContext:
    """What stays fixed over a pruning search's rounds (made by :func:`start_search`).

    Attributes:
        processors: ``{type: nn.Module}``.
        sources, target: the stems ``(K, C, L)`` and the mix ``(C', L)``, on one device.
        loss_fn: ``loss(estimate, target)``.
        config: the search's :class:`PruneConfig` (checked).
        fit_config: the fine-tuning's :class:`~grafx.fit.FitConfig`.
        penalties: the fine-tuning's penalties (the gate sparsity, if any).
        guard: the mix descriptors' check (``None``: none).
        stretch: ``(start, stop)`` of the excerpt the cost ranking renders (``None``: the
            whole song).
        state_dir: where the state is saved after every round (``None``: nowhere).
        before: processors per type of the graph as given.
        log: called with one line per round.
        timeline: the :class:`~grafx.automation.Timeline` of an automated graph's curves over
            ``sources`` (``None``: a static graph); every render and fine-tuning uses it.
    """

    processors: Mapping[str, nn.Module]
    sources: Tensor
    target: Tensor
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    config: PruneConfig
    fit_config: Any
    penalties: dict[str, Any]
    guard: DescriptorGuard | None
    stretch: tuple[int, int] | None
    state_dir: Path | None
    before: dict[str, int]
    log: Callable[[str], None]
    timeline: Any = None

    @property
    def num_processors(self) -> int:
        """Processors of the graph as given."""
        return sum(self.before.values())

    def options(self) -> dict[str, Any]:
        """The search options a saved state must have been made with to be resumed."""
        config = self.config
        return {
            "tolerance": config.tolerance,
            "method": config.method,
            "order": config.order,
            "recover_steps": config.recover_steps,
            "tolerance_mode": config.tolerance_mode,
            "reference": config.reference,
            "rank_samples": config.rank_samples,
            "band_tolerance_db": config.band_tolerance_db,
            "loudness_tolerance_lu": config.loudness_tolerance_lu,
            "stft_tolerance": config.stft_tolerance,
            "band_rms_tolerance": config.band_rms_tolerance,
        }

    def evaluator(
        self,
        G: Any,
        parameters: Mapping,
        type_sequence: list[str] | None = None,
        guard: bool = False,
    ) -> Evaluator:
        """An :class:`~grafx.prune.evaluator.Evaluator` of ``G`` on the search's audio (with
        the descriptor guard when ``guard``)."""
        return Evaluator(
            G,
            self.processors,
            parameters,
            self.sources,
            self.target,
            self.loss_fn,
            type_sequence,
            self.guard if guard else None,
            timeline=self.timeline,
        )


@dataclass
class RoundResult:
    """What one :func:`prune_round` did.

    Attributes:
        number: the round's number (1 for the first).
        removed: the nodes it removed, in order.
        loss: the graph's loss after it (after fine-tuning, where that helped).
        limit: the highest loss a removal could leave in it.
        checks: full-length loss checks of its search.
        refused: removals within the limit that the mix descriptors refused.
        record: its entry of :attr:`PruneResult.rounds`.
    """

    number: int
    removed: list[int]
    loss: float
    limit: float
    checks: int
    refused: int
    record: dict

    def line(self, removed_in_all: int, num_processors: int) -> str:
        """One line for the log."""
        refused = f", {self.refused} refused by the mix descriptors" if self.refused else ""
        return (
            f"round {self.number}: removed {len(self.removed)} ({removed_in_all}/"
            f"{num_processors} in all), loss {self.loss:.5f} (limit {self.limit:.5f}), "
            f"{self.checks} checks{refused}"
        )


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
    timeline: Any = None,
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
        log: called with one line per round (default: this module's logger, at ``INFO``).
        sample_rate: the audio's rate in Hz (the default loss and the mix descriptors of the
            acceptance rule need it); ``None``: ``loss_fn.sample_rate`` where the loss has
            one (:class:`~grafx.losses.MixLoss`, :class:`~grafx.losses.BandLoss`), else
            44.1 kHz.
        timeline: for an automated graph (parameters given as curves, see
            :mod:`grafx.automation`), the :class:`~grafx.automation.Timeline` of its curves over
            ``sources``: candidates are scored by rendering with it, a node whose gate moves
            stays a candidate (ranked by the widest its gate opens), a removed node's curves
            go with its rows and the survivors keep theirs. Edge gates that are curves join
            exactly at the knots (:mod:`grafx.prune.rewire`).

    Returns:
        A :class:`PruneResult`.

    Raises:
        ConfigError: a bad option; ``"drywet"``/``"hybrid"`` on a graph without gates; a saved
            state made with other options.
        GraphError: the graph has no processor to prune.
    """
    config = dataclasses.replace(config or PruneConfig(), **overrides)
    config.check()
    context, state = start_search(
        G,
        processors,
        parameters,
        sources,
        target,
        config,
        loss_fn=loss_fn,
        fit_config=fit_config,
        type_sequence=type_sequence,
        state_dir=state_dir,
        log=log or LOGGER.info,
        sample_rate=sample_rate,
        timeline=timeline,
    )
    while len(state.rounds) < config.rounds and not state.done:
        outcome = prune_round(state, context)
        context.log(outcome.line(len(state.removed), context.num_processors))
        if context.state_dir is not None:
            save_state(context.state_dir, state, processors, context.options())
    return search_result(state, context)


def start_search(
    G: Any,
    processors: Mapping[str, nn.Module],
    parameters: Mapping,
    sources: Tensor,
    target: Tensor,
    config: PruneConfig,
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    fit_config: Any = None,
    type_sequence: list[str] | None = None,
    state_dir: str | Path | None = None,
    log: Callable[[str], None] = LOGGER.info,
    sample_rate: float | None = None,
    timeline: Any = None,
) -> tuple[PruneContext, PruneState]:
    """The context of a search and its state before the first round to run: the given graph
    scored (one render), or the state saved in ``state_dir`` (arguments as in
    :func:`prune_graph`; ``config`` is taken as checked).

    Raises:
        ConfigError: ``"drywet"``/``"hybrid"`` on a graph without gates; a saved state made with
            other options.
        GraphError: the graph has no processor to prune.
    """
    if sample_rate is None:  # the loss's own rate (MixLoss, BandLoss) when it has one
        sample_rate = getattr(loss_fn, "sample_rate", None) or 44100
    loss_fn = loss_fn or default_mix_loss(sample_rate)
    # Every render, loss and fine-tuning runs where the audio is.
    target = target.to(sources.device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(sources.device)
    _check_graph(G, parameters, config)
    context = PruneContext(
        processors=processors,
        sources=sources,
        target=target,
        loss_fn=loss_fn,
        config=config,
        fit_config=fit_config
        or FitConfig(progress=False, crop_len=None if sources.shape[-1] <= 2**15 else 2**15),
        penalties={"sparsity": GateSparsity(config.sparsity, ramp=0.0)} if config.sparsity else {},
        guard=None,
        stretch=None,
        state_dir=None if state_dir is None else Path(state_dir),
        before=count_processors(G),
        log=log,
        timeline=timeline,
    )
    state = None
    if context.state_dir is not None:
        context.state_dir.mkdir(parents=True, exist_ok=True)
        if (context.state_dir / STATE_FILE).exists():
            # A saved state is read onto the CPU; the search goes on where its audio is.
            device, dtype = sources.device, floating_dtype(parameters)
            state = load_state(context.state_dir, context.options(), device, dtype)
            log(
                f"resuming after round {len(state.rounds)} ({len(state.removed)} processor(s) removed)"
            )
    given_mix = context.evaluator(G, parameters, None if state else type_sequence).mix(set())
    if state is None:
        with torch.no_grad():
            loss_before = float(loss_fn(given_mix, target))
        state = PruneState(G, dict(parameters.items()), loss_before, loss_before, evaluations=1)
        state.type_sequence = type_sequence
    tolerances = (config.band_tolerance_db, config.loudness_tolerance_lu, config.stft_tolerance)
    if any(t is not None for t in (*tolerances, config.band_rms_tolerance)):
        context.guard = DescriptorGuard(
            given_mix,
            target,
            sample_rate,
            *tolerances,
            band_rms_tolerance=config.band_rms_tolerance,
        )
    if (
        config.method == "hybrid"
        and config.order == "cost"
        and 0 < config.rank_samples < sources.shape[-1]
    ):
        context.stretch = _loudest_stretch(target, config.rank_samples)
    return context, state


def _check_graph(G: Any, parameters: Mapping, config: PruneConfig) -> None:
    if not count_processors(G):
        raise GraphError("the graph has no processor to prune (only 'in', 'out' and 'mix' nodes)")
    if config.method != "brute" and not any(
        hasattr(v, "items") and DRYWET_KEY in v for v in parameters.values()
    ):
        raise ConfigError(
            f"method {config.method!r} ranks processors by their dry/wet gates and the graph has "
            "none; gate it (grafx.gates.add_node_gates) and fit it, or use method='brute'"
        )


def prune_round(state: PruneState, context: PruneContext) -> RoundResult:
    """Run one round of the search on ``state`` (changed in place): rank the candidates, remove
    the longest run of them that stays within the round's limit, fine-tune what is left.

    A round that removes nothing (even with ``recover_steps``) sets ``state.done``.
    """
    config = context.config
    number = len(state.rounds) + 1
    began = time.perf_counter()
    limit = removal_limit(config, state.loss_before, state.rounds)
    evaluator = context.evaluator(state.graph, state.parameters, state.type_sequence, guard=True)
    state.type_sequence = None
    candidates = [n for n in sorted(state.graph.nodes) if prunable(state.graph, n, evaluator)]
    ranker = evaluator if context.stretch is None else evaluator.excerpt(*context.stretch)
    progress = bool(getattr(context.fit_config, "progress", False))
    if progress and config.method == "hybrid" and config.order == "cost":
        PROGRESS_LOGGER.info(
            f"prune round {number}: measuring the cost of {len(candidates)} candidate(s), one "
            "render each"
        )
    gates = gated_nodes(state.parameters, state.graph)
    ranked = _ranking(ranker, candidates, gates, config, progress)
    closed = _search_round(evaluator, candidates, ranked, limit, config)
    state.evaluations += evaluator.count + (ranker.count if ranker is not evaluator else 0)
    record: dict[str, Any] = {
        "round": number,
        "removed": [int(n) for n in closed],
        "renders": evaluator.count,
        "limit": limit,
        "descriptor_refusals": evaluator.refused,
    }
    state.refused += evaluator.refused
    if ranker is not evaluator:
        record["excerpt_renders"] = ranker.count
    if closed:
        _remove_and_finetune(state, context, closed, number, record)
    elif config.recover_steps:
        record["loss_pruned"] = state.loss
        closed = _recover(state, context, list(ranked), limit, record)
        state.done = not closed
    else:
        state.done = True
        record["loss_pruned"] = state.loss
    record["loss"] = state.loss
    record["seconds"] = round(time.perf_counter() - began, 3)
    state.rounds.append(record)
    return RoundResult(
        number, closed, state.loss, limit, evaluator.count, evaluator.refused, record
    )


def _remove_and_finetune(
    state: PruneState, context: PruneContext, closed: list[int], number: int, record: dict
) -> None:
    """Remove ``closed`` from the state's graph and fine-tune the survivors, keeping the
    fine-tuning only when it lowers the loss and passes the mix descriptors."""
    state.graph, state.parameters = remove_nodes(state.graph, state.parameters, closed)
    state.removed += [int(n) for n in closed]
    state.loss = context.evaluator(state.graph, state.parameters).loss(set())
    state.evaluations += 1
    record["loss_pruned"] = state.loss
    steps = context.config.finetune_steps
    if not steps or not count_processors(state.graph):
        return
    checkpoint = None if context.state_dir is None else str(context.state_dir / f"finetune{number}")
    tuned = fit_parameters(
        state.graph,
        context.processors,
        state.parameters,
        context.sources,
        context.target,
        context.loss_fn,
        dataclasses.replace(context.fit_config, steps=steps, checkpoint=checkpoint),
        penalties=context.penalties,
        timeline=context.timeline,
    )
    tuned_mix = context.evaluator(state.graph, tuned.parameters, guard=True).mix(set())
    with torch.no_grad():
        loss_tuned = float(context.loss_fn(tuned_mix, context.target))
    state.evaluations += 1
    keeps = context.guard is None or context.guard.why_refused(tuned_mix) is None
    if loss_tuned < state.loss and keeps:  # keep the fine-tuning only when it helps
        state.parameters, state.loss = dict(tuned.parameters), loss_tuned


def _recover(
    state: PruneState, context: PruneContext, nodes: list[int], limit: float, record: dict
) -> list[int]:
    """When nothing passes as it is: remove each of ``nodes`` in turn with some fine-tuning
    first (the others may take over its work), keeping each that passes ``limit`` and the
    descriptors and going on from the graph without it, until ``patience`` refusals in a row;
    returns the nodes removed (``[]`` when none passes)."""
    config = context.config
    removed: list[int] = []
    refused = 0
    for node in nodes:
        if refused >= config.patience:
            break
        trial_G, trial = remove_nodes(state.graph, state.parameters, [node])
        if count_processors(trial_G):
            trial = fit_parameters(
                trial_G,
                context.processors,
                trial,
                context.sources,
                context.target,
                context.loss_fn,
                dataclasses.replace(context.fit_config, steps=config.recover_steps),
                penalties=context.penalties,
                timeline=context.timeline,
            ).parameters
        check = context.evaluator(trial_G, trial, guard=True)
        state.evaluations += 1
        if check.accepts(set(), limit):
            state.graph, state.parameters, state.loss = trial_G, dict(trial), check.loss(set())
            state.removed.append(int(node))
            removed.append(int(node))
            refused = 0
        else:
            refused += 1
            state.refused += check.refused
            record["descriptor_refusals"] += check.refused
    if removed:
        record["removed"] = removed
        record["recovered"] = True
    return removed


def search_result(state: PruneState, context: PruneContext) -> PruneResult:
    """The :class:`PruneResult` of a search in ``state``."""
    after = count_processors(state.graph)
    return PruneResult(
        graph=state.graph,
        parameters=state.parameters,
        removed=state.removed,
        loss_before=state.loss_before,
        loss_after=state.loss,
        rho=len(state.removed) / context.num_processors,
        num_processors=context.num_processors,
        removed_per_type={t: (n - after.get(t, 0), n) for t, n in context.before.items()},
        rounds=state.rounds,
        evaluations=state.evaluations,
        refused_by_descriptors=state.refused,
    )
