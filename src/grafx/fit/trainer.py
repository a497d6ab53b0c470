r"""The per-song trainer: optimiser, learning-rate schedule, early stop, budgets, checkpoints.

A :class:`Trainer` owns what one fit changes from step to step: the fitted leaves and their
optimiser (one parameter group per leaf, with its learning-rate scale), the step count and
loss history, the early-stop state (:class:`Plateau`), the step and time budgets, the
checkpoint, the progress display and the recovery from a non-finite step. Whoever renders
drives it, one step at a time::

    step = trainer.begin_step()  # crops, learning rate, zeroed gradients
    loss = ...  # render step.parameters on step.bounds and score them
    loss.backward()
    trainer.end_step(loss)  # checks, then applies the step or rolls back

:func:`~grafx.fit.loop.fit_parameters` drives one trainer with one graph;
:func:`~grafx.fit.many.pack.fit_packed` drives one trainer per song with all the songs
rendered as one batched graph.

A non-finite loss, penalty or gradient does not end the fit: the trainer rolls back to its
last good state (an in-memory copy of the leaves, optimiser state and history taken at every
checkpoint step), multiplies the learning rate by ``FitConfig.rollback_lr`` and goes on. After
``FitConfig.max_rollbacks`` rollbacks in one run the next non-finite step ends the fit with a
:class:`~grafx.errors.ParameterError`, with the furthest good state checkpointed first.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import GraphFileError, ParameterError
from grafx.fit.checkpoint import (
    checkpoint_exists,
    checkpoint_file,
    flatten,
    load_checkpoint,
    save_checkpoint,
    unflatten,
)
from grafx.fit.config import (
    AFRESH,
    OPTIMIZERS,
    FitConfig,
    FitResult,
    ResumeError,
    crop_bounds,
    learning_rate,
)
from grafx.fit.fingerprint import first_difference, fit_fingerprint
from grafx.progress import Progress

__all__ = [
    "Plateau",
    "Step",
    "Trainer",
    "move_target",
]

LOGGER = logging.getLogger(__name__)


def move_target(target: Tensor, loss_fn: Any, device: torch.device) -> Tensor:
    """The target on ``device``, where an ``nn.Module`` loss is moved too (in place)."""
    if isinstance(loss_fn, nn.Module):
        loss_fn.to(device)
    return target.to(device)


@dataclass
class Step:
    """One step as :meth:`Trainer.begin_step` starts it.

    Attributes:
        index: the step index (from 0).
        progress: fraction of the budget (steps or time, whichever is further) used, >= 0.
        bounds: the crops, ``(render_start, crop_start, crop_stop)`` each.
        parameters: ``{type: nested dict of tensors}``: the fitted leaves, to render with.
    """

    index: int
    progress: float
    bounds: list[tuple[int, int, int]]
    parameters: dict[str, Any]


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
class _Snapshot:
    """A good state a non-finite step rolls back to (copies, not views)."""

    step: int
    leaves: dict[str, Tensor]
    optimizer: dict[str, Any]
    history: list[float]
    plateau: Plateau
    lr_factor: float


class Trainer:
    """The optimisation of one song's parameters (see the module docstring).

    The parameters are copied (detached, on the sources' device), one optimiser group per
    tensor. With ``config.resume`` and an existing ``config.checkpoint``, the values,
    optimiser state, steps, history and learning-rate factor are restored from it and the
    early-stop state is replayed over that history; the checkpoint must hold the same
    fingerprint (:mod:`grafx.fit.fingerprint`, of ``sources``, ``target`` and ``config``).

    Args:
        parameters: initial ``{type: nested dict of tensors}``; not modified.
        config: the options (checked).
        sources: the stems ``(K, C, L)`` (their length sets the crops, their device the fit's).
        target: the mix to match (fingerprinted only).
        penalties: names of the penalty terms whose weighted values are recorded.
        callback: called as ``callback(step, loss)`` after every applied step.
        progress: show the progress (default ``config.progress``).

    Attributes:
        leaves: the fitted tensors by flat name (``"eq/log_gain"``), requiring gradients.
        history: the loss of every step done.
        start: the steps restored from the checkpoint.
        stop_reason: why the fit ended (``"steps"``, ``"minutes"``, ``"patience"``) or
            ``None`` while it goes on.

    Raises:
        ConfigError: a bad option.
        ResumeError: the checkpoint is of another fit (other audio, options or parameters), or
            unreadable; the message says what differs and how to start afresh.
    """

    def __init__(
        self,
        parameters: Mapping,
        config: FitConfig,
        sources: Tensor,
        target: Tensor,
        *,
        penalties: Sequence[str] = (),
        callback: Callable[[int, float], None] | None = None,
        progress: bool | None = None,
    ):
        config.check()
        self.config, self.callback = config, callback
        self.num_samples = sources.shape[-1]
        self.leaves = {
            k: v.detach().to(sources.device, copy=True).requires_grad_(True)
            for k, v in flatten(parameters).items()
        }
        self.scales = [_lr_scale(name, config.lr_scale) for name in self.leaves]
        groups = [
            {"params": [value], "lr": config.lr * scale}
            for value, scale in zip(self.leaves.values(), self.scales, strict=True)
        ]
        self.optimizer = OPTIMIZERS[config.optimizer](
            groups, lr=config.lr, weight_decay=config.weight_decay
        )
        self.checkpoint = Path(config.checkpoint) if config.checkpoint else None
        self.fingerprint = fit_fingerprint(sources, target, config)
        self.fingerprint["parameters"] = {k: list(v.shape) for k, v in self.leaves.items()}
        self.plateau = Plateau(config.min_delta)
        self.history: list[float] = []
        self.penalty_history: dict[str, list[float]] = {name: [] for name in penalties}
        self.elapsed_before, self.lr_factor = 0.0, 1.0
        self.rollbacks: list[dict[str, Any]] = []
        self._rolled_back = 0
        self.stop_reason: str | None = None
        if config.resume and self.checkpoint is not None and checkpoint_exists(self.checkpoint):
            self._resume(self.checkpoint)
        self.start = len(self.history)
        self.already_finished = self.stop_reason is not None
        self._good = self._snapshot()
        self._furthest: _Snapshot | None = None
        self._in_update = False
        self.began = time.perf_counter()
        self.bar = Progress(
            "fit",
            config.steps,
            initial=self.start,
            seconds=self._budget(),
            spent=self.elapsed_before,
            enabled=(config.progress if progress is None else progress)
            and not self.already_finished,
        )

    @property
    def step(self) -> int:
        """Steps done (the index of the next step)."""
        return len(self.history)

    @property
    def done(self) -> bool:
        """Whether a budget or the early stop has ended the fit."""
        return self.stop_reason is not None

    def spent(self) -> float:
        """Seconds of every run of this fit so far."""
        return self.elapsed_before + time.perf_counter() - self.began

    def begin_step(self) -> Step:
        """Start the next step: its crops and progress, the learning rate, zeroed gradients."""
        config, step = self.config, self.step
        budget = self._budget()
        progress = max(step / max(config.steps - 1, 1), self.spent() / budget if budget else 0.0)
        bounds = crop_bounds(
            self.num_samples,
            config.crop_len,
            config.warmup_len,
            config.seed,
            step,
            config.crops_per_step,
        )
        rate = learning_rate(config, step, progress) * self.lr_factor
        for group, scale in zip(self.optimizer.param_groups, self.scales, strict=True):
            group["lr"] = rate * scale
        self.optimizer.zero_grad(set_to_none=True)
        return Step(step, progress, bounds, unflatten(self.leaves))

    def end_step(self, loss: Tensor, terms: Mapping[str, Tensor] | None = None) -> bool:
        """Finish a step whose objective (``loss`` plus ``terms``) has been backpropagated.

        Reads the loss, the penalty ``terms`` and the gradients' finiteness from the device in
        one copy; if all are finite, applies the optimiser step, records it, checkpoints at
        ``checkpoint_every``, calls the callback and checks the budgets; otherwise rolls back
        (:meth:`roll_back`). Returns whether the step was applied.
        """
        terms = dict(terms or {})
        values = _step_values(loss, list(terms.values()), self.leaves)
        problem = _problem(values, list(terms), list(self.leaves))
        if problem is not None:
            self.roll_back(problem)
            return False
        self._in_update = True
        self.optimizer.step()
        self.history.append(values[0])
        self._in_update = False
        for name, value in zip(terms, values[1 : 1 + len(terms)], strict=True):
            self.penalty_history.setdefault(name, []).append(value)
        self._after_step(values[0])
        return True

    def _after_step(self, value: float) -> None:
        config, done = self.config, self.step
        self.plateau.update(value)
        self.bar.update(done, loss=value)
        if done % config.checkpoint_every == 0:
            self._good = self._snapshot()
            self.save()
        if self.callback is not None:
            self.callback(done - 1, value)
        budget = self._budget()
        if config.patience is not None and self.plateau.since_best >= config.patience:
            self.stop_reason = "patience"
        elif budget is not None and self.spent() >= budget:
            self.stop_reason = "minutes"
        elif done >= config.steps:
            self.stop_reason = "steps"

    def roll_back(self, problem: str) -> None:
        """Recover from a non-finite step: back to the last good state, at a lower rate.

        ``problem`` says what was not finite (``"the loss is nan"``). The state before the
        failed step is kept as the furthest good one; after ``config.max_rollbacks`` rollbacks
        in this run it is checkpointed (with the lowered rate, which a resumed run keeps) and the fit
        ends.

        Raises:
            ParameterError: one rollback too many; the message names the step and the problem
                and says how to recover.
        """
        step, config = self.step, self.config
        if self._furthest is None or step > self._furthest.step:
            self._furthest = self._snapshot()
        if self._rolled_back >= config.max_rollbacks:
            self._write(dataclasses.replace(self._furthest, lr_factor=self.lr_factor))
            raise ParameterError(f"fit step {step}: {problem}; {self._advice()}")
        self._rolled_back += 1
        self.lr_factor *= config.rollback_lr
        good = self._good
        with torch.no_grad():
            for name, value in good.leaves.items():
                self.leaves[name].copy_(value)
        self.optimizer.load_state_dict(copy.deepcopy(good.optimizer))
        self.optimizer.zero_grad(set_to_none=True)
        self.history = list(good.history)
        self.plateau = dataclasses.replace(good.plateau)
        for values in self.penalty_history.values():
            del values[max(good.step - self.start, 0) :]
        record = {"step": step, "problem": problem, "to_step": good.step}
        self.rollbacks.append({**record, "lr_factor": self.lr_factor})
        LOGGER.warning(
            "fit step %d: %s; rolled back to step %d, learning rate x%g",
            step,
            problem,
            good.step,
            self.lr_factor,
        )

    def _advice(self) -> str:
        config = self.config
        lower = f"{config.lr * self.lr_factor * config.rollback_lr:g}"
        tried = (
            f"{self._rolled_back} rollback(s) to the last good state at a lower learning rate "
            "did not help; "
            if self._rolled_back
            else ""
        )
        if self.checkpoint is None or self._furthest is None:
            return f"{tried}fit with a lower learning rate (e.g. --lr {lower}) or check the audio"
        return (
            f"{tried}the furthest good state (step {self._furthest.step}) is checkpointed: "
            f"running the fit again resumes it at the lowered rate, or start afresh with a lower "
            f"learning rate (e.g. --restart --lr {lower}); check the audio for extreme levels"
        )

    def save(self) -> None:
        """Checkpoint the current state (nothing without ``config.checkpoint``)."""
        self._write(self._snapshot(copy_tensors=False))

    def interrupted(self) -> None:
        """Checkpoint the steps done in this run (for Ctrl-C), unless mid-update."""
        if not self._in_update and self.step > self.start:
            self.save()

    @contextlib.contextmanager
    def running(self) -> Iterator[Trainer]:
        """Checkpoint on Ctrl-C (then re-raise) and close the progress display at the end."""
        try:
            yield self
        except KeyboardInterrupt:
            self.interrupted()
            raise
        finally:
            self.bar.close()

    def finish(self) -> FitResult:
        """Checkpoint the last steps and return the result (with detached copies)."""
        self.bar.close()
        if self.step > self.start:
            self.save()
        elapsed = 0.0 if self.already_finished else time.perf_counter() - self.began
        return FitResult(
            unflatten({k: v.detach().clone() for k, v in self.leaves.items()}),
            self.history,
            self.step,
            self.stop_reason == "patience",
            elapsed,
            self.stop_reason or "steps",
            self.penalty_history,
            start=self.start,
            elapsed_total=self.elapsed_before + elapsed,
            already_finished=self.already_finished,
            rollbacks=list(self.rollbacks),
            lr_factor=self.lr_factor,
        )

    def _budget(self) -> float | None:
        return None if self.config.minutes is None else 60.0 * self.config.minutes

    def _snapshot(self, copy_tensors: bool = True) -> _Snapshot:
        leaves = self.leaves
        state = self.optimizer.state_dict()
        if copy_tensors:
            leaves = {k: v.detach().clone() for k, v in leaves.items()}
            state = copy.deepcopy(state)
        plateau = dataclasses.replace(self.plateau)
        return _Snapshot(self.step, leaves, state, list(self.history), plateau, self.lr_factor)

    def _write(self, snapshot: _Snapshot) -> None:
        if self.checkpoint is None:
            return
        extra = {
            "config": dataclasses.asdict(self.config),
            "elapsed": self.spent(),
            "fingerprint": self.fingerprint,
            "lr_factor": snapshot.lr_factor,
            "rollbacks": self.rollbacks,
        }
        save_checkpoint(
            self.checkpoint,
            snapshot.leaves,
            snapshot.optimizer,
            snapshot.step,
            snapshot.history,
            extra,
        )

    def _resume(self, checkpoint: Path) -> None:
        try:
            state = load_checkpoint(checkpoint)
        except GraphFileError as error:
            raise ResumeError(f"{error}; {AFRESH}") from None
        extra = state["extra"]
        difference = first_difference(extra.get("fingerprint"), self.fingerprint)
        if difference is not None:
            where = checkpoint_file(checkpoint)
            raise ResumeError(
                f"{where}: this checkpoint is of another fit ({difference}); {AFRESH}"
            )
        with torch.no_grad():
            for name, value in state["parameters"].items():
                self.leaves[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.history = list(state["history"])
        self.elapsed_before = float(extra.get("elapsed", 0.0))
        self.lr_factor = float(extra.get("lr_factor", 1.0))
        self.rollbacks = list(extra.get("rollbacks", []))
        for loss in self.history:
            self.plateau.update(loss)
        config, budget = self.config, self._budget()
        if self.step >= config.steps:
            self.stop_reason = "steps"
        elif budget is not None and self.elapsed_before >= budget:
            self.stop_reason = "minutes"
        elif config.patience is not None and self.plateau.since_best >= config.patience:
            self.stop_reason = "patience"


def _step_values(loss: Tensor, terms: Sequence[Tensor], flat: Mapping[str, Tensor]) -> list[float]:
    """``[loss, *terms, *grad_finite]`` as floats, read from the device in one copy.

    ``grad_finite`` is 1.0 for each leaf of ``flat`` whose gradient is finite or absent. One
    device sync for every check of the step, not one per tensor: on a GPU each sync stalls the
    queue of kernels.
    """
    parts = [loss.detach().reshape(1), *(t.detach().reshape(1).to(loss.dtype) for t in terms)]
    for leaf in flat.values():
        grad = leaf.grad
        finite = loss.new_ones(()) if grad is None else torch.isfinite(grad).all().to(loss.dtype)
        parts.append(finite.to(loss.device).reshape(1))
    return torch.cat(parts).tolist()


def _problem(values: Sequence[float], terms: Sequence[str], leaves: Sequence[str]) -> str | None:
    """What :func:`_step_values`' ``values`` show to be non-finite, in words; ``None``: nothing."""
    if not math.isfinite(values[0]):
        return f"the loss is {values[0]}"
    for name, term in zip(terms, values[1 : 1 + len(terms)], strict=True):
        if not math.isfinite(term):
            return f"penalty {name!r} is {term}"
    for name, finite in zip(leaves, values[1 + len(terms) :], strict=True):
        if not finite:
            return f"the gradient of {name!r} is not finite"
    return None


def _lr_scale(name: str, scales: Mapping[str, float]) -> float:
    matches = [p for p in scales if name == p or name.startswith(p + "/")]
    return scales[max(matches, key=len)] if matches else 1.0
