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

Automated songs (``timeline``, see :mod:`grafx.automation`) each keep their own knots over their
own length. One render takes one timeline, so before each batched render every song's curves
are evaluated at its crop's own times (the crop's samples and the centres of its control
blocks, exactly as its render alone would evaluate them) and handed to the engine as curves
whose knots are those times, shared by the batch (:func:`sample_grid`): the engine reads each
value back unchanged, and the gradient reaches each song's own knots. A song's static
parameter of a key that another song automates enters as a flat curve, which renders like the
static value bit for bit. A penalty on parameters (the gates' sparsity, the curves'
smoothness) is each song's own, on its own parameters; one on the render's signals (gain
staging) is computed once on the batch, which sums it over the songs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grafx.automation import Timeline, curve_keys, interpolate_curve
from grafx.automation.expand import CONTROLS, control_block, time_varying_keys
from grafx.data.rows import count_nodes_per_type
from grafx.errors import ConfigError, ParameterError
from grafx.fit.config import FitConfig, FitResult, check_audio
from grafx.fit.penalty import penalty_terms, prepare_penalties
from grafx.fit.trainer import Step, Trainer, move_target
from grafx.render.renderer import GraphRenderer

__all__ = ["PackedSong", "fit_packed", "sample_grid"]


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
    timeline: Any = None  # the Timeline of its curves over its own sources (None: static)


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
    rates = {float(s.timeline.sample_rate) for s in songs if s.timeline is not None}
    if len(rates) > 1:
        raise ConfigError(
            f"fit_packed: the automated songs of a pack need one rate, got timelines at {rates}"
        )


