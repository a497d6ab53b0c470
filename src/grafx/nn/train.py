r"""Training a :class:`~grafx.nn.predictor.MixPredictor` through the renderer, on songs drawn on
the fly.

Each step draws a batch of songs (:func:`draw_song`): two to six stems cut from a bank of demo
synthesiser loops (:func:`stem_bank`, :func:`grafx.synth.synthesize_multitrack`; a random stem, offset and
level each), a console of that many tracks with zero or one bus, and settings drawn uniformly
inside :data:`~grafx.nn.bounds.PHYSICAL_RANGES` (the gates' wet proportions too; the delay and
reverb levels from :data:`EFFECT_MIX`). The console renders the target; the predictor maps
(stems, target) to parameters; the songs are joined by :func:`grafx.data.batch_grafx` into
one graph (songs of different track counts together) and the prediction is rendered in one
pass; the loss is the recipe's :class:`~grafx.losses.MixLoss` of each song, plus, with
``param_weight``, the squared error of the bounded parameters (settings and gates, each
scaled by its range), which the drawn settings make known. Adam updates the network.

Songs come from a generator seeded with ``(seed, step)``, so a resumed run draws the songs an
uninterrupted one would. Checkpoints are :mod:`grafx.fit.checkpoint` files (safetensors and
JSON); progress goes to the ``grafx.nn.train`` logger; ``minutes`` and ``threads`` bound the
CPU a run takes.

Example (a tiny run):
    >>> config = TrainConfig(steps=1, batch_size=2, seconds=0.5, max_tracks=3, hidden=8, num_loops=1)
    >>> result = train_predictor(config)
    >>> result.steps, len(result.history)
    (1, 1)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from grafx.data import batch_grafx, convert_to_tensor
from grafx.errors import ConfigError
from grafx.fit.checkpoint import (
    checkpoint_exists,
    checkpoint_file,
    load_checkpoint,
    save_checkpoint,
)
from grafx.losses import MixLoss
from grafx.nn.bounds import GATE_RANGE, PHYSICAL_RANGES, parameter_bounds
from grafx.nn.features import mix_features
from grafx.nn.predictor import MixPredictor, model_from_config, save_predictor
from grafx.presets import (
    DEFAULT_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
)
from grafx.render import permute_parameters, prepare_render, render_grafx, reorder_for_fast_render
from grafx.render.renderer import render_mix
from grafx.synth import synthesize_multitrack

__all__ = [
    "TrainConfig",
    "TrainResult",
    "Song",
    "stem_bank",
    "draw_song",
    "train_predictor",
    "render_songs",
    "export_checkpoint",
]

logger = logging.getLogger(__name__)

#: Ranges of the wet proportion of the delay and the reverb in training songs.
EFFECT_MIX = {"delay": (0.01, 0.3), "reverb": (0.02, 0.4)}


@dataclass
class TrainConfig:
    """Options of :func:`train_predictor`.

    Attributes:
        steps: optimisation steps.
        batch_size: songs per step (rendered together as one batched graph).
        seconds: length of each song.
        sample_rate: in Hz.
        min_tracks, max_tracks: tracks per song, drawn uniformly.
        max_buses: buses per song, drawn uniformly from 0 to this.
        lr: Adam's learning rate at the first step.
        final_lr: the rate at the last step, a fraction of ``lr`` (a half cosine between).
        param_weight: weight of the parameter loss (0: audio loss only).
        num_loops: demo loops (four stems each) the songs are cut from (:func:`stem_bank`).
        chain: the console strip.
        hidden, rounds: the predictor's size (for a new predictor).
        seed: seeds the songs and the network's initial weights.
        minutes: wall-clock budget (``None``: none).
        threads: torch CPU threads during the run (``None``: leave as is).
        checkpoint: checkpoint path without extension (``None``: none).
        checkpoint_every: steps between checkpoints.
        resume: continue from ``checkpoint`` when it exists.
        log_every: steps between progress lines.
    """

    steps: int = 400
    batch_size: int = 4
    seconds: float = 2.0
    sample_rate: int = 16000
    min_tracks: int = 2
    max_tracks: int = 6
    max_buses: int = 1
    lr: float = 2e-3
    final_lr: float = 0.1
    param_weight: float = 0.5
    num_loops: int = 8
    chain: tuple[str, ...] = DEFAULT_CHAIN
    hidden: int = 64
    rounds: int = 3
    seed: int = 0
    minutes: float | None = None
    threads: int | None = None
    checkpoint: str | None = None
    checkpoint_every: int = 25
    resume: bool = True
    log_every: int = 10

    def check(self) -> None:
        """Raise :class:`~grafx.errors.ConfigError` naming the first bad option."""
        checks = {
            "steps": self.steps >= 1,
            "batch_size": 1 <= self.batch_size <= 64,
            "seconds": 0 < self.seconds <= 30,
            "sample_rate": 8000 <= self.sample_rate <= 96000,
            "min_tracks": 1 <= self.min_tracks <= self.max_tracks,
            "max_tracks": self.max_tracks <= 32,
            "max_buses": 0 <= self.max_buses <= 8,
            "lr": self.lr > 0,
            "final_lr": 0 <= self.final_lr <= 1,
            "param_weight": self.param_weight >= 0,
            "num_loops": 1 <= self.num_loops <= 64,
            "minutes": self.minutes is None or self.minutes > 0,
            "threads": self.threads is None or self.threads >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "log_every": self.log_every >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"training option {name}={getattr(self, name)!r} is out of range")


@dataclass
class TrainResult:
    """What :func:`train_predictor` returns: the model, the loss of every step, steps done."""

    model: MixPredictor
    history: list[float] = field(default_factory=list)
    steps: int = 0
    elapsed: float = 0.0


@dataclass
class Song:
    """One training song: console, stems ``(K, 2, L)``, target ``(2, L)``, true parameters."""

    G: Any
    type_sequence: list[str]
    stems: Tensor
    target: Tensor
    parameters: dict
    settings: dict


def stem_bank(sample_rate: int, num_loops: int = 8, seconds: float = 8.0) -> Tensor:
    """Stems to cut training songs from: ``num_loops`` demo loops (seeds 1000, 1001, ...) of
    four stems each, ``(4 * num_loops, 2, L)``."""

    loops = [
        synthesize_multitrack(sample_rate, seconds, seed=1000 + i)[0] for i in range(num_loops)
    ]
    return torch.cat(loops)


def _cut(rng: np.random.Generator, bank: Tensor, length: int) -> Tensor:
    index = int(rng.integers(bank.shape[0]))
    start = int(rng.integers(0, bank.shape[-1] - length + 1))
    return bank[index, :, start : start + length]


def _draw_settings(rng: np.random.Generator, node_type: str, bus: bool) -> dict:
    settings: dict[str, Any] = {}
    shrink = 0.5 if bus else 0.85  # buses move less; stay off the range ends
    for name, (low, high) in PHYSICAL_RANGES.get(node_type, {}).items():
        centre, half = (low + high) / 2, (high - low) / 2 * shrink
        if name == "eq_gains_db":
            settings[name] = list(rng.uniform(centre - half, centre + half, 4))
        else:
            settings[name] = float(rng.uniform(centre - half, centre + half))
    if node_type in EFFECT_MIX:
        low, high = EFFECT_MIX[node_type]
        settings["mix"] = float(rng.uniform(low, high * (0.5 if bus else 1.0)))
    elif rng.random() < 0.2:  # sometimes a processor is (nearly) bypassed
        settings["mix"] = float(rng.uniform(GATE_RANGE[0], 0.5))
    return settings


def draw_song(
    rng: np.random.Generator,
    processors: Mapping[str, Any],
    sample_rate: int = 16000,
    seconds: float = 2.0,
    num_tracks: int = 4,
    num_buses: int = 0,
    chain: Sequence[str] | None = None,
    bank: Tensor | None = None,
    render: bool = True,
) -> Song:
    """A random song: stems from the demo synthesiser and a target from random settings.

    Args:
        rng: the generator every random choice comes from.
        processors: the console's processors (for the parameters and the render).
        sample_rate, seconds: of the audio.
        num_tracks, num_buses: the console's size.
        chain: the strip (default: the processors' types).
        bank: stems to cut from (:func:`stem_bank`, at ``sample_rate``); default: a new one.
        render: render the target (``False`` leaves it empty, for :func:`render_songs`).
    """

    chain = list(processors) if chain is None else list(chain)
    length = int(round(seconds * sample_rate))
    if bank is None:
        bank = stem_bank(sample_rate, 2, seconds + 2.0)
    levels = 10 ** (rng.uniform(-12, 0, num_tracks) / 20)
    stems = torch.stack([_cut(rng, bank, length) * float(g) for g in levels])
    G, type_sequence = build_mixing_console(num_tracks, num_buses, chain)
    settings = {}
    for node in sorted(G.nodes):
        data = G.nodes[node]
        if data["node_type"] in processors:
            bus = data.get("name", "").startswith("bus")
            settings[node] = _draw_settings(rng, data["node_type"], bus)
    parameters = console_parameters(G, processors, sample_rate, settings)
    target = stems.new_zeros(0)
    if render:
        target = render_mix(G, processors, parameters, stems, type_sequence)
    return Song(G, type_sequence, stems, target, parameters, settings)


def render_songs(songs: Sequence[Song], processors: Mapping, parameters: Mapping) -> Tensor:
    """Render the batch of ``songs`` (``batch_grafx`` of their graphs) with ``parameters`` in
    the batch's node order: ``(S, C, L)``, song ``s``'s mix in row ``s``."""

    G = batch_grafx([s.G for s in songs])
    longest = max(songs, key=lambda s: len(s.type_sequence)).type_sequence
    G_t = convert_to_tensor(G)
    fast = reorder_for_fast_render(G_t, method="fixed", fixed_order=list(longest))
    output, _ = render_grafx(
        torch.cat([s.stems for s in songs]),
        processors,
        permute_parameters(parameters, G_t, fast),
        prepare_render(fast),
    )
    out_type = fast.config.node_type_to_index["out"] if fast.config is not None else None
    rows = torch.nonzero(fast.node_types == out_type).flatten()
    order = torch.argsort(fast.graph_ids[rows])
    return output[order]


def _batch_features(songs: Sequence[Song], sample_rate: int) -> tuple[Tensor, Tensor]:
    stem_f, target_f = [], []
    for song in songs:
        s, t = mix_features(song.stems, song.target, sample_rate)
        stem_f.append(s)
        target_f.append(t)
    return torch.cat(stem_f), torch.stack(target_f)


def _batched_tree(trees: Sequence[Mapping]) -> dict:
    first = trees[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, Tensor):
            out[key] = torch.cat([t[key] for t in trees])
        else:
            out[key] = _batched_tree([t[key] for t in trees])
    return out


def _parameter_loss(
    model: MixPredictor, predicted: Mapping, true: Mapping, bounds: Mapping
) -> Tensor | float:
    total: Tensor | float = 0.0
    count = 0
    for node_type in predicted:
        low, high, mask = bounds[node_type]
        mask = mask & (high > low)
        if not bool(mask.any()):
            continue
        p = model.layout.join(node_type, predicted[node_type])
        t = model.layout.join(node_type, true[node_type]).to(p)
        span = (high - low).to(p)
        error = ((p - t) / torch.where(mask, span, torch.ones_like(span)))[:, mask]
        total = total + error.square().sum()
        count += error.numel()
    return total / max(count, 1)


def train_predictor(
    config: TrainConfig, model: MixPredictor | None = None, out: str | Path | None = None
) -> TrainResult:
    """Train a predictor (a new one for ``config.chain`` unless ``model`` is given).

    Args:
        config: the options.
        model: a predictor to train further.
        out: where to write the trained model (:func:`~grafx.nn.predictor.save_predictor`);
            ``None``: not written.

    Returns:
        A :class:`TrainResult` (the history includes steps done before a resume).
    """

    config.check()
    began = time.perf_counter()
    threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        torch.manual_seed(config.seed)
        processors = console_processors(config.chain)
        if model is None:
            model = MixPredictor.for_console(
                config.chain,
                hidden=config.hidden,
                rounds=config.rounds,
                info={"trained": dataclasses.asdict(config)},
            )
        model.check_processors(processors)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        history: list[float] = []
        start = 0
        if config.checkpoint and config.resume and checkpoint_exists(config.checkpoint):
            state = load_checkpoint(config.checkpoint)
            model.load_state_dict(state["parameters"])
            optimizer.load_state_dict(state["optimizer_state"])
            history, start = state["history"], state["step"]
            logger.info("resumed from %s at step %d", config.checkpoint, start)
        bank = stem_bank(config.sample_rate, config.num_loops, config.seconds + 6.0)
        loss_fn = MixLoss(config.sample_rate)
        bounds = parameter_bounds(processors, model.layout, config.sample_rate)
        model.train()
        step = start
        for step in range(start, config.steps):
            if config.minutes is not None and time.perf_counter() - began > 60 * config.minutes:
                logger.info("time budget of %g min reached at step %d", config.minutes, step)
                break
            rng = np.random.default_rng([config.seed, step])
            songs = [
                draw_song(
                    rng,
                    processors,
                    config.sample_rate,
                    config.seconds,
                    int(rng.integers(config.min_tracks, config.max_tracks + 1)),
                    int(rng.integers(0, config.max_buses + 1)),
                    config.chain,
                    bank,
                    render=False,
                )
                for _ in range(config.batch_size)
            ]
            true = _batched_tree([s.parameters for s in songs])
            with torch.no_grad():
                for song, target in zip(songs, render_songs(songs, processors, true), strict=True):
                    song.target = target
            stem_f, target_f = _batch_features(songs, config.sample_rate)

            G = batch_grafx([s.G for s in songs])
            base = _batched_tree(
                [console_parameters(s.G, processors, config.sample_rate) for s in songs]
            )
            predicted = model(G, stem_f, target_f, base=base)
            mixes = render_songs(songs, processors, predicted)
            audio = sum(loss_fn(m, s.target) for m, s in zip(mixes, songs, strict=True))
            loss = audio / len(songs)
            if config.param_weight:
                loss = loss + config.param_weight * _parameter_loss(model, predicted, true, bounds)
            for group in optimizer.param_groups:
                progress = step / max(config.steps - 1, 1)
                cosine = 0.5 * (1 + math.cos(math.pi * progress))
                group["lr"] = config.lr * (config.final_lr + (1 - config.final_lr) * cosine)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            history.append(float(loss.detach()))
            step += 1
            if step % config.log_every == 0 or step == config.steps:
                recent = history[-config.log_every :]
                logger.info(
                    "step %d/%d: loss %.4f (mean of the last %d), %.0f s",
                    step,
                    config.steps,
                    sum(recent) / len(recent),
                    len(recent),
                    time.perf_counter() - began,
                )
            if config.checkpoint and (step % config.checkpoint_every == 0 or step == config.steps):
                _save(save_checkpoint, config, model, optimizer, step, history)
        if config.checkpoint and history:
            _save(save_checkpoint, config, model, optimizer, len(history), history)
        model.eval()
        if out is not None:
            save_predictor(model, out)
            logger.info("wrote %s.json and %s.safetensors", out, out)
        return TrainResult(model, history, len(history), time.perf_counter() - began)
    finally:
        torch.set_num_threads(threads)


def _save(save_checkpoint, config, model, optimizer, step, history) -> None:
    Path(config.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    flat = dict(model.state_dict())
    extra = {"model": model.config(), "train": dataclasses.asdict(config)}
    save_checkpoint(config.checkpoint, flat, optimizer, step, history, extra)


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> MixPredictor:
    """Write the model of a training checkpoint (``checkpoint`` without extension) as model
    files ``out.json`` and ``out.safetensors``; returns the model."""

    state = load_checkpoint(checkpoint)
    model = model_from_config(state["extra"].get("model"), str(checkpoint_file(checkpoint)))
    info = dict(model.info)
    info["steps"] = int(state["step"])
    model.info = info
    model.load_state_dict(state["parameters"])
    model.eval()
    save_predictor(model, out)
    return model
