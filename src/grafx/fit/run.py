"""``grafx fit`` as a library call: :func:`run_fit` fits the stems of a
:class:`~grafx.fit.options.FitOptions` to its target and writes the fit's folder.

:func:`prepare_fit` does the reading and building: it checks the options, refuses a checkpoint
of another fit in the output folder (:mod:`grafx.fit.resume`), reads the stems and the target
at the working rate (:mod:`grafx.fit.inputs`), builds the console (:mod:`grafx.fit.console`)
or loads the graph, and prepares the job (:func:`grafx.fit.job.prepare_job`). :func:`run_fit`
fits it and writes ``fitted.wav``, ``initial.wav``, ``graph.json``, ``settings.txt``,
``metrics.json`` and ``report.png``, or, when the checkpoint says the fit had finished, only
reports that. Every line goes to :mod:`logging` (logger ``grafx.fit.job``).

Example (with audio files of your own)::

    from grafx.fit.options import FitOptions
    from grafx.fit.run import run_fit

    run = run_fit(FitOptions(stems=["a.wav", "b.wav"], target="mix.wav", out="fit", steps=100))
    print(run.finished.loss_after)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from grafx.device import describe_device, resolve_device, resolve_dtype
from grafx.errors import ConfigError
from grafx.fit.automate import check_automate
from grafx.fit.console import stem_console, track_names
from grafx.fit.crop import choose_crop
from grafx.fit.inputs import (
    check_source_count,
    file_rates,
    read_graph_at,
    read_inputs,
    read_native_stems,
)
from grafx.fit.job import (
    LOGGER,
    FinishedJob,
    FitJob,
    audio_inputs,
    finish_job,
    fit_job,
    log_done,
    prepare_job,
)
from grafx.fit.loop import FitResult
from grafx.fit.options import FitOptions
from grafx.fit.outputs import make_output_folder
from grafx.fit.resume import check_resume, finished_message, options_fingerprint
from grafx.presets import console_processors

__all__ = ["FitRun", "Initializer", "prepare_fit", "run_fit", "FIT_OUTPUTS"]

#: ``initial(G, processors, stems, target, sample_rate)``: the parameters a fit starts from
#: (``FitOptions.init``; e.g. a predictor's, :func:`grafx.nn.prediction.predictor_initializer`).
Initializer = Callable[[Any, dict, Tensor, Tensor, int], dict]
#: What :func:`run_fit` writes, for its last log line.
FIT_OUTPUTS = "fitted.wav, initial.wav, graph.json, settings.txt, metrics.json, report.png"


@dataclass
class FitRun:
    """What :func:`run_fit` did.

    Attributes:
        job: the prepared :class:`~grafx.fit.job.FitJob`.
        result: the fit's :class:`~grafx.fit.FitResult`.
        finished: what was written (``None`` when the fit had finished before and nothing was
            written again).
        message: the line saying so in that case (``None`` otherwise).
    """

    job: FitJob
    result: FitResult
    finished: FinishedJob | None
    message: str | None = None


def run_fit(options: FitOptions, initial_parameters: Initializer | None = None) -> FitRun:
    """Fit as ``grafx fit`` does: :func:`prepare_fit`, fit, write the outputs (see the module
    docstring); running it again resumes from the checkpoint in ``options.out``.

    Args:
        options: the fit's settings (checked first).
        initial_parameters: where ``options.init`` starts from (required with it).

    Raises:
        ConfigError: a bad setting, or a checkpoint of another fit in ``options.out``.
        AudioError, GraphFileError: unreadable or unusable input files.
    """
    job = prepare_fit(options, initial_parameters)
    result = fit_job(job)
    message = finished_message(job.out, result)
    if message is not None:
        LOGGER.info(message)
        return FitRun(job, result, None, message)
    finished = finish_job(job, result)
    log_done(job, FIT_OUTPUTS)
    return FitRun(job, result, finished)


def prepare_fit(options: FitOptions, initial_parameters: Initializer | None = None) -> FitJob:
    """Check ``options``, read the audio, build the graph, the recipe and the initial mix of a
    fit (see the module docstring); nothing slow runs before the options, the device and the
    checkpoint in the output folder are checked.

    Raises:
        ConfigError: as :func:`run_fit`.
    """
    began = time.perf_counter()
    out, fingerprint = _check_before_reading(options, initial_parameters)
    names = track_names(options.stems, options.groups)
    resample = not options.no_resample
    stems, target, sample_rate = read_inputs(
        options.stems,
        options.target,
        sample_rate=options.sample_rate,
        resample=resample,
        align=options.align,
    )
    G, processors, parameters, type_sequence, timeline = _graph(options, names, sample_rate)
    automate = check_automate(options.automate, G, processors, parameters, timeline, options.graph)
    native_stems, native_rate = read_native_stems(
        options.stems, stems.shape[-1], sample_rate, resample=resample, align=options.align
    )
    if options.init is not None and initial_parameters is not None:
        if timeline is not None:
            raise ConfigError(
                f"--init: {options.graph} is automated (it has curves); a predictor gives static "
                "settings, so start an automated fit without --graph and with --automate"
            )
        parameters = initial_parameters(G, processors, stems, target, sample_rate)
    if parameters is None and "limiter" in options.master:
        parameters = _master_limiter_start(G, processors, target, sample_rate)
    crop_seconds, crop_note = choose_crop(
        options.crop, options.warmup, stems.shape[-1], sample_rate
    )
    header = _header(options, G, stems.shape[-1], sample_rate, crop_note)
    inputs = {
        **audio_inputs(options.stems, options.target, options.align),
        "sample_rates": file_rates([*options.stems, options.target]),
        "fingerprint": fingerprint,
    }
    return prepare_job(
        out,
        G,
        processors,
        stems,
        target,
        sample_rate,
        parameters=parameters,
        type_sequence=type_sequence,
        crop_seconds=crop_seconds,
        warmup_seconds=options.warmup,
        gain_staging=options.gain_staging,
        sparsity=options.sparsity,
        inputs=inputs,
        began=began,
        header=header,
        fit_options=options,
        device=resolve_device(options.device),
        dtype=resolve_dtype(options.dtype),
        loss=options.loss,
        automate=automate,
        knots_every=options.knots_every,
        automation_weight=options.automation_weight,
        timeline=timeline,
        steps=options.steps,
        minutes=options.minutes,
        patience=options.patience,
        lr=options.lr,
        seed=options.seed,
        progress=options.progress,
        checkpoint=str(out / "checkpoint"),
        checkpoint_every=options.checkpoint_every,
        resume=not options.restart,
        native_stems=native_stems,
        native_rate=native_rate,
        fingerprint=fingerprint,
    )


def _check_before_reading(
    options: FitOptions, initial_parameters: Initializer | None
) -> tuple[Path, dict]:
    """Check the options, the device, the output folder, its checkpoint and the graph file's
    number of inputs; returns the folder and the fit's fingerprint."""
    options.validate()
    if options.init is not None and initial_parameters is None:
        raise ConfigError(
            f"--init {options.init}: give the predictor's initial_parameters "
            "(grafx.nn.prediction.predictor_initializer)"
        )
    out, _ = make_output_folder(options.out)
    LOGGER.info(f"grafx fit: reading {len(options.stems)} stems and the target ...")
    fingerprint = options_fingerprint(options)
    check_resume(out, fingerprint, options.restart)
    if options.graph is not None:
        graph = read_graph_at(options.graph, None)[0]
        check_source_count(graph, len(options.stems), options.graph)
    return out, fingerprint


