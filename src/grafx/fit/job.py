"""A fit from start to finish, in the steps that ``grafx fit``, ``grafx fit-many`` and the demo share.

:func:`prepare_job` takes a graph, its stems and the target, and makes the recipe's config,
loss and penalties, the initial mix and its loss; :func:`fit_job` fits; :func:`finish_job`
renders the fitted mix and writes ``fitted.wav``, ``initial.wav``, ``graph.json``,
``report.png`` and ``metrics.json`` to the job's folder; :func:`log_done` ends the log. Each
caller brings its own audio and graph (``grafx fit`` reads files, the demo synthesises them)
and writes what only it writes; everything between is done here, once.

Example:
    >>> import torch
    >>> from grafx.presets import build_mixing_console, console_processors
    >>> G, sequence = build_mixing_console(1, chain=["gain_pan"])
    >>> stems = torch.randn(1, 2, 8000, generator=torch.Generator().manual_seed(0))
    >>> job = prepare_job(
    ...     "fit-output", G, console_processors(["gain_pan"]), stems, 0.5 * stems[0], 8000,
    ...     type_sequence=sequence, crop_seconds=None, steps=2, progress=False, log=None,
    ... )
    >>> fit_job(job).steps
    2
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grafx.fit.loop import FitConfig, FitResult, evaluate_loss, fit_parameters
from grafx.fit.recipe import (
    CROP_SECONDS,
    GAIN_STAGING_WEIGHT,
    WARMUP_SECONDS,
    recipe_config,
    recipe_loss,
    recipe_penalties,
)
from grafx.render.renderer import GraphRenderer

__all__ = [
    "FitJob",
    "FinishedJob",
    "audio_inputs",
    "prepare_job",
    "fit_job",
    "finish_job",
    "log_done",
]

Log = Callable[[str], Any]


def audio_inputs(stems: Sequence[str | Path], target: str | Path, align: str) -> dict:
    """The :attr:`FitJob.inputs` of audio read from files: absolute paths, stems in track order,
    and how their lengths were aligned (``grafx prune`` reads the audio again from them)."""
    return {
        "stems": [str(Path(s).resolve()) for s in stems],
        "target": str(Path(target).resolve()),
        "align": align,
    }


@dataclass
class FitJob:
    """One fit, prepared by :func:`prepare_job`: :func:`fit_job` fits it, :func:`finish_job`
    writes it.

    ``grafx fit-many`` prepares one job per song from ``grafx fit``'s own arguments, so that each
    song's folder is exactly what ``grafx fit`` writes.

    Attributes:
        out: the output folder.
        G, processors, parameters, type_sequence: the graph, its processors, the initial
            parameters (node order) and a fixed schedule (``None``: beam search).
        stems, target, sample_rate: sources ``(K, C, L)``, the mix to match ``(C, L)``, in Hz.
        renderer, loss_fn, config, penalties: what the fit renders, scores and optimises with.
        initial_mix, loss_before: the mix of the initial parameters and its loss.
        began: :func:`time.perf_counter` when the run began (for the time reported at the end).
        inputs: where the audio came from, recorded in ``metrics.json`` (``grafx prune`` reads
            it); ``None`` for audio that has no files.
        args: the ``grafx fit`` arguments the job was prepared from (``None`` outside the CLI).
    """

    out: Path
    G: Any
    processors: dict
    parameters: dict
    type_sequence: list[str] | None
    stems: Tensor
    target: Tensor
    sample_rate: int
    renderer: GraphRenderer
    loss_fn: Any
    config: FitConfig
    penalties: dict
    initial_mix: Tensor
    loss_before: float
    began: float
    inputs: dict | None = None
    args: Any = None

    def fit_arguments(self, callback: Callable[[int, float], None] | None = None) -> dict:
        """The keyword arguments of :func:`~grafx.fit.fit_parameters` for this job; they are
        also the fields of :class:`~grafx.fit.many.pack.PackedSong`."""
        return {
            "G": self.G,
            "processors": self.processors,
            "parameters": self.parameters,
            "sources": self.stems,
            "target": self.target,
            "loss_fn": self.loss_fn,
            "config": self.config,
            "type_sequence": self.type_sequence,
            "callback": callback,
            "penalties": self.penalties,
        }


@dataclass
class FinishedJob:
    """What :func:`finish_job` returns.

    Attributes:
        fitted_mix: the full-length mix of the fitted parameters, ``(C, L)``.
        loss_after: its loss against the target.
        files: what was written, by kind (``"fitted"``, ``"initial"``, ``"graph"``,
            ``"report"``, ``"metrics"``).
        summary: :func:`~grafx.fit.summary.fit_summary`'s dict (what ``metrics.json`` holds),
            with ``loss_before`` and ``loss_after``; empty without metrics.
    """

    fitted_mix: Tensor
    loss_after: float
    files: dict[str, Path] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def prepare_job(
    out: str | Path,
    G: Any,
    processors: Mapping,
    stems: Tensor,
    target: Tensor,
    sample_rate: int,
    *,
    parameters: Mapping | None = None,
    type_sequence: Sequence[str] | None = None,
    crop_seconds: float | None = CROP_SECONDS,
    warmup_seconds: float = WARMUP_SECONDS,
    gain_staging: float = GAIN_STAGING_WEIGHT,
    sparsity: float = 0.0,
    inputs: dict | None = None,
    began: float | None = None,
    header: Sequence[str] = (),
    log: Log | None = print,
    args: Any = None,
    loss: str | None = None,
    **options: Any,
) -> FitJob:
    """Prepare a fit with the recipe of :mod:`grafx.fit.recipe`.

    Args:
        out: the output folder (:func:`finish_job` creates it if missing).
        G: the graph; ``processors`` its ``{type: nn.Module}``.
        stems: sources ``(K, C, L)``; ``target`` the mix to match, ``(C, L)``.
        sample_rate: the working rate in Hz.
        parameters: initial parameters; ``None``: the console's neutral ones
            (:func:`~grafx.presets.console_parameters`).
        type_sequence: a fixed schedule (e.g. from ``build_mixing_console``).
        crop_seconds: seconds rendered per step, warm-up included; ``None``: the whole audio
            (and no warm-up).
        warmup_seconds: leading seconds of each crop that are not scored.
        gain_staging: weight of the gain-staging regulariser (0: off); it applies only where
            the graph has one of its node types.
        sparsity: weight of the gate L1 penalty (:class:`~grafx.prune.GateSparsity`, ramped
            from 0 over the fit as in the paper, which fits with 1e-4 before pruning); 0: off.
        inputs: recorded in ``metrics.json`` (see :class:`FitJob`).
        began: when the run began (default: now).
        header: lines logged before the loss of the initial mix.
        log: where the lines go (``None``: nowhere).
        args: kept on the job (see :class:`FitJob`).
        loss: the objective's name in :data:`grafx.losses.LOSSES` (``None``: the default,
            :data:`grafx.losses.DEFAULT_LOSS`); recorded in ``metrics.json``.
        **options: other :class:`~grafx.fit.FitConfig` fields (``steps``, ``lr``, ``seed``,
            ``checkpoint``, ...) for :func:`~grafx.fit.recipe.recipe_config`.
    """
    began = time.perf_counter() if began is None else began
    if parameters is None:
        from grafx.presets import console_parameters

        parameters = console_parameters(G, processors, sample_rate)
    config = recipe_config(
        sample_rate,
        crop_seconds=crop_seconds,
        warmup_seconds=warmup_seconds if crop_seconds is not None else 0.0,
        **options,
    )
    used = {d["node_type"] for _, d in G.nodes(data=True)}
    penalties = recipe_penalties(gain_staging, used) if gain_staging else {}
    if sparsity:
        from grafx.prune.sparsity import GateSparsity

        penalties["sparsity"] = GateSparsity(sparsity, ramp=1.0)
    renderer = GraphRenderer(G, processors, type_sequence)
    loss_fn = recipe_loss(sample_rate, loss)
    with torch.no_grad():
        initial_mix = renderer(stems, parameters)[0]
    loss_before = evaluate_loss(renderer, loss_fn, parameters, stems, target)
    for line in (*header, f"loss before fit: {loss_before:.4f}"):
        if log is not None:
            log(line)
    return FitJob(
        out=Path(out),
        G=G,
        processors=dict(processors),
        parameters=dict(parameters),
        type_sequence=None if type_sequence is None else list(type_sequence),
        stems=stems,
        target=target,
        sample_rate=sample_rate,
        renderer=renderer,
        loss_fn=loss_fn,
        config=config,
        penalties=penalties,
        initial_mix=initial_mix,
        loss_before=loss_before,
        began=began,
        inputs=inputs,
        args=args,
    )


def fit_job(job: FitJob, callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Fit a prepared job; returns its :class:`~grafx.fit.FitResult`."""
    return fit_parameters(**job.fit_arguments(callback))


