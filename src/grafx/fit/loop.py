r"""The fitting loop: gradient descent on a graph's parameters to match a target mix.

Each step renders a random crop of the stems (plus a warm-up region before it, so that
compressor envelopes and reverb tails have settled) and compares the crop of the output with
the same crop of the target. Crops come from a generator seeded with ``(seed, step)``, so a run
is reproducible and a resumed run takes exactly the steps an uninterrupted one would have.

The objective is the audio loss plus any :class:`~grafx.fit.penalty.Penalty` terms (for
example the gain-staging regulariser); the loop is generic over the per-type parameter dicts,
so every tensor in them (including any a render engine adds, such as gates) is fitted.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from grafx.errors import AudioError, ConfigError, GraphFileError, ParameterError
from grafx.fit.checkpoint import (
    checkpoint_exists,
    checkpoint_file,
    flatten,
    load_checkpoint,
    save_checkpoint,
    unflatten,
)
from grafx.fit.fingerprint import first_difference, fit_fingerprint
from grafx.fit.penalty import Penalty, PenaltyContext
from grafx.progress import Progress
from grafx.render.renderer import GraphRenderer

#: Peak below which stems or a target count as silent (-120 dBFS).
SILENCE_PEAK = 1e-6

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass
class FitConfig:
    """Options of :func:`fit_parameters`.

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
        checkpoint_every: steps between checkpoints (one is always written at the end).
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
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"fit option {name}={getattr(self, name)!r} is out of range")


@dataclass
class FitResult:
    """What :func:`fit_parameters` returns.

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


def _check_audio(sources: Tensor, target: Tensor, num_sources: int) -> None:
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


def _check_crop(config: FitConfig, num_samples: int) -> None:
    if config.crop_len is not None and config.crop_len > num_samples:
        raise ConfigError(
            f"fit option crop_len={config.crop_len} is longer than the audio "
            f"({num_samples} samples); use a shorter crop or crop_len=None for all of it"
        )


def _loss_on_crops(
    renderer, loss_fn, parameters, sources, target, bounds, extras=None, timeline=None
) -> Tensor:
    """Loss of the scored crops; the renders' intermediates go to ``extras`` (a list) if given.

    With a ``timeline`` (automation curves), each crop is rendered with the timeline moved to
    it, one crop at a time (a batch row cannot have its own stretch of the curves).
    """
    length = max(stop - render for render, _, stop in bounds)
    if timeline is not None and len(bounds) > 1:
        losses = [
            _loss_on_crops(renderer, loss_fn, parameters, sources, target, [b], extras, timeline)
            for b in bounds
        ]
        return torch.stack(losses).mean()
    if len({(r, s, e) for r, s, e in bounds}) == 1 and bounds[0][2] - bounds[0][0] == length:
        render_start, start, stop = bounds[0]
        moved = None if timeline is None else timeline.crop(render_start)
        crop = sources[..., render_start:stop]
        args = (crop, parameters) if moved is None else (crop, parameters, moved)
        mix, intermediates = renderer(*args)
        if extras is not None:
            extras.append(intermediates)
        return loss_fn(mix[..., start - render_start :], target[..., start:stop])
    # Several crops: render them as one (B, K, C, L) batch, aligned at their ends.
    batch, targets, offsets = [], [], []
    for render_start, start, stop in bounds:
        chunk = sources[..., render_start:stop]
        pad = length - chunk.shape[-1]
        batch.append(nn.functional.pad(chunk, (pad, 0)))
        targets.append(target[..., start:stop])
        offsets.append(pad + start - render_start)
    mix, intermediates = renderer(torch.stack(batch), parameters)
    if extras is not None:
        extras.append(intermediates)
    crop = bounds[0][2] - bounds[0][1]
    estimate = torch.stack([mix[i, :, o : o + crop] for i, o in enumerate(offsets)])
    return loss_fn(estimate, torch.stack(targets))


def evaluate_loss(
    renderer: GraphRenderer,
    loss_fn: Callable,
    parameters: Mapping,
    sources: Tensor,
    target: Tensor,
    timeline: Any = None,
) -> float:
    """Loss of the full-length render against the full target, without gradients."""
    with torch.no_grad():
        args = (sources, parameters) if timeline is None else (sources, parameters, timeline)
        mix, _ = renderer(*args)
        return float(loss_fn(mix, target))


@dataclass
class Plateau:
    """Early-stop tracking: steps since the smoothed loss last improved.

    The loss is smoothed exponentially (``0.9 * smoothed + 0.1 * loss``); an improvement is a
    smoothed value below ``best * (1 - min_delta)``.
    """

    min_delta: float
    smoothed: float | None = None
    best: float = float("inf")
    since_best: int = 0

    def update(self, loss: float) -> None:
        """Track one step's loss."""
        self.smoothed = loss if self.smoothed is None else 0.9 * self.smoothed + 0.1 * loss
        if self.smoothed < self.best * (1 - self.min_delta):
            self.best, self.since_best = self.smoothed, 0
        else:
            self.since_best += 1


