"""``grafx predict``: a console's parameters from a trained predictor, in one pass.

Writes the folder ``grafx fit`` writes (``fitted.wav`` is the predicted mix, ``initial.wav``
the neutral console's, ``graph.json``, ``metrics.json``, ``report.png``), through the same
functions (:mod:`grafx.fit.job`). :func:`predicted_parameters` is also ``grafx fit --init``'s
starting point.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from grafx.cli.common import (
    CLIError,
    add_device_options,
    device_options,
    non_negative_int,
    output_dir,
    positive_int,
)

EXAMPLES = """examples:
  grafx predict --stems drums.wav bass.wav vox.wav --target mix.wav --out predicted
  grafx predict --model my-model.json --stems stems/*.wav --target mix.wav --out predicted
  grafx fit --init console --stems stems/*.wav --target mix.wav --out fit   # warm start

--model is a model file (PATH.json beside PATH.safetensors, from grafx.nn.train_predictor) or
the name of a shipped model (default: console, the full channel strip).
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict a mixing console's parameters from stems and a target, in one pass",
        description=(
            "Predict the parameters of a mixing console (one channel strip per stem, optional "
            "buses) that mixes the stems like the target, with a trained predictor, in one "
            "pass. Writes fitted.wav (the predicted mix), initial.wav (the neutral console), "
            "graph.json, metrics.json and report.png to --out, like grafx fit."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="console", help="model file or shipped model name")
    p.add_argument("--stems", nargs="+", required=True, metavar="AUDIO", help="stem files")
    p.add_argument("--target", required=True, metavar="MIX", help="the mix to match")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    buses = p.add_mutually_exclusive_group()
    buses.add_argument(
        "--buses", type=non_negative_int, default=0, help="subgroup buses, stems spread in order"
    )
    buses.add_argument(
        "--groups", default=None, metavar="JSON", help="groups file: one bus per group"
    )
    p.add_argument(
        "--bounded",
        action="store_true",
        help="keep every setting inside the physical ranges the model was trained in",
    )
    p.add_argument("--sample-rate", type=positive_int, default=None, help="work at this rate")
    p.add_argument("--no-resample", action="store_true", help="refuse other sample rates")
    p.add_argument(
        "--align", choices=("refuse", "pad", "trim"), default="refuse", help="unequal lengths"
    )
    p.add_argument("--no-report", action="store_true", help="do not draw report.png")
    add_device_options(p)
    p.set_defaults(run=run)


def predicted_parameters(
    model: str,
    G: Any,
    processors: dict,
    stems: Any,
    target: Any,
    sample_rate: int,
    bounded: bool = False,
) -> dict:
    """The parameters ``model`` predicts for ``G`` from ``stems`` and ``target``.

    Raises:
        GraphFileError: ``model`` is not a predictor file.
        ConfigError: the model was made for other processors or node types.
    """
    from grafx.nn.predictor import load_predictor

    predictor = load_predictor(model)
    predictor.check_processors(processors, where=f"model {model}")
    predictor.type_indices(G, where=f"model {model}")
    return predictor.predict(G, processors, stems, target, sample_rate, bounded=bounded)


def run(args) -> int:
    from grafx.cli.fit import _console
    from grafx.fit.inputs import read_inputs, read_native_stems
    from grafx.fit.job import audio_inputs, finish_job, log_done, prepare_job
    from grafx.fit.loop import FitResult
    from grafx.presets import console_processors

    began = time.perf_counter()
    device, dtype = device_options(args)
    out = output_dir(args.out)
    names = [Path(s).stem for s in args.stems]
    if args.groups is not None and len(set(names)) != len(names):
        raise CLIError(
            f"--groups: stem file names {names} repeat; a groups file needs distinct names"
        )
    if len(set(names)) != len(names):
        names = [f"track{i}" for i in range(len(names))]
    stems, target, sample_rate = read_inputs(
        args.stems,
        args.target,
        sample_rate=args.sample_rate,
        resample=not args.no_resample,
        align=args.align,
    )
    G, type_sequence = _console(args, names)
    processors = console_processors(sample_rate=sample_rate)
    native_stems, native_rate = read_native_stems(
        args.stems, stems.shape[-1], sample_rate, resample=not args.no_resample, align=args.align
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
        inputs=audio_inputs(args.stems, args.target, args.align),
        began=began,
        header=[
            f"grafx predict: {len(args.stems)} stems, {stems.shape[-1] / sample_rate:.2f} s at "
            f"{sample_rate} Hz; console of {G.number_of_nodes()} nodes; model {args.model}"
        ],
        args=args,
        device=device,
        dtype=dtype,
        native_stems=native_stems,
        native_rate=native_rate,
        steps=1,
        progress=False,
    )
    start = time.perf_counter()
    parameters = predicted_parameters(
        args.model,
        G,
        processors,
        job.stems.cpu(),
        job.target.cpu(),
        sample_rate,
        bounded=args.bounded,
    )
    from grafx.device import move_tree

    result = FitResult(
        parameters=move_tree(parameters, job.stems.device),
        steps=0,
        elapsed=time.perf_counter() - start,
        stop_reason="prediction",
    )
    finish_job(job, result, report=not args.no_report)
    log_done(
        job,
        "fitted.wav (the prediction), initial.wav, graph.json, metrics.json"
        + ("" if args.no_report else ", report.png"),
    )
    return 0
