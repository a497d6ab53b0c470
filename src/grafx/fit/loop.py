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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from grafx.fit.config import (
    AFRESH,
    OPTIMIZERS,
    SILENCE_PEAK,
    FitConfig,
    FitResult,
    ResumeError,
    check_audio,
    check_crop,
    crop_bounds,
)
from grafx.fit.penalty import Penalty, penalty_terms, prepare_penalties
from grafx.fit.trainer import Trainer, move_target
from grafx.losses import default_mix_loss
from grafx.render.renderer import GraphRenderer

__all__ = [
    "AFRESH",
    "OPTIMIZERS",
    "SILENCE_PEAK",
    "FitConfig",
    "FitResult",
    "ResumeError",
    "crop_bounds",
    "evaluate_loss",
    "fit_parameters",
]


def _loss_on_crops(
    renderer: GraphRenderer,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    parameters: Mapping,
    sources: Tensor,
    target: Tensor,
    bounds: Sequence[tuple[int, int, int]],
    extras: list[Any] | None = None,
    timeline: Any = None,
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
    scored = bounds[0][2] - bounds[0][1]
    estimate = torch.stack([mix[i, :, o : o + scored] for i, o in enumerate(offsets)])
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

    One :class:`~grafx.fit.trainer.Trainer` does the optimisation (schedule, early stop,
    budgets, checkpoints, recovery from a non-finite step).

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
        penalties: named :class:`~grafx.fit.penalty.Penalty` terms added to the loss (e.g.
            ``{"gain_staging": GainStaging(1e-3)}``), each may instrument the processors and ramp
            its weight; the history records the audio loss, ``penalty_history`` the penalties.
        timeline: the :class:`~grafx.automation.Timeline` of the automation curves among
            ``parameters`` (``(N_t, *shape, K)`` entries, see
            :func:`grafx.automation.automate_parameters`), over the whole ``sources``; each
            crop is rendered with it moved to the crop. ``None``: no automation.

    Returns:
        A :class:`FitResult`: the fitted parameters (detached), the loss history, rollbacks.

    Raises:
        AudioError: sources that do not fit the graph, a target of another length, NaN/Inf,
            all stems silent, or a silent target (nothing to fit).
        ConfigError: a bad option, or a crop longer than the audio.
        ParameterError: the loss, a penalty or a gradient stayed NaN/Inf after
            ``config.max_rollbacks`` rollbacks, each at a lower learning rate (the message
            names the step and says how to recover; the good steps are checkpointed).
        KeyboardInterrupt: re-raised after checkpointing the finished steps (if checkpointing),
            so the same call resumes where it stopped.
    """
    config = dataclasses.replace(config or FitConfig(), **overrides)
    config.check()
    loss_fn = default_mix_loss() if loss_fn is None else loss_fn
    penalties = dict(penalties or {})
    processors = prepare_penalties(processors, penalties)
    renderer = GraphRenderer(G, processors, type_sequence).to(sources.device)
    target = move_target(target, loss_fn, sources.device)
    check_audio(sources, target, renderer.num_sources)
    check_crop(config, sources.shape[-1])
    torch.manual_seed(config.seed)
    trainer = Trainer(
        parameters, config, sources, target, penalties=list(penalties), callback=callback
    )
    with trainer.running():
        while not trainer.done:
            step = trainer.begin_step()
            extras: list[Any] = []
            loss = _loss_on_crops(
                renderer, loss_fn, step.parameters, sources, target, step.bounds, extras, timeline
            )
            terms = penalty_terms(penalties, step.index, step.progress, step.parameters, extras[0])
            sum(terms.values(), loss).backward()
            trainer.end_step(loss, terms)
    return trainer.finish()