@dataclass
class Optimization:
    """The state an optimisation starts from: see :func:`start_optimization`.

    Attributes:
        flat: leaf tensors being fitted, by flat name (``"eq/log_gain"``), requiring gradients.
        scales: learning-rate multiplier of each leaf, in the order of ``flat``.
        optimizer: one parameter group per leaf (its ``lr`` is ``config.lr`` times its scale).
        checkpoint: the checkpoint path (without extension), or ``None``.
        start: steps already done (restored from the checkpoint).
        history: their losses.
        elapsed_before: seconds they took.
        plateau: the early-stop state after them.
        fingerprint: what is fitted (:func:`~grafx.fit.fingerprint.fit_fingerprint`), recorded
            in every checkpoint.
        finished: why the restored fit already ended within ``config``'s budgets
            (``"steps"``, ``"minutes"`` or ``"patience"``), or ``None``.
    """

    flat: dict[str, Tensor]
    scales: list[float]
    optimizer: torch.optim.Optimizer
    checkpoint: Path | None
    plateau: Plateau
    start: int = 0
    history: list[float] = field(default_factory=list)
    elapsed_before: float = 0.0
    fingerprint: dict[str, Any] = field(default_factory=dict)
    finished: str | None = None


def start_optimization(
    parameters: Mapping,
    config: FitConfig,
    sources: Tensor | None = None,
    target: Tensor | None = None,
    device: torch.device | str | None = None,
) -> Optimization:
    """Leaves, optimiser and learning-rate scales of a fit, resumed from its checkpoint if any.

    The parameters are copied (detached; onto ``device`` if given), one optimiser group per
    tensor; with
    ``config.resume`` and an existing ``config.checkpoint``, the values, optimiser state, steps
    and history are restored from it, and the early-stop state is replayed over that history.
    The checkpoint must hold the same fingerprint (:mod:`grafx.fit.fingerprint`, of ``sources``,
    ``target`` and ``config`` when given).

    Raises:
        ResumeError: the checkpoint is of another fit (other audio, options or parameters), or
            unreadable; the message says what differs and how to start afresh.
    """
    flat = {
        k: v.detach().to(device, copy=True).requires_grad_(True)
        for k, v in flatten(parameters).items()
    }
    scales = [_lr_scale(name, config.lr_scale) for name in flat]
    groups = [
        {"params": [value], "lr": config.lr * scale}
        for value, scale in zip(flat.values(), scales, strict=True)
    ]
    optimizer = OPTIMIZERS[config.optimizer](groups, lr=config.lr, weight_decay=config.weight_decay)
    checkpoint = Path(config.checkpoint) if config.checkpoint else None
    run = Optimization(flat, scales, optimizer, checkpoint, Plateau(config.min_delta))
    if sources is not None and target is not None:
        run.fingerprint = fit_fingerprint(sources, target, config)
    else:
        run.fingerprint = dict(config.fingerprint)
    run.fingerprint["parameters"] = {k: list(v.shape) for k, v in flat.items()}
    if checkpoint is None or not config.resume or not checkpoint_exists(checkpoint):
        return run
    where = checkpoint_file(checkpoint)
    try:
        state = load_checkpoint(checkpoint)
    except GraphFileError as error:
        raise ResumeError(f"{error}; {AFRESH}") from None
    difference = first_difference(state["extra"].get("fingerprint"), run.fingerprint)
    if difference is not None:
        raise ResumeError(f"{where}: this checkpoint is of another fit ({difference}); {AFRESH}")
    with torch.no_grad():
        for name, value in state["parameters"].items():
            flat[name].copy_(value)
    optimizer.load_state_dict(state["optimizer_state"])
    run.start, run.history = state["step"], state["history"]
    run.elapsed_before = float(state["extra"].get("elapsed", 0.0))
    for loss in run.history:
        run.plateau.update(loss)
    budget = None if config.minutes is None else 60.0 * config.minutes
    if run.start >= config.steps:
        run.finished = "steps"
    elif budget is not None and run.elapsed_before >= budget:
        run.finished = "minutes"
    elif config.patience is not None and run.plateau.since_best >= config.patience:
        run.finished = "patience"
    return run


#: How a refused resume says to start afresh.
AFRESH = "start afresh with --restart (resume=False) or another output folder"


class ResumeError(ConfigError):
    """A checkpoint that cannot be resumed: of another fit, or unreadable."""