def _start(song: PackedSong) -> Trainer:
    """The trainer of one song, as :func:`~grafx.fit.fit_parameters` starts it."""
    song.config.check()
    if song.timeline is not None and not isinstance(song.timeline, Timeline):
        raise ConfigError(
            f"fit_packed: a song's timeline must be a grafx.automation.Timeline, got "
            f"{type(song.timeline).__name__}"
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
        self.grids: dict[tuple[int, torch.dtype], tuple[Timeline, Tensor]] = {}
        self.blocks = _control_blocks(self.processors)
        rates = [s.timeline.sample_rate for s in songs if s.timeline is not None]
        self.rate = rates[0] if rates else None

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
        parameters = [steps[i].parameters for i in members]
        timeline = None
        if any(self.songs[i].timeline is not None for i in members):
            parameters, timeline = self._on_grid(members, steps, parameters, crops[0].shape[-1])
        mixes, intermediates = self.renderer(members)(crops, parameters, timeline)
        if self.penalties:
            # A penalty on the render's signals sums over every node of the batch: the songs'
            # penalties summed. One on parameters is each song's own, on its own parameters
            # (and curves, which have their own knots).
            lead = steps[members[0]]
            batched = {k: p for k, p in self.penalties.items() if p.reads_render}
            terms = penalty_terms(
                batched, lead.index, lead.progress, lead.parameters, intermediates
            )
            for name, penalty in self.penalties.items():
                if not penalty.reads_render:
                    terms[name] = _song_penalty(
                        [(self.songs[i].penalties or {}).get(name) for i in members],
                        name,
                        [steps[i] for i in members],
                    )
            groups.append((members, terms))
        losses = {}
        for i, mix in zip(members, mixes.unbind(0), strict=True):
            render_start, start, stop = steps[i].bounds[0]
            song = self.songs[i]
            losses[i] = song.loss_fn(mix[..., start - render_start :], song.target[..., start:stop])
        return losses

    def _on_grid(
        self,
        members: list[int],
        steps: Mapping[int, Step],
        parameters: Sequence[Mapping],
        length: int,
    ) -> tuple[list[dict], Timeline]:
        """The members' parameters with every automated key a curve on the crops' shared grid
        (see the module docstring), and the grid's timeline."""
        like = next(t for t in _tensors(parameters[0]))
        grid, seconds = self.grid(length, like.dtype)
        names: set[str] = set()
        for i in members:
            if self.songs[i].timeline is not None:
                names.update(curve_keys(steps[i].parameters, self.processors))
        result = []
        for i, tree in zip(members, parameters, strict=True):
            song = self.songs[i]
            moving = set(curve_keys(tree, self.processors)) if song.timeline is not None else set()
            crop = None if song.timeline is None else song.timeline.crop(steps[i].bounds[0][0])
            result.append(_tree_on_grid(tree, names, moving, crop, seconds, grid.num_knots))
        return result, grid

    def grid(self, length: int, dtype: torch.dtype) -> tuple[Timeline, Tensor]:
        """:func:`sample_grid` of a crop of ``length`` samples (made once per length)."""
        key = (length, dtype)
        if key not in self.grids:
            assert self.rate is not None  # only automated packs use a grid
            self.grids[key] = sample_grid(length, self.rate, self.blocks, dtype)
        return self.grids[key]

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


def sample_grid(
    length: int, sample_rate: float, blocks: Sequence[int] = (), dtype: torch.dtype = torch.float32
) -> tuple[Timeline, Tensor]:
    """The knots at which a render of ``length`` samples evaluates curves: every sample, and the
    centre of every control block of each size in ``blocks`` (see
    :mod:`grafx.automation.expand`), as a :class:`~grafx.automation.Timeline` from 0 and the
    same times ``(K,)`` in float64 seconds.

    Each knot time is computed as the render computes its sample and block times, so a curve
    given at these knots is read back at each of them unchanged.

    Raises:
        ConfigError: a crop so long that two knots fall on one time in ``dtype``.
    """
    halves = set(range(0, 2 * length, 2))  # times in half samples: samples, block centres
    for block in blocks:
        halves.update(2 * m * block + block - 1 for m in range(-(-length // block)))
    twice = 2.0 * float(sample_rate)
    knots = tuple(u / twice for u in sorted(halves))
    seconds = torch.tensor(knots, dtype=torch.float64)
    if not bool((seconds.to(dtype).diff() > 0).all()):
        raise ConfigError(
            f"fit_packed: crops of {length} samples are too long to pack automated songs in "
            f"{dtype} (two knot times round to one); use shorter crops or float64"
        )
    return Timeline(knots, sample_rate), seconds


def _control_blocks(processors: Mapping) -> list[int]:
    """The control block sizes of the processors' ``"block"`` time-varying parameters."""
    blocks = set()
    for processor in processors.values():
        controls = set(time_varying_keys(processor).values())
        if controls - set(CONTROLS):
            continue  # the render names the bad control
        if "block" in controls:
            blocks.add(control_block(processor))
    return sorted(blocks)


def _tree_on_grid(
    tree: Mapping,
    names: set[str],
    moving: set[str],
    crop: Timeline | None,
    seconds: Tensor,
    num_knots: int,
) -> dict:
    """``tree`` with each entry named in ``names`` a curve at the grid's knots: evaluated from
    the song's own curve (``moving``, over its ``crop``), or its static value held flat."""

    def on_grid(value: Tensor, name: str) -> Tensor:
        if name in moving:
            assert crop is not None  # only an automated song has moving entries
            times = (crop.start + seconds).to(value.dtype)
            return interpolate_curve(value, crop.knot_tensor(value), times, crop.method)
        return value[..., None].expand(*value.shape, num_knots)

    result: dict = {}
    for node_type, value in tree.items():
        if isinstance(value, Tensor):
            result[node_type] = on_grid(value, node_type) if node_type in names else value
        elif isinstance(value, Mapping):
            result[node_type] = {
                k: on_grid(v, f"{node_type}/{k}") if f"{node_type}/{k}" in names else v
                for k, v in value.items()
            }
        else:
            result[node_type] = value
    return result


def _tensors(tree: Any) -> Any:
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, Mapping):
        for value in tree.values():
            yield from _tensors(value)


def _song_penalty(penalties: list[Any], name: str, steps: list[Step]) -> Tensor:
    """The sum over songs of each one's own penalty ``name`` on its own parameters."""
    total: Tensor | None = None
    for penalty, step in zip(penalties, steps, strict=True):
        if penalty is None:
            continue
        term = penalty_terms({name: penalty}, step.index, step.progress, step.parameters, None)
        total = term[name] if total is None else total + term[name]
    assert total is not None  # the pack's penalties are every song's (_check_packable)
    return total
