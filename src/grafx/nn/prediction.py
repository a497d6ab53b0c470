"""Predictions as jobs: a console's parameters from a trained predictor, written like a fit.

:func:`run_predict` is ``grafx predict`` as a library call: it reads the stems and the target of
a :class:`~grafx.fit.options.PredictOptions`, builds their console, predicts its parameters in
one pass and writes the folder a fit writes (``fitted.wav`` is the predicted mix) through
:mod:`grafx.fit.job`. :func:`predictor_initializer` gives a fit its starting point
(``FitOptions.init``, ``grafx fit --init``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from torch import Tensor

from grafx.device import move_tree, resolve_device, resolve_dtype
from grafx.fit.console import stem_console, track_names
from grafx.fit.inputs import read_inputs, read_native_stems
from grafx.fit.job import FinishedJob, audio_inputs, finish_job, log_done, prepare_job
from grafx.fit.loop import FitResult
from grafx.fit.options import PredictOptions
from grafx.fit.outputs import make_output_folder
from grafx.nn.predictor import load_predictor
from grafx.presets import console_processors

__all__ = ["predicted_parameters", "predictor_initializer", "run_predict"]


def predicted_parameters(
    model: str,
    G: Any,
    processors: dict,
    stems: Tensor,
    target: Tensor,
    sample_rate: int,
    bounded: bool = False,
    start: bool = False,
) -> dict:
    """The parameters ``model`` (a model file or a shipped model's name) predicts for ``G``
    from ``stems`` ``(K, C, L)`` and ``target`` ``(C, L)``; with ``start``, as a fit's
    starting point (see :meth:`~grafx.nn.predictor.MixPredictor.predict`).

    Raises:
        GraphFileError: ``model`` is not a predictor file.
        ConfigError: the model was made for other processors or node types.
    """
    predictor = load_predictor(model)
    predictor.check_processors(processors, where=f"model {model}")
    predictor.type_indices(G, where=f"model {model}")
    return predictor.predict(
        G, processors, stems, target, sample_rate, bounded=bounded, start=start
    )


def predictor_initializer(model: str) -> Callable[[Any, dict, Tensor, Tensor, int], dict]:
    """A fit's ``initial_parameters`` (:func:`grafx.fit.run.run_fit`): the parameters
    ``model`` predicts as a starting point (:func:`predicted_parameters` with ``start``: the
    settings of the physical ranges as predicted, every other parameter and the gates neutral,
    so that the fit does not spend its first hundreds of steps undoing stray values there)."""

    def initial(G: Any, processors: dict, stems: Tensor, target: Tensor, rate: int) -> dict:
        return predicted_parameters(model, G, processors, stems, target, rate, start=True)

    return initial


def run_predict(options: PredictOptions) -> FinishedJob:
    """Predict a console's parameters and write the fit's files (see the module docstring).

    Raises:
        ConfigError: a bad setting, or a model made for other processors.
        AudioError, GraphFileError: unreadable input or model files.
    """
    began = time.perf_counter()
    options.validate()
    device, dtype = resolve_device(options.device), resolve_dtype(options.dtype)
    out, _ = make_output_folder(options.out)
    names = track_names(options.stems, options.groups)
    resample = not options.no_resample
    stems, target, sample_rate = read_inputs(
        options.stems,
        options.target,
        sample_rate=options.sample_rate,
        resample=resample,
        align=options.align,
    )
    G, type_sequence = stem_console(names, options.buses, options.groups)
    processors = console_processors(sample_rate=sample_rate)
    native_stems, native_rate = read_native_stems(
        options.stems, stems.shape[-1], sample_rate, resample=resample, align=options.align
    )
    job = prepare_job(
        out,
        G,
        processors,
        stems,
        target,
        sample_rate,
        type_sequence=type_sequence,
        crop_seconds=None,
        inputs=audio_inputs(options.stems, options.target, options.align),
        began=began,
        header=[
            f"grafx predict: {len(options.stems)} stems, {stems.shape[-1] / sample_rate:.2f} s "
            f"at {sample_rate} Hz; console of {G.number_of_nodes()} nodes; model {options.model}"
        ],
        device=device,
        dtype=dtype,
        native_stems=native_stems,
        native_rate=native_rate,
        steps=1,
        progress=False,
    )
    start = time.perf_counter()
    parameters = predicted_parameters(
        options.model,
        G,
        processors,
        job.stems.cpu(),
        job.target.cpu(),
        sample_rate,
        bounded=options.bounded,
    )
    result = FitResult(
        parameters=move_tree(parameters, job.stems.device),
        steps=0,
        elapsed=time.perf_counter() - start,
        stop_reason="prediction",
    )
    finished = finish_job(job, result, report=options.report)
    log_done(
        job,
        "fitted.wav (the prediction), initial.wav, graph.json, metrics.json"
        + (", report.png" if options.report else ""),
    )
    return finished
