r"""Packing: fit several songs at once in one batched graph, each with its own optimiser.

The songs' graphs are joined by :func:`~grafx.data.batch_grafx` into one disjoint graph, so a
render step runs a processor once for the nodes of every song. The loss is the sum of the
songs' losses; as the graphs share no edge, the gradient of song ``i``'s parameters is the
gradient of its own loss, and each song keeps its own optimiser, learning-rate schedule, crops
(seeded by its own ``(seed, step)``), early stop and checkpoint. A packed fit is therefore the
same fit as :func:`~grafx.fit.fit_parameters` song by song, up to float rounding in the batched
processors, and its checkpoints resume either way.

Songs whose crops render different lengths in a step (a crop near the start has a shorter
warm-up) are rendered in separate batches for that step, so no song is ever zero-padded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grafx.device import move_processors
from grafx.errors import ConfigError, ParameterError
from grafx.fit.checkpoint import save_checkpoint, unflatten
from grafx.fit.loop import (
    FitConfig,
    FitResult,
    Plateau,
    _check_audio,
    _config_json,
    _cosine_rate,
    _step_values,
    crop_bounds,
    start_optimization,
)
from grafx.fit.penalty import PenaltyContext
from grafx.render.permute import ParameterPermuter


@dataclass
class PackedSong:
    """One song of a pack: what :func:`~grafx.fit.fit_parameters` would be called with."""

    G: Any
    processors: Mapping
    parameters: Mapping
    sources: Tensor
    target: Tensor
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    config: FitConfig
    type_sequence: Sequence[str] | None = None
    callback: Callable[[int, float], None] | None = None
    penalties: Mapping | None = None
    timeline: Any = None


@dataclass
class _State:
    song: PackedSong
    flat: dict[str, Tensor]
    scales: list[float]
    optimizer: torch.optim.Optimizer
    history: list[float]
    start: int
    checkpoint: Path | None
    step: int
    plateau: Plateau
    stopped_early: bool = False
    done: bool = False
    error: Exception | None = None
    stop_reason: str = "steps"
    elapsed_before: float = 0.0
    began: float = field(default_factory=time.perf_counter)
    fingerprint: dict = field(default_factory=dict)


def fit_packed(songs: Sequence[PackedSong]) -> list[FitResult | Exception]:
    """Fit several songs in one batched graph; each song's fit is independent.

    Args:
        songs: the songs; their processors must be interchangeable (the first song's are used
            for the batch), e.g. consoles of one chain. One crop per step
            (``crops_per_step=1``) and the same ``torch`` seed for all.

    Returns:
        Per song, in order, its :class:`~grafx.fit.FitResult` or the exception that ended its fit
        (a NaN loss or gradient, bad audio); the other songs go on without it.

    Raises:
        ConfigError: options that cannot be packed.
    """
    if not songs:
        return []
    seeds = {s.config.seed for s in songs}
    kinds = {
        tuple(sorted((k, type(p).__name__, p.weight) for k, p in (s.penalties or {}).items()))
        for s in songs
    }
    if len(kinds) != 1:
        raise ConfigError(f"fit_packed: the songs of a pack need the same penalties, got {kinds}")
    if len(seeds) != 1 or any(s.config.crops_per_step != 1 for s in songs):
        raise ConfigError(
            "fit_packed: the songs of a pack need one seed and crops_per_step=1, got seeds "
            f"{sorted(seeds)} and crops_per_step {[s.config.crops_per_step for s in songs]}"
        )
    states: list[_State] = []
    for song in songs:
        try:
            states.append(_start(song))
        except Exception as error:  # noqa: BLE001 - reported per song, the pack goes on
            states.append(_failed(song, error))
    torch.manual_seed(songs[0].config.seed)
    renderer = _PackRenderer(songs)
    try:
        while True:
            active = [i for i, s in enumerate(states) if not s.done]
            if not active:
                break
            _pack_step(renderer, states, active)
    except KeyboardInterrupt:
        for state in states:
            if not state.done and state.checkpoint is not None and len(state.history) > state.start:
                _save(state)
        raise
    results: list[FitResult | Exception] = []
    for state in states:
        if state.error is not None:
            results.append(state.error)
            continue
        if state.checkpoint is not None and len(state.history) > state.start:
            _save(state)
        fitted = unflatten({k: v.detach().clone() for k, v in state.flat.items()})
        elapsed = time.perf_counter() - state.began
        steps = len(state.history)
        results.append(
            FitResult(
                fitted,
                state.history,
                steps,
                state.stopped_early,
                elapsed,
                state.stop_reason,
                start=state.start,
                elapsed_total=_spent(state),
            )
        )
    return results


def _failed(song: PackedSong, error: Exception) -> _State:
    state = _State(song, {}, [], None, [], 0, None, 0, Plateau(0.0), done=True)  # type: ignore[arg-type]
    state.error = error
    return state


def _start(song: PackedSong) -> _State:
    """The optimiser and resume state of one song, as :func:`~grafx.fit.fit_parameters` sets up."""
    config = song.config
    config.check()
    if song.timeline is not None:
        raise ConfigError(
            "a packed fit renders songs as one graph and cannot take automation curves; fit an "
            "automated song on its own (fit_parameters(..., timeline=...))"
        )
    _check_audio(song.sources, song.target, _count_in(song.G))
    run = start_optimization(
        song.parameters, config, song.sources, song.target, song.sources.device
    )
    state = _State(
        song,
        run.flat,
        run.scales,
        run.optimizer,
        run.history,
        run.start,
        run.checkpoint,
        run.start,
        run.plateau,
        elapsed_before=run.elapsed_before,
        fingerprint=run.fingerprint,
    )
    state.done = run.finished is not None
    if run.finished is not None:
        state.stop_reason, state.stopped_early = run.finished, run.finished == "patience"
    return state


def _save(state: _State) -> None:
    if state.checkpoint is None:
        return
    save_checkpoint(
        state.checkpoint,
        state.flat,
        state.optimizer,
        len(state.history),
        state.history,
        {
            **_config_json(state.song.config),
            "elapsed": _spent(state),
            "fingerprint": state.fingerprint,
        },
    )


def _spent(state: _State) -> float:
    return state.elapsed_before + time.perf_counter() - state.began


def _pack_step(renderer: _PackRenderer, states: list[_State], active: list[int]) -> None:
    bounds, progress = {}, {}
    for i in active:
        state, config = states[i], states[i].song.config
        bounds[i] = crop_bounds(
            state.song.sources.shape[-1],
            config.crop_len,
            config.warmup_len,
            config.seed,
            state.step,
        )[0]
        budget = None if config.minutes is None else 60.0 * config.minutes
        step_progress = max(
            state.step / max(config.steps - 1, 1), _spent(state) / budget if budget else 0.0
        )
        progress[i] = step_progress
        rate = _cosine_rate(config, state.step, step_progress)
        for group, scale in zip(state.optimizer.param_groups, state.scales, strict=True):
            group["lr"] = rate * scale
        state.optimizer.zero_grad(set_to_none=True)
    by_length: dict[int, list[int]] = {}
    for i in active:
        render_start, _, stop = bounds[i]
        by_length.setdefault(stop - render_start, []).append(i)
    losses: dict[int, Tensor] = {}
    penalty_terms: list[Tensor] = []
    for members in by_length.values():
        nested = [unflatten(states[i].flat) for i in members]
        mixes, intermediates = renderer(members, bounds, nested)
        if renderer.penalties:
            # A batched penalty sums over every node of the batch: the songs' penalties summed.
            lead = states[members[0]]
            context = PenaltyContext(
                lead.step, min(progress[members[0]], 1.0), nested[0], intermediates
            )
            for penalty in renderer.penalties.values():
                penalty_terms.append(penalty.weight_at(context.progress) * penalty.value(context))
        for i, mix in zip(members, mixes, strict=True):
            render_start, start, stop = bounds[i]
            song = states[i].song
            losses[i] = song.loss_fn(mix[..., start - render_start :], song.target[..., start:stop])
    finite = []
    # One device sync for every song's loss (a NaN song must leave the batch before backward).
    values = torch.stack([losses[i].detach().reshape(()) for i in active]).tolist()
    for i, value in zip(active, values, strict=True):
        if math.isfinite(value):
            finite.append(i)
        else:
            _fail(states[i], ParameterError(f"fit step {states[i].step}: the loss is {value}"))
    if not finite:
        return
    objective = torch.stack([losses[i] for i in finite]).sum()
    term_values = (
        torch.stack([t.detach().reshape(()) for t in penalty_terms]).tolist()
        if penalty_terms
        else []
    )
    for term, term_value in zip(penalty_terms, term_values, strict=True):
        if not math.isfinite(term_value):
            for i in finite:
                _fail(
                    states[i],
                    ParameterError(f"fit step {states[i].step}: a penalty is {term_value}"),
                )
            return
        objective = objective + term
    objective.backward()
    for i in finite:
        state = states[i]
        checks = _step_values(losses[i], [], state.flat)  # one device sync per song
        bad = [name for name, ok in zip(state.flat, checks[1:], strict=True) if not ok]
        if bad:
            _fail(
                state,
                ParameterError(f"fit step {state.step}: the gradient of {bad[0]!r} is not finite"),
            )
            continue
        state.optimizer.step()
        value = checks[0]
        state.history.append(value)
        state.plateau.update(value)
        state.step += 1
        config = state.song.config
        if state.checkpoint is not None and state.step % config.checkpoint_every == 0:
            _save(state)
        if state.song.callback is not None:
            state.song.callback(state.step - 1, value)
        if config.patience is not None and state.plateau.since_best >= config.patience:
            state.stopped_early, state.stop_reason = True, "patience"
        elif config.minutes is not None and _spent(state) >= 60.0 * config.minutes:
            state.stop_reason = "minutes"
            state.done = True
        state.done = state.done or state.stopped_early or state.step >= config.steps


def _fail(state: _State, error: Exception) -> None:
    state.error, state.done = error, True


class _PackRenderer:
    """Renders any subset of the pack's songs as one batched graph (plans cached by subset)."""

    def __init__(self, songs: Sequence[PackedSong]):
        self.songs = songs
        self.penalties = dict(songs[0].penalties or {})
        processors = songs[0].processors
        for penalty in self.penalties.values():
            processors = penalty.prepare(processors)
        device = songs[0].sources.device
        for song in songs:
            song.target = song.target.to(device)
            if isinstance(song.loss_fn, torch.nn.Module):
                song.loss_fn.to(device)
        self.processors = move_processors(processors, device)
        self.plans: dict[tuple[int, ...], tuple[Any, Any]] = {}

    def _plan(self, members: tuple[int, ...]):
        if members not in self.plans:
            from grafx.data import batch_grafx, convert_to_tensor
            from grafx.render import prepare_render, reorder_for_fast_render

            graphs = [self.songs[i].G for i in members]
            G_t = convert_to_tensor(batch_grafx(graphs))
            sequences = {tuple(self.songs[i].type_sequence or ()) for i in members}
            if len(sequences) == 1 and () not in sequences:
                fixed = list(next(iter(sequences)))
                G_fast = reorder_for_fast_render(G_t, method="fixed", fixed_order=fixed)
            else:
                G_fast = reorder_for_fast_render(G_t, method="beam")
            self.plans[members] = (ParameterPermuter(G_t, G_fast), prepare_render(G_fast))
        return self.plans[members]

    def __call__(self, members: list[int], bounds: dict, parameters: Sequence[Mapping]):
        from grafx.render import render_grafx

        permute, render_data = self._plan(tuple(members))
        sources = torch.cat(
            [self.songs[i].sources[..., bounds[i][0] : bounds[i][2]] for i in members]
        )
        joined = _concat_rows(parameters)
        fast = permute(joined)
        output, intermediates = render_grafx(sources, self.processors, fast, render_data)
        return list(output.unbind(0)), intermediates  # one "out" node per song, in graph order


def _count_in(G: Any) -> int:
    return sum(1 for _, d in G.nodes(data=True) if d["node_type"] == "in")


def _concat_rows(trees: Sequence[Mapping]) -> dict:
    """Per-type parameters of a batch of graphs: each type's rows, graph after graph."""
    keys = list(dict.fromkeys(key for tree in trees for key in tree))
    joined: dict = {}
    for key in keys:
        values = [tree[key] for tree in trees if key in tree]
        joined[key] = torch.cat(values) if isinstance(values[0], Tensor) else _concat_rows(values)
    return joined
