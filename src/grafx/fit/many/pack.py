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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grafx.data.rows import count_nodes_per_type
from grafx.errors import ConfigError, ParameterError
from grafx.fit.config import FitConfig, FitResult, check_audio
from grafx.fit.penalty import penalty_terms, prepare_penalties
from grafx.fit.trainer import Step, Trainer, move_target
from grafx.render.renderer import GraphRenderer

__all__ = ["PackedSong", "fit_packed"]


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


def fit_packed(songs: Sequence[PackedSong]) -> list[FitResult | Exception]:
    """Fit several songs in one batched graph; each song's fit is independent.

    Each song has its own :class:`~grafx.fit.trainer.Trainer` (optimiser, schedule, early
    stop, budgets, checkpoint, recovery from a non-finite step); a render step runs the songs
    whose crops have one length as one :class:`~grafx.render.GraphRenderer` of their graphs.

    Args:
        songs: the songs; their processors must be interchangeable (the first song's are used
            for the batch), e.g. consoles of one chain. One crop per step
            (``crops_per_step=1``) and the same ``torch`` seed for all.

    Returns:
        Per song, in order, its :class:`~grafx.fit.FitResult` or the exception that ended its fit
        (a loss or gradient still NaN after the trainer's rollbacks, bad audio); the other songs
        go on without it.

    Raises:
        ConfigError: options that cannot be packed.
        KeyboardInterrupt: re-raised after checkpointing every song's finished steps.
    """
    if not songs:
        return []
    _check_packable(songs)
    pack = _Pack(songs)
    try:
        while pack.active():
            pack.step(pack.active())
    except KeyboardInterrupt:
        for trainer in pack.trainers:
            if isinstance(trainer, Trainer):
                trainer.interrupted()
        raise
    return [t.finish() if isinstance(t, Trainer) else t for t in pack.trainers]


def _check_packable(songs: Sequence[PackedSong]) -> None:
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


def _start(song: PackedSong) -> Trainer:
    """The trainer of one song, as :func:`~grafx.fit.fit_parameters` starts it."""
    song.config.check()
    if song.timeline is not None:
        raise ConfigError(
            "a packed fit renders songs as one graph and cannot take automation curves; fit an "
            "automated song on its own (fit_parameters(..., timeline=...))"
        )
    num_in = count_nodes_per_type(song.G, ["in"])["in"]
    check_audio(song.sources, song.target, num_in)
    return Trainer(
        song.parameters,
        song.config,
        song.sources,
        song.target,
        callback=song.callback,
        progress=False,
    )


class _Pack:
    """The songs of a pack, their trainers (or what ended them) and the batched renderers."""

    def __init__(self, songs: Sequence[PackedSong]):
        self.songs = songs
        self.trainers: list[Trainer | Exception] = []
        for song in songs:
            try:
                self.trainers.append(_start(song))
            except Exception as error:  # noqa: BLE001 - reported per song, the pack goes on
                self.trainers.append(error)
        torch.manual_seed(songs[0].config.seed)
        self.penalties = dict(songs[0].penalties or {})
        self.processors = prepare_penalties(songs[0].processors, self.penalties)
        self.device = songs[0].sources.device
        for song in songs:
            song.target = move_target(song.target, song.loss_fn, self.device)
        self.renderers: dict[tuple[int, ...], GraphRenderer] = {}

    def active(self) -> list[int]:
        """The songs still fitting."""
        return [i for i, t in enumerate(self.trainers) if isinstance(t, Trainer) and not t.done]

    def trainer(self, index: int) -> Trainer:
        trainer = self.trainers[index]
        assert isinstance(trainer, Trainer)  # only active songs are stepped
        return trainer

    def renderer(self, members: Sequence[int]) -> GraphRenderer:
        """The renderer of these songs' graphs joined (made once per subset)."""
        key = tuple(members)
        if key not in self.renderers:
            sequences = {tuple(self.songs[i].type_sequence or ()) for i in members}
            fixed = list(next(iter(sequences))) if len(sequences) == 1 else []
            graphs = [self.songs[i].G for i in members]
            renderer = GraphRenderer(graphs, self.processors, fixed or None)
            self.renderers[key] = renderer.to(self.device)
        return self.renderers[key]

    def roll_back(self, index: int, problem: str) -> None:
        """Roll song ``index`` back; a song out of rollbacks leaves the pack with its error."""
        try:
            self.trainer(index).roll_back(problem)
        except ParameterError as error:
            self.trainers[index] = error

    def step(self, active: list[int]) -> None:
        """One step of every active song (songs of one render length rendered together)."""
        steps = {i: self.trainer(i).begin_step() for i in active}
        by_length: dict[int, list[int]] = {}
        for i in active:
            render_start, _, stop = steps[i].bounds[0]
            by_length.setdefault(stop - render_start, []).append(i)
        losses: dict[int, Tensor] = {}
        groups: list[tuple[list[int], dict[str, Tensor]]] = []
        for members in by_length.values():
            losses.update(self._render(members, steps, groups))
        finite = self._finite(losses, groups)
        if not finite:
            return
        objective = torch.stack([losses[i] for i in finite]).sum()
        for _, terms in groups:
            objective = sum(terms.values(), objective)
        objective.backward()
        for i in finite:
            try:
                self.trainer(i).end_step(losses[i])
            except ParameterError as error:
                self.trainers[i] = error

    def _render(
        self,
        members: list[int],
        steps: Mapping[int, Step],
        groups: list[tuple[list[int], dict[str, Tensor]]],
    ) -> dict[int, Tensor]:
        """Render these songs' crops as one graph; their losses, and the group's penalties."""
        crops = [
            self.songs[i].sources[..., steps[i].bounds[0][0] : steps[i].bounds[0][2]]
            for i in members
        ]
        mixes, intermediates = self.renderer(members)(crops, [steps[i].parameters for i in members])
        if self.penalties:
            # A batched penalty sums over every node of the batch: the songs' penalties summed.
            lead = steps[members[0]]
            terms = penalty_terms(
                self.penalties, lead.index, lead.progress, lead.parameters, intermediates
            )
            groups.append((members, terms))
        losses = {}
        for i, mix in zip(members, mixes.unbind(0), strict=True):
            render_start, start, stop = steps[i].bounds[0]
            song = self.songs[i]
            losses[i] = song.loss_fn(mix[..., start - render_start :], song.target[..., start:stop])
        return losses

    def _finite(
        self, losses: dict[int, Tensor], groups: list[tuple[list[int], dict[str, Tensor]]]
    ) -> list[int]:
        """The songs whose loss and penalties are finite; the others roll back.

        One device sync for every value (a non-finite song leaves the step before backward);
        a group whose penalty is not finite is left out of the objective.
        """
        terms = [(members, name, t) for members, group in groups for name, t in group.items()]
        tensors = [v.detach().reshape(()) for v in losses.values()]
        tensors += [t.detach().reshape(()).to(tensors[0].dtype) for _, _, t in terms]
        values = torch.stack(tensors).tolist()
        bad: dict[int, str] = {}
        for i, value in zip(losses, values, strict=False):
            if not math.isfinite(value):
                bad[i] = f"the loss is {value}"
        for (members, name, _), value in zip(terms, values[len(losses) :], strict=True):
            if not math.isfinite(value):
                bad.update({i: f"penalty {name!r} is {value}" for i in members if i not in bad})
                groups[:] = [g for g in groups if g[0] is not members]
        for i, problem in bad.items():
            self.roll_back(i, problem)
        return [i for i in losses if i not in bad]
