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

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grafx.fit.loop import FitConfig, FitResult, fit_parameters
from grafx.fit.options import AUTOMATION_WEIGHT, KNOTS_EVERY, FitOptions
from grafx.fit.recipe import (
    CROP_SECONDS,
    GAIN_STAGING_WEIGHT,
    WARMUP_SECONDS,
    recipe_config,
    recipe_loss,
    recipe_penalties,
)
from grafx.metrics import blockwise_loss
from grafx.render.renderer import GraphRenderer
from grafx.render.stream import render_chunked, render_mix_chunked

__all__ = [
    "FitJob",
    "FinishedJob",
    "audio_inputs",
    "prepare_job",
    "fit_job",
    "finish_job",
    "full_band_mixes",
    "log_done",
]

Log = Callable[[str], Any]
#: Where the job's lines go by default (the command line shows them).
LOGGER = logging.getLogger(__name__)


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
        options: the :class:`~grafx.fit.options.FitOptions` the job was prepared from
            (``None``: prepared by :func:`prepare_job` directly); recorded in ``metrics.json``.
        timeline: the :class:`~grafx.automation.Timeline` of automated parameters over the
            stems (``None``: a static fit).
        native_stems, native_rate: the stems at their own rate, when it is not the working
            rate; ``fitted.wav`` and ``initial.wav`` are rendered from them (``None``: the
            stems are at their own rate).
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
    options: FitOptions | None = None
    timeline: Any = None
    native_stems: Tensor | None = None
    native_rate: int | None = None

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
            "timeline": self.timeline,
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
    log: Log | None = LOGGER.info,
    fit_options: FitOptions | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    native_stems: Tensor | None = None,
    native_rate: int | None = None,
    loss: str | None = None,
    automate: Sequence[str] = (),
    knots_every: float = KNOTS_EVERY,
    automation_weight: float = AUTOMATION_WEIGHT,
    timeline: Any = None,
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
        fit_options: kept on the job as its ``options`` (see :class:`FitJob`).
        device: where to render and fit (``None``: the stems' device; ``"auto"``: CUDA when
            usable, else the CPU; see :func:`grafx.device.resolve_device`). The stems, target,
            parameters and processors (in place) are moved there.
        dtype: ``"float32"`` or ``"float64"`` for the audio and parameters (``None``: the
            stems' dtype).
        native_stems, native_rate: the stems at their own rate, if it is not ``sample_rate``
            (see :class:`FitJob`).
        loss: the objective's name in :data:`grafx.losses.LOSSES` (``None``: the default,
            :data:`grafx.losses.DEFAULT_LOSS`); recorded in ``metrics.json``.
        automate: node types to automate (:func:`~grafx.automation.automate_parameters`):
            their time-varying parameters and node gates become curves with a knot every
            ``knots_every`` seconds over the stems (:meth:`~grafx.automation.Timeline.uniform`
            at the working rate), starting flat at the initial values.
        knots_every: seconds between knots of ``automate``'s curves.
        automation_weight: weight of the curves' total-variation penalty
            (:class:`~grafx.automation.smoothness.CurveSmoothness`, penalty ``"automation"``),
            which keeps automation from absorbing what static settings explain; 0: off.
        timeline: the timeline of curves already among ``parameters`` (a graph file with
            automation); not with ``automate``.
        **options: other :class:`~grafx.fit.FitConfig` fields (``steps``, ``lr``, ``seed``,
            ``checkpoint``, ...) for :func:`~grafx.fit.recipe.recipe_config`.
    """
    from grafx.device import move_processors, move_tree, resolve_device, resolve_dtype

    began = time.perf_counter() if began is None else began
    if parameters is None:
        from grafx.presets import console_parameters

        parameters = console_parameters(G, processors, sample_rate)
    device = stems.device if device is None else resolve_device(device)
    dtype = stems.dtype if dtype is None else resolve_dtype(dtype)
    stems, target = stems.to(device, dtype), target.to(device, dtype)
    parameters = move_tree(parameters, device, dtype)
    move_processors(processors, device)
    if automate:
        from grafx.automation import Timeline
        from grafx.errors import ConfigError
        from grafx.fit.automate import automate_fit_parameters

        if timeline is not None:
            raise ConfigError("the parameters are automated already; automate=() with timeline=")
        timeline = Timeline.uniform(stems.shape[-1] / sample_rate, knots_every, sample_rate)
        parameters = automate_fit_parameters(G, parameters, processors, automate, timeline)
    config = recipe_config(
        sample_rate,
        crop_seconds=crop_seconds,
        warmup_seconds=warmup_seconds if crop_seconds is not None else 0.0,
        **options,
    )
    penalties = _penalties(
        G, processors, parameters, gain_staging, sparsity, timeline, automation_weight
    )
    renderer = GraphRenderer(G, processors, type_sequence).to(device)
    loss_fn = recipe_loss(sample_rate, loss).to(device)
    for line in (*header, "rendering the initial mix ..."):  # before the first slow render
        if log is not None:
            log(line)
    initial_mix = render_chunked(
        renderer, stems, parameters, timeline=timeline, sample_rate=sample_rate
    )
    loss_before = blockwise_loss(loss_fn, initial_mix, target)
    if log is not None:
        log(f"loss before fit: {loss_before:.4f}")
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
        options=fit_options,
        native_stems=native_stems,
        native_rate=native_rate,
        timeline=timeline,
    )


def _penalties(
    G: Any,
    processors: Mapping,
    parameters: Mapping,
    gain_staging: float,
    sparsity: float,
    timeline: Any,
    automation_weight: float,
) -> dict:
    """The recipe's penalties for this graph: gain staging, gate sparsity and the automation
    curves' smoothness, each where its weight is not 0."""
    from grafx.automation import curve_keys
    from grafx.automation.smoothness import CurveSmoothness
    from grafx.gates import GateSparsity

    used = {d["node_type"] for _, d in G.nodes(data=True)}
    penalties = recipe_penalties(gain_staging, used) if gain_staging else {}
    if sparsity:
        penalties["sparsity"] = GateSparsity(sparsity, ramp=1.0)
    if timeline is not None and automation_weight:
        names = curve_keys(parameters, processors)
        if names:
            penalties["automation"] = CurveSmoothness(automation_weight, names)
    return penalties


