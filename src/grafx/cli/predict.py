"""``grafx predict``: a console's parameters from a trained predictor, in one pass.

Writes the folder ``grafx fit`` writes (``fitted.wav`` is the predicted mix, ``initial.wav``
the neutral console's, ``graph.json``, ``metrics.json``, ``report.png``), through the same
functions (:func:`grafx.nn.prediction.run_predict`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from grafx.cli.common import (
    add_device_options,
    add_reading_options,
    add_song_options,
    output_dir,
)

if TYPE_CHECKING:
    from grafx.fit.options import PredictOptions

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
    add_song_options(p)
    p.add_argument(
        "--bounded",
        action="store_true",
        help="keep every setting inside the physical ranges the model was trained in",
    )
    add_reading_options(p)
    p.add_argument("--no-report", action="store_true", help="do not draw report.png")
    add_device_options(p)
    p.set_defaults(run=run)


def predict_options(args: argparse.Namespace) -> PredictOptions:
    """The :class:`~grafx.fit.options.PredictOptions` of ``grafx predict``'s arguments
    (checked)."""
    from grafx.fit.options import PredictOptions

    options = PredictOptions(
        stems=list(args.stems),
        target=args.target,
        out=args.out,
        model=args.model,
        buses=args.buses,
        groups=args.groups,
        bounded=args.bounded,
        sample_rate=args.sample_rate,
        no_resample=args.no_resample,
        align=args.align,
        report=not args.no_report,
        device=args.device,
        dtype=args.dtype,
    )
    options.validate()
    return options


def run(args: argparse.Namespace) -> int:
    from grafx.nn.prediction import run_predict

    options = predict_options(args)
    output_dir(options.out)  # removed again if the prediction fails before writing anything
    run_predict(options)
    return 0


def __getattr__(name: str) -> Any:
    # predicted_parameters lives in grafx.nn.prediction (loaded on demand: the CLI starts
    # without torch).
    if name == "predicted_parameters":
        from grafx.nn.prediction import predicted_parameters

        return predicted_parameters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
