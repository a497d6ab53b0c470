r"""What a fit is asked and what it returns: :class:`FitConfig`, :class:`FitResult`, the crops,
the learning-rate schedule, and the checks of a fit's audio and options.

The learning rate follows half a cosine over the fit's progress (steps or time, whichever is
further along):

.. math:: \eta(p) = \eta_0 \left(f + (1 - f)\,\tfrac{1}{2}(1 + \cos \pi p)\right)

with :math:`\eta_0` = ``lr`` and :math:`f` = ``final_lr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from grafx.errors import AudioError, ConfigError

__all__ = [
    "AFRESH",
    "OPTIMIZERS",
    "SILENCE_PEAK",
    "FitConfig",
    "FitResult",
    "ResumeError",
    "check_audio",
    "check_crop",
    "crop_bounds",
    "learning_rate",
]

#: Peak below which stems or a target count as silent (-120 dBFS).
SILENCE_PEAK = 1e-6

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}

#: How a refused resume says to start afresh.
AFRESH = "start afresh with --restart (resume=False) or another output folder"


class ResumeError(ConfigError):
    """A checkpoint that cannot be resumed: of another fit, or unreadable."""


@dataclass
class FitConfig:
    """Options of :func:`~grafx.fit.loop.fit_parameters` (and of each song of a packed fit).

    Attributes:
        steps: maximum number of optimisation steps (at least 1).
        minutes: wall-clock budget in minutes (``None``: none); the fit stops at whichever of
            ``steps`` and ``minutes`` comes first, and the learning-rate schedule follows
            whichever is further along.
        lr: learning rate (at the first step).
        final_lr: learning rate at the last step, as a fraction of ``lr``; the rate follows a
            half cosine from ``lr`` to ``final_lr * lr`` (1 keeps it constant).
        optimizer: ``"adamw"`` (the mixing-graphs recipe's) or ``"adam"``.
        weight_decay: AdamW's decoupled weight decay (pulls parameters towards 0; 0 by
            default, since 0 is not every console parameter's neutral value).
        crop_len: samples scored per step; ``None`` uses the whole audio. Longer than the
            audio is an error.
        warmup_len: samples rendered before each crop and not scored (fewer at the very start
            of the audio, where the state is the true initial state anyway).
        crops_per_step: crops rendered together (as a 4-D source batch) per step.
        seed: seeds the crops and torch's global generator.
        patience: stop when the smoothed loss has not improved by ``min_delta`` (relative) for
            this many steps; ``None`` never stops early.
        min_delta: relative improvement that resets the patience counter.
        checkpoint: path (without extension) to checkpoint to; ``None`` for none.
        checkpoint_every: steps between checkpoints (one is always written at the end); the
            state a non-finite step rolls back to is kept in memory at the same steps.
        resume: continue from ``checkpoint`` if it exists.
        progress: show the progress (:class:`~grafx.progress.Progress`: a bar on a terminal,
            a log line every few seconds elsewhere) with the loss.
        lr_scale: learning-rate multipliers by parameter name prefix, e.g.
            ``{"gain_pan": 4.0, "eq/log_gain": 0.5}`` (longest matching prefix wins). Level
            can be explained by several processors at once (a track's fader, its EQ bands, its
            compressor); a faster fader makes the fit put the level where a person would.
        fingerprint: what the caller knows of the fit's inputs (files, options), JSON; it is
            recorded in the checkpoint with the loop's own (:mod:`grafx.fit.fingerprint`), and
            a checkpoint of another fingerprint is refused instead of resumed.
        max_rollbacks: rollbacks after a non-finite step allowed in one run; the next
            non-finite step ends the fit with an error.
        rollback_lr: factor on the learning rate at each rollback, in (0, 1).
    """

    steps: int = 300
    minutes: float | None = None
    lr: float = 0.02
    final_lr: float = 0.1
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    crop_len: int | None = 2**15
    warmup_len: int = 2**12
    crops_per_step: int = 1
    seed: int = 0
    patience: int | None = None
    min_delta: float = 1e-3
    checkpoint: str | None = None
    checkpoint_every: int = 50
    resume: bool = True
    progress: bool = True
    lr_scale: dict[str, float] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    max_rollbacks: int = 3
    rollback_lr: float = 0.5

    def check(self) -> None:
        """Raise :class:`~grafx.errors.ConfigError` naming the first bad option."""
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        checks = {
            "steps": self.steps >= 1,
            "minutes": self.minutes is None or self.minutes > 0,
            "lr": self.lr > 0,
            "final_lr": 0 <= self.final_lr <= 1,
            "crop_len": self.crop_len is None or self.crop_len > 0,
            "warmup_len": self.warmup_len >= 0,
            "crops_per_step": self.crops_per_step >= 1,
            "patience": self.patience is None or self.patience >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "lr_scale": all(v > 0 for v in self.lr_scale.values()),
            "max_rollbacks": self.max_rollbacks >= 0,
            "rollback_lr": 0 < self.rollback_lr < 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"fit option {name}={getattr(self, name)!r} is out of range")


@dataclass
class FitResult:
    """What :func:`~grafx.fit.loop.fit_parameters` returns.

    Attributes:
        parameters: fitted ``{type: nested dict of tensors}`` in the graph's node order.
        history: loss of every step (including steps done before a resume).
        steps: steps done in total.
        stopped_early: True if ``patience`` ended the fit.
        elapsed: seconds spent in this call.
        stop_reason: ``"steps"``, ``"minutes"`` or ``"patience"``.
        penalty_history: weighted value of each penalty at every step of this call.
        start: steps restored from the checkpoint (0 for a fresh fit).
        elapsed_total: seconds of every run of this fit, resumed ones included.
        already_finished: the checkpoint was of a finished fit (within the budgets given), so
            no step was taken.
        rollbacks: each rollback after a non-finite step, resumed runs' included:
            ``{"step", "problem", "to_step", "lr_factor"}`` (the step that failed, what was
            not finite, the step rolled back to, the learning-rate factor from then on).
        lr_factor: the factor on the learning rate that the rollbacks left (1: none).
    """

    parameters: dict[str, Any]
    history: list[float] = field(default_factory=list)
    steps: int = 0
    stopped_early: bool = False
    elapsed: float = 0.0
    stop_reason: str = "steps"
    penalty_history: dict[str, list[float]] = field(default_factory=dict)
    start: int = 0
    elapsed_total: float = 0.0
    already_finished: bool = False
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    lr_factor: float = 1.0


def crop_bounds(
    num_samples: int, crop_len: int | None, warmup_len: int, seed: int, step: int, count: int = 1
) -> list[tuple[int, int, int]]:
    """Crops for one step: ``(render_start, crop_start, crop_stop)`` per crop.

    The crop start is uniform over the audio; the rendered region starts up to ``warmup_len``
    samples earlier (less near the beginning).
    """
    if crop_len is None or crop_len >= num_samples:
        return [(0, 0, num_samples)] * count
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, num_samples - crop_len + 1, size=count)
    return [(max(0, int(s) - warmup_len), int(s), int(s) + crop_len) for s in starts]


def learning_rate(config: FitConfig, step: int, progress: float | None = None) -> float:
    """Learning rate: half a cosine from ``lr`` down to ``final_lr * lr`` over the progress.

    ``progress`` in [0, 1] defaults to ``step / (steps - 1)``.
    """
    progress = step / max(config.steps - 1, 1) if progress is None else min(progress, 1.0)
    shape = 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * (config.final_lr + (1 - config.final_lr) * shape)


def check_audio(sources: Tensor, target: Tensor, num_sources: int) -> None:
    """Refuse audio that a graph of ``num_sources`` inputs cannot fit.

    Raises:
        AudioError: sources not ``(num_sources, C, L)``, a target not ``(C', L)``, NaN/Inf
            samples, silent stems or a silent target.
    """
    if sources.ndim != 3:
        raise AudioError(f"sources must be (K, C, L), got shape {tuple(sources.shape)}")
    if sources.shape[0] != num_sources:
        raise AudioError(
            f"the graph has {num_sources} 'in' node(s) but {sources.shape[0]} source(s) were given"
        )
    if target.ndim != 2 or target.shape[-1] != sources.shape[-1]:
        raise AudioError(
            f"target must be (C, L) with L = {sources.shape[-1]} like the sources, "
            f"got shape {tuple(target.shape)}"
        )
    for name, x in (("sources", sources), ("target", target)):
        if not torch.isfinite(x).all():
            raise AudioError(f"{name} contain NaN/Inf samples")
    if float(sources.abs().amax()) < SILENCE_PEAK:
        raise AudioError("every stem is silent (peak below -120 dBFS): there is nothing to fit")
    if float(target.abs().amax()) < SILENCE_PEAK:
        raise AudioError("the target is silent (peak below -120 dBFS): there is nothing to match")


def check_crop(config: FitConfig, num_samples: int) -> None:
    """Refuse a crop longer than the audio (:class:`~grafx.errors.ConfigError`)."""
    if config.crop_len is not None and config.crop_len > num_samples:
        raise ConfigError(
            f"fit option crop_len={config.crop_len} is longer than the audio "
            f"({num_samples} samples); use a shorter crop or crop_len=None for all of it"
        )