def _header(options: FitOptions, G: Any, length: int, sample_rate: int, crop_note: str) -> list:
    """The lines logged before the initial mix is rendered."""
    device, dtype = resolve_device(options.device), resolve_dtype(options.dtype)
    return [
        f"grafx fit: {len(options.stems)} stems, {length / sample_rate:.2f} s at "
        f"{sample_rate} Hz; graph of {G.number_of_nodes()} nodes; {crop_note}",
        f"budget: {options.steps} steps or {options.minutes:g} min, whichever comes first",
        f"device: {describe_device(device)}, {str(dtype).removeprefix('torch.')}",
    ]


def _master_limiter_start(G: Any, processors: dict, target: Any, sample_rate: int) -> dict:
    """Neutral console parameters but the master limiter's ceiling at the target's peak level:
    a limited target peaks at its limiter's ceiling, and the limiter learns only where the mix
    reaches it (above the ceiling it has a gradient; below it is silent)."""
    import math

    from grafx.presets import console_parameters

    peak = max(float(target.abs().max()), 1e-6)
    settings = {"master/limiter": {"threshold_db": 20.0 * math.log10(peak)}}
    return console_parameters(G, processors, sample_rate, settings=settings)


def _graph(options: FitOptions, names: list[str], sample_rate: int) -> tuple:
    """``(G, processors, parameters, type_sequence, timeline)``: the console of the stems, or
    the graph file at the working rate."""
    if options.graph is None:
        G, type_sequence = stem_console(names, options.buses, options.groups, options.master)
        preset = options.built_console
        assert preset is not None  # None only with a graph file
        processors = console_processors(
            sample_rate=sample_rate, master_chain=options.master, preset=preset
        )
        return G, processors, None, type_sequence, None
    G, processors, parameters, _, timeline = read_graph_at(options.graph, sample_rate)
    return G, processors, parameters, None, timeline