def fit_parameters(
    G: Any,
    processors: Mapping[str, nn.Module],
    parameters: Mapping,
    sources: Tensor,
    target: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    config: FitConfig | None = None,
    type_sequence: Sequence[str] | None = None,
    callback: Callable[[int, float], None] | None = None,
    penalties: Mapping[str, Penalty] | None = None,
    timeline: Any = None,
    **overrides: Any,
) -> FitResult:
    r"""Fit a graph's parameters so that its mix of ``sources`` matches ``target``.

    Args:
        G: the graph (one ``out`` node); parameters follow its node order.
        processors: ``{type: nn.Module}``.
        parameters: initial ``{type: nested dict of tensors (N_t, ...)}``; not modified.
        sources: stems ``(K, C, L)``, row ``k`` for the ``k``-th ``in`` node by id. The fit
            runs on their device: the target, the parameters (copied), the processors and an
            ``nn.Module`` loss are moved there (the last two in place) before the first step.
        target: the mix to match, ``(C', L)``.
        loss_fn: ``loss(estimate, target) -> scalar``; default
            :func:`grafx.losses.default_mix_loss` for 44.1 kHz audio (it places frequency
            bands: at another rate pass ``default_mix_loss(sample_rate)``).
        config: a :class:`FitConfig`; keyword ``overrides`` replace its fields
            (``fit_parameters(..., steps=100, lr=0.05)``).
        type_sequence: fixed schedule (e.g. from ``build_mixing_console``); default beam search.
        callback: called as ``callback(step, loss)`` after every step (after its checkpoint).
        penalties: named :class:`~grafx.fit.penalty.Penalty` terms added to the loss, e.g.
            ``{"gain_staging": GainStaging(1e-3)}``; each may instrument the processors
            (:meth:`~grafx.fit.penalty.Penalty.prepare`) and ramp its weight. The history
            records the audio loss; ``penalty_history`` the weighted penalties.
        timeline: the :class:`~grafx.automation.Timeline` of the automation curves among
            ``parameters`` (``(N_t, *shape, K)`` entries, see
            :func:`grafx.automation.automate_parameters`), over the whole ``sources``; each
            crop is rendered with it moved to the crop. ``None``: no automation.

    Returns:
        A :class:`FitResult` with the fitted parameters (detached) and the loss history.

    Raises:
        AudioError: sources that do not fit the graph, a target of another length, NaN/Inf.
        AudioError: all stems silent, or a silent target (nothing to fit).
        ConfigError: a bad option, or a crop longer than the audio.
        ParameterError: the loss or a gradient became NaN/Inf (the message names the step).
        KeyboardInterrupt: re-raised after checkpointing the finished steps (if checkpointing),
            so the same call resumes where it stopped.
    """
    from grafx.losses import default_mix_loss

    config = dataclasses.replace(config or FitConfig(), **overrides)
    config.check()
    if loss_fn is None:
        loss_fn = default_mix_loss()
    penalties = dict(penalties or {})
    for penalty in penalties.values():
        processors = penalty.prepare(processors)
    device = sources.device
    renderer = GraphRenderer(G, processors, type_sequence).to(device)
    target = target.to(device)
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    _check_audio(sources, target, renderer.num_sources)
    _check_crop(config, sources.shape[-1])
    torch.manual_seed(config.seed)

    run = start_optimization(parameters, config, sources, target, device)
    flat, scales, optimizer, checkpoint = run.flat, run.scales, run.optimizer, run.checkpoint
    start, history, elapsed_before = run.start, run.history, run.elapsed_before
    penalty_history: dict[str, list[float]] = {name: [] for name in penalties}
    if run.finished is not None:
        fitted = unflatten({k: v.detach().clone() for k, v in flat.items()})
        stopped_early = run.finished == "patience"
        return FitResult(
            fitted,
            history,
            start,
            stopped_early,
            0.0,
            run.finished,
            penalty_history,
            start=start,
            elapsed_total=elapsed_before,
            already_finished=True,
        )

    began = time.perf_counter()
    stopped_early = False
    budget = None if config.minutes is None else 60.0 * config.minutes
    bar = Progress(
        "fit",
        config.steps,
        initial=start,
        seconds=budget,
        spent=elapsed_before,
        enabled=config.progress,
    )
    in_update = False
    stop_reason = "steps"

    def extra() -> dict:
        return {
            **_config_json(config),
            "elapsed": elapsed_before + time.perf_counter() - began,
            "fingerprint": run.fingerprint,
        }

    def save_finished() -> None:
        if checkpoint is not None and not in_update and len(history) > start:
            save_checkpoint(checkpoint, flat, optimizer, len(history), history, extra())

    try:
        for step in range(start, config.steps):
            spent = elapsed_before + time.perf_counter() - began
            progress = max(step / max(config.steps - 1, 1), spent / budget if budget else 0.0)
            bounds = crop_bounds(
                sources.shape[-1],
                config.crop_len,
                config.warmup_len,
                config.seed,
                step,
                config.crops_per_step,
            )
            rate = _cosine_rate(config, step, progress)
            for group, scale in zip(optimizer.param_groups, scales, strict=True):
                group["lr"] = rate * scale
            optimizer.zero_grad(set_to_none=True)
            nested = unflatten(flat)
            extras: list[Any] = []
            loss = _loss_on_crops(
                renderer, loss_fn, nested, sources, target, bounds, extras, timeline
            )
            objective = loss
            terms: list[Tensor] = []
            if penalties:
                context = PenaltyContext(step, min(progress, 1.0), nested, extras[0])
                for penalty in penalties.values():
                    terms.append(penalty.weight_at(context.progress) * penalty.value(context))
                    objective = objective + terms[-1]
            objective.backward()
            # One device sync for every check of the step (loss, penalties, gradients), not one
            # per tensor: on a GPU each sync stalls the queue of kernels.
            values = _step_values(loss, terms, flat)
            if not math.isfinite(values[0]):
                raise ParameterError(
                    f"fit step {step}: the loss is {values[0]}; {_recover(config, step)}"
                )
            for name, term in zip(penalties, values[1 : 1 + len(terms)], strict=True):
                if not math.isfinite(term):
                    raise ParameterError(
                        f"fit step {step}: penalty {name!r} is {term}; {_recover(config, step)}"
                    )
                penalty_history[name].append(term)
            for name, finite in zip(flat, values[1 + len(terms) :], strict=True):
                if not finite:
                    raise ParameterError(
                        f"fit step {step}: the gradient of {name!r} is not finite; "
                        f"{_recover(config, step)}"
                    )
            in_update = True
            optimizer.step()
            value = values[0]
            history.append(value)
            in_update = False
            bar.update(step + 1, loss=value)
            run.plateau.update(value)
            done = step + 1
            if checkpoint is not None and done % config.checkpoint_every == 0:
                save_checkpoint(checkpoint, flat, optimizer, done, history, extra())
            if callback is not None:
                callback(step, value)
            if config.patience is not None and run.plateau.since_best >= config.patience:
                stopped_early, stop_reason = True, "patience"
                break
            if budget is not None and elapsed_before + time.perf_counter() - began >= budget:
                stop_reason = "minutes"
                break
    except (KeyboardInterrupt, ParameterError):
        # Ctrl-C or a NaN: keep every finished step (a NaN step changed nothing), so running the
        # same fit again resumes from here.
        save_finished()
        raise
    finally:
        bar.close()
    steps_done = len(history)
    if checkpoint is not None and steps_done > start:
        save_checkpoint(checkpoint, flat, optimizer, steps_done, history, extra())
    fitted = unflatten({k: v.detach().clone() for k, v in flat.items()})
    elapsed = time.perf_counter() - began
    return FitResult(
        fitted,
        history,
        steps_done,
        stopped_early,
        elapsed,
        stop_reason,
        penalty_history,
        start=start,
        elapsed_total=elapsed_before + elapsed,
    )