def fit_job(job: FitJob, callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Fit a prepared job; returns its :class:`~grafx.fit.FitResult`."""
    return fit_parameters(**job.fit_arguments(callback))


def finish_job(
    job: FitJob,
    result: FitResult,
    *,
    report: bool = True,
    metrics: bool = True,
    log: Log | None = LOGGER.info,
) -> FinishedJob:
    """Render the fitted mix and write the outputs of a finished fit to ``job.out``.

    Writes ``fitted.wav``, ``initial.wav``, ``graph.json`` (graph, processors and fitted
    parameters, with the working rate as its ``sample_rate``), ``settings.txt`` (the fitted
    settings in physical units), ``report.png`` (if ``report``) and ``metrics.json`` (if
    ``metrics``, last); logs the summary table (with ``metrics``) and the loss after the fit.
    The two audio files are rendered at the stems' own rate and full band
    (:func:`full_band_mixes`), exactly as ``grafx render graph.json`` renders them; the loss,
    the report and the metrics are at the working rate.
    """
    from grafx.device import move_tree
    from grafx.fit.summary import format_summary
    from grafx.io import save_graph
    from grafx.io.audio import write_audio

    out, sample_rate = job.out, job.sample_rate
    fitted_mix = render_chunked(
        job.renderer, job.stems, result.parameters, timeline=job.timeline, sample_rate=sample_rate
    )
    loss_after = blockwise_loss(job.loss_fn, fitted_mix, job.target)
    # Files, plots and metrics are made on the CPU, once, from CPU copies.
    fitted_mix, target = fitted_mix.cpu(), job.target.cpu()
    initial_mix, parameters = job.initial_mix.cpu(), move_tree(result.parameters, "cpu")
    out.mkdir(parents=True, exist_ok=True)
    audio_rate, fitted_audio, initial_audio = full_band_mixes(job, result.parameters, log)
    files = {
        "fitted": write_audio(out / "fitted.wav", fitted_audio, audio_rate),
        "initial": write_audio(out / "initial.wav", initial_audio, audio_rate),
    }
    save_graph(
        job.G,
        out / "graph.json",
        parameters,
        processors=job.processors,
        sample_rate=sample_rate,
        timeline=job.timeline,
    )
    files["graph"] = out / "graph.json"
    from grafx.fit.settings_text import write_settings

    files["settings"] = write_settings(
        out / "settings.txt",
        job.G,
        result.parameters,
        job.processors,
        sample_rate,
        job.timeline,
    )
    if report:
        files["report"] = _plot(
            job, result, target, fitted_mix, initial_mix, loss_after, parameters
        )
    summary: dict = {}
    if metrics:
        files["metrics"], summary = _write_metrics(
            job, result, fitted_mix, initial_mix, target, loss_after
        )
    lines = [format_summary(summary)] if summary else []
    ratio = job.loss_before / max(loss_after, 1e-12)
    lines.append(f"loss after fit:  {loss_after:.4f} ({ratio:.1f}x lower)")
    for line in lines:
        if log is not None:
            log(line)
    return FinishedJob(fitted_mix, loss_after, files, summary)


def _plot(
    job: FitJob,
    result: FitResult,
    target: Tensor,
    fitted_mix: Tensor,
    initial_mix: Tensor,
    loss_after: float,
    parameters: Mapping,
) -> Path:
    """``report.png`` of a finished job (CPU tensors)."""
    from grafx.fit.report import plot_report

    return plot_report(
        job.out / "report.png",
        result.history,
        target,
        fitted_mix,
        job.sample_rate,
        job.G,
        loss_before=job.loss_before,
        loss_after=loss_after,
        initial=initial_mix,
        automation=_automation_curves(job, parameters),
    )


def _write_metrics(
    job: FitJob,
    result: FitResult,
    fitted_mix: Tensor,
    initial_mix: Tensor,
    target: Tensor,
    loss_after: float,
) -> tuple[Path, dict]:
    """Write ``metrics.json``; returns its path and the summary with ``loss_before`` and
    ``loss_after``."""
    from grafx.fit.summary import fit_summary, write_summary
    from grafx.losses import loss_settings

    extra = {} if job.inputs is None else {"inputs": job.inputs}
    extra["run"] = run_record(job)
    extra["loss"] = loss_settings(job.loss_fn)
    summary = fit_summary(
        result,
        fitted_mix,
        initial_mix,
        target,
        job.sample_rate,
        stems=job.stems.cpu(),
        **extra,
    )
    path = write_summary(job.out / "metrics.json", summary)
    return path, {**summary, "loss_before": job.loss_before, "loss_after": loss_after}


def _automation_curves(job: FitJob, parameters: Mapping) -> list:
    """The fitted automation of an automated job in physical units (faders, sends, pans, EQ
    bands, thresholds, ...), for the report (empty if static)."""
    if job.timeline is None:
        return []
    from grafx.automation.readout import automation_curves

    return automation_curves(job.G, parameters, job.processors, job.timeline, job.sample_rate)


def full_band_mixes(
    job: FitJob, parameters: Mapping, log: Log | None = LOGGER.info
) -> tuple[int, Tensor, Tensor]:
    """``(rate, fitted, initial)``: the mixes of ``parameters`` and of the job's initial
    parameters, ``(C, L)``, rendered at the stems' own rate from the stems at that rate, by the
    processors rebuilt for it (:func:`~grafx.processors.core.rate.processors_at_sample_rate`)
    and :func:`~grafx.render.stream.render_mix_chunked` (what ``grafx render`` does, by chunks). When a processor
    cannot be rebuilt (a rate-bound one), the mixes are rendered at the working rate instead,
    with a logged note."""
    from grafx.errors import ConfigError
    from grafx.processors.core.rate import processors_at_sample_rate

    stems, rate, processors = job.stems, job.sample_rate, job.processors
    if job.native_stems is not None and job.native_rate not in (None, job.sample_rate):
        try:
            processors = processors_at_sample_rate(job.processors, job.native_rate)
            stems, rate = job.native_stems, int(job.native_rate)
        except ConfigError as error:
            if log is not None:
                log(f"fitted.wav stays at the working rate {job.sample_rate} Hz: {error}")
    from grafx.device import move_tree

    device = stems.device  # the rebuilt processors are on the CPU with the native stems
    timeline = None if job.timeline is None else job.timeline.at_rate(rate)
    fitted = render_mix_chunked(
        job.G, processors, move_tree(parameters, device), stems, timeline=timeline, sample_rate=rate
    ).cpu()
    initial = render_mix_chunked(
        job.G,
        processors,
        move_tree(job.parameters, device),
        stems,
        timeline=timeline,
        sample_rate=rate,
    ).cpu()
    return rate, fitted, initial


def run_record(job: FitJob) -> dict:
    """How the fit was run, for ``metrics.json``: grafx version, seed, the job's
    :class:`~grafx.fit.options.FitOptions` (``None`` without them) and the fit configuration."""
    import dataclasses

    from grafx import __version__

    options = None if job.options is None else job.options.as_record()
    config = {k: v for k, v in dataclasses.asdict(job.config).items() if k != "fingerprint"}
    return {
        "grafx_version": __version__,
        "seed": job.config.seed,
        "options": options,
        "config": config,
    }


def log_done(job: FitJob, written: str, log: Log | None = LOGGER.info) -> float:
    """Log what was written where and the time since the run began; returns that time."""
    elapsed = time.perf_counter() - job.began
    if log is not None:
        log(f"wrote {written} to {job.out}/")
        log(f"done in {elapsed:.1f} s")
    return elapsed