def finish_job(
    job: FitJob,
    result: FitResult,
    *,
    report: bool = True,
    metrics: bool = True,
    log: Log | None = print,
) -> FinishedJob:
    """Render the fitted mix and write the outputs of a finished fit to ``job.out``.

    Writes ``fitted.wav``, ``initial.wav``, ``graph.json`` (graph, processors and fitted
    parameters), ``report.png`` (if ``report``) and ``metrics.json`` (if ``metrics``, last);
    logs the summary table (with ``metrics``) and the loss after the fit.
    """
    from grafx.fit.summary import fit_summary, format_summary, write_summary
    from grafx.io import save_graph
    from grafx.io.audio import write_audio
    from grafx.losses import loss_settings

    out, sample_rate = job.out, job.sample_rate
    with torch.no_grad():
        fitted_mix = job.renderer(job.stems, result.parameters)[0]
    loss_after = evaluate_loss(job.renderer, job.loss_fn, result.parameters, job.stems, job.target)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "fitted": write_audio(out / "fitted.wav", fitted_mix, sample_rate),
        "initial": write_audio(out / "initial.wav", job.initial_mix, sample_rate),
    }
    save_graph(job.G, out / "graph.json", result.parameters, processors=job.processors)
    files["graph"] = out / "graph.json"
    if report:
        from grafx.fit.report import plot_report

        files["report"] = plot_report(
            out / "report.png",
            result.history,
            job.target,
            fitted_mix,
            sample_rate,
            job.G,
            loss_before=job.loss_before,
            loss_after=loss_after,
            initial=job.initial_mix,
        )
    lines = []
    summary: dict = {}
    if metrics:
        extra = {} if job.inputs is None else {"inputs": job.inputs}
        extra["loss"] = loss_settings(job.loss_fn)
        summary = fit_summary(
            result,
            fitted_mix,
            job.initial_mix,
            job.target,
            sample_rate,
            stems=job.stems,
            **extra,
        )
        files["metrics"] = write_summary(out / "metrics.json", summary)
        summary = {**summary, "loss_before": job.loss_before, "loss_after": loss_after}
        lines.append(format_summary(summary))
    ratio = job.loss_before / max(loss_after, 1e-12)
    lines.append(f"loss after fit:  {loss_after:.4f} ({ratio:.1f}x lower)")
    for line in lines:
        if log is not None:
            log(line)
    return FinishedJob(fitted_mix, loss_after, files, summary)


def log_done(job: FitJob, written: str, log: Log | None = print) -> float:
    """Log what was written where and the time since the run began; returns that time."""
    elapsed = time.perf_counter() - job.began
    if log is not None:
        log(f"wrote {written} to {job.out}/")
        log(f"done in {elapsed:.1f} s")
    return elapsed