def _recover(config: FitConfig, step: int) -> str:
    where = "the steps before it are checkpointed; " if config.checkpoint else ""
    return (
        f"{where}fit again from the start with a lower learning rate (e.g. --restart --lr "
        f"{config.lr / 4:g}), or check the audio for extreme levels"
    )


def _step_values(loss: Tensor, terms: Sequence[Tensor], flat: Mapping[str, Tensor]) -> list[float]:
    """``[loss, *terms, *grad_finite]`` as floats, read from the device in one copy.

    ``grad_finite`` is 1.0 for each leaf of ``flat`` whose gradient is finite or absent.
    """
    parts = [loss.detach().reshape(1), *(t.detach().reshape(1).to(loss.dtype) for t in terms)]
    for leaf in flat.values():
        grad = leaf.grad
        finite = loss.new_ones(()) if grad is None else torch.isfinite(grad).all().to(loss.dtype)
        parts.append(finite.to(loss.device).reshape(1))
    return torch.cat(parts).tolist()


def _cosine_rate(config: FitConfig, step: int, progress: float | None = None) -> float:
    """Learning rate: half a cosine from ``lr`` down to ``final_lr * lr`` over the progress.

    ``progress`` in [0, 1] defaults to ``step / (steps - 1)``.
    """
    progress = step / max(config.steps - 1, 1) if progress is None else min(progress, 1.0)
    shape = 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * (config.final_lr + (1 - config.final_lr) * shape)


def _lr_scale(name: str, scales: Mapping[str, float]) -> float:
    matches = [p for p in scales if name == p or name.startswith(p + "/")]
    return scales[max(matches, key=len)] if matches else 1.0


def _config_json(config: FitConfig) -> dict:
    return {"config": dataclasses.asdict(config)}
