"""``grafx fit``: fit a mixing graph to a target mix of the user's own stems."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    add_device_options,
    check_source_count,
    device_options,
    load_automated_model_at,
    load_model,
    non_negative_float,
    non_negative_int,
    output_dir,
    positive_float,
    positive_int,
)
from grafx.cli.logs import add_log_options
from grafx.fit.inputs import file_rates, read_inputs, read_native_stems

if TYPE_CHECKING:
    from grafx.fit.job import FitJob
    from grafx.fit.loop import FitResult

LOGGER = logging.getLogger("grafx.cli")

EXAMPLES = """examples:
  grafx fit --stems drums.wav bass.wav vox.wav --target mix.wav --out fit-output
  grafx fit --stems stems/*.wav --target mix.wav --groups groups.json --minutes 20 --out fit
  grafx fit --stems demo-output/stems/*.wav --target demo-output/target.wav --steps 300 --out fit
  grafx fit --stems a.wav b.wav --target mix.wav --graph my-graph.json --out fit-output
  grafx fit --stems a.wav b.wav --target mix.wav --buses 1 --crop 2.0 --warmup 0.5 --out fit

the default recipe (Lee et al., DAFx 2024, with grafx's whole-band loss): the band loss (log
band power in sixth-octave bands, every band alike, L/R + M/S; --loss paper: the paper's
A-weighted mel STFT MixLoss), gain staging 1e-3 on EQ/reverb/delay, AdamW at lr 1e-2, 3.8 s
crops with 1 s of warm-up, 30 kHz.
groups file: a JSON object mapping every stem (file name without extension) to a group,
  {"kick": "drums", "snare": "drums", "bass": "music", "vox": "vocals"}; one bus per group.
"""


def add_parser(sub) -> None:
    from grafx.fit.recipe import (
        CROP_SECONDS,
        GAIN_STAGING_WEIGHT,
        LR,
        WARMUP_SECONDS,
        WORKING_RATE,
    )
    from grafx.losses import DEFAULT_LOSS, LOSSES

    p = sub.add_parser(
        "fit",
        help="fit a mixing console (or a given graph) to a target mix of your stems",
        description=(
            "Fit the parameters of a mixing console (one channel strip per stem: EQ, "
            "compressor, noise gate, imager, gain/pan, delay, reverb; optional subgroup buses) "
            "or of a given graph so that its mix of the stems matches the target, with the "
            "mixing-graphs paper's recipe. Writes fitted.wav, initial.wav, graph.json (graph + "
            "fitted parameters), settings.txt, metrics.json and report.png to --out, and keeps "
            "a checkpoint there: running the same command again resumes (a checkpoint of "
            "other stems, target or options is refused; --restart starts afresh). The fit ends at --steps or "
            "--minutes, whichever comes first (or at --patience), with a summary."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stems", nargs="+", required=True, metavar="AUDIO", help="stem files")
    p.add_argument("--target", required=True, metavar="MIX", help="the mix to match")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--graph", default=None, help="graph file to fit instead of a new console")
    buses = p.add_mutually_exclusive_group()
    buses.add_argument(
        "--buses", type=non_negative_int, default=0, help="subgroup buses, stems spread in order"
    )
    buses.add_argument(
        "--groups", default=None, metavar="JSON", help="groups file: one bus per group"
    )
    p.add_argument("--steps", type=positive_int, default=12000, help="step budget (default: 12000)")
    p.add_argument("--minutes", type=positive_float, default=10.0, help="time budget (default: 10)")
    p.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        help="stop when the smoothed loss has not improved for this many steps",
    )
    p.add_argument(
        "--lr", type=bounds.learning_rate, default=LR, help=f"learning rate (default: {LR:g})"
    )
    p.add_argument(
        "--crop",
        type=positive_float,
        default=None,
        help=f"seconds rendered per step, warm-up included (default: {CROP_SECONDS:g}, or "
        "the whole audio if shorter)",
    )
    p.add_argument(
        "--warmup",
        type=non_negative_float,
        default=WARMUP_SECONDS,
        help=f"leading seconds of each crop not scored (default: {WARMUP_SECONDS:g})",
    )
    p.add_argument(
        "--gain-staging",
        type=non_negative_float,
        default=GAIN_STAGING_WEIGHT,
        help=f"weight of the gain-staging regulariser (default: {GAIN_STAGING_WEIGHT:g}; 0: off)",
    )
    p.add_argument(
        "--sparsity",
        type=non_negative_float,
        default=0.0,
        help="weight of the gate L1 penalty, ramped from 0 over the fit (the paper fits with "
        "1e-4 before pruning; default: 0, off)",
    )
    p.add_argument(
        "--sample-rate",
        type=bounds.sample_rate,
        default=None,
        help=f"work at this rate (default: {WORKING_RATE} Hz, or the first stem's if lower); "
        "files at other rates are resampled once, before the fit",
    )
    p.add_argument(
        "--no-resample",
        action="store_true",
        help="refuse files whose sample rate differs instead of resampling them",
    )
    p.add_argument(
        "--align",
        choices=("refuse", "pad", "trim"),
        default="refuse",
        help="stems/target of different lengths: refuse (default), zero-pad or trim",
    )
    p.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=DEFAULT_LOSS,
        help="the objective: "
        + "; ".join(f"{name}: {summary}" for name, (_, summary) in sorted(LOSSES.items())),
    )
    from grafx.fit.job import AUTOMATION_WEIGHT, KNOTS_EVERY

    p.add_argument(
        "--automate",
        default=None,
        metavar="TYPES",
        help="node types to automate, comma-separated (e.g. gain_pan,reverb): their "
        "time-varying parameters (faders, pans, thresholds, EQ bands at block rate) and "
        "dry/wet sends become curves fitted over time (default: none, a static fit)",
    )
    p.add_argument(
        "--knots-every",
        type=positive_float,
        default=KNOTS_EVERY,
        metavar="SECONDS",
        help=f"seconds between the knots of automation curves (default: {KNOTS_EVERY:g})",
    )
    p.add_argument(
        "--automation-weight",
        type=non_negative_float,
        default=AUTOMATION_WEIGHT,
        metavar="W",
        help="weight of the total-variation penalty on automation curves, which keeps them "
        f"from absorbing what static settings explain (default: {AUTOMATION_WEIGHT:g}; 0: off)",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="start from a predictor's parameters (grafx predict --model) instead of neutral",
    )
    p.add_argument("--seed", type=bounds.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=50,
        metavar="N",
        help="steps between checkpoints (default: 50); a kill loses at most the steps since",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)
    add_log_options(p)
    p.set_defaults(run=run)


def _crop(args, num_samples: int, sample_rate: int) -> tuple[float | None, str]:
    """Seconds rendered per step (``None``: all) and a note for the log."""
    from grafx.fit.recipe import CROP_SECONDS

    seconds = num_samples / sample_rate
    if args.crop is not None:
        if args.crop > seconds:
            raise CLIError(
                f"--crop {args.crop:g} s is longer than the audio ({seconds:.2f} s); "
                "give a shorter crop"
            )
        if args.crop <= args.warmup:
            raise CLIError(f"--crop {args.crop:g} s must be longer than --warmup {args.warmup:g} s")
        return args.crop, f"crops of {args.crop:g} s ({args.warmup:g} s warm-up)"
    if seconds < CROP_SECONDS:
        return None, f"the whole {seconds:.2f} s per step (shorter than a {CROP_SECONDS:g} s crop)"
    return CROP_SECONDS, f"crops of {CROP_SECONDS:g} s ({args.warmup:g} s warm-up)"


def _console(args, names: list[str]):
    from grafx.io.groups import read_groups
    from grafx.presets import build_mixing_console

    if args.groups is None:
        return build_mixing_console(len(names), args.buses, track_names=names)
    groups, track_to_bus = read_groups(args.groups, names)
    clash = sorted(set(groups) & set(names))
    bus_names = [f"{g}_bus" if clash else g for g in groups]
    return build_mixing_console(
        len(names), len(groups), track_to_bus=track_to_bus, track_names=names, bus_names=bus_names
    )


def _automate(args, G, processors, parameters, timeline) -> list[str]:
    """The node types of ``--automate``, checked against the graph (one-line errors)."""
    text = getattr(args, "automate", None)
    if not text:
        return []
    if timeline is not None:
        raise CLIError(
            f"--automate: {args.graph} is automated already (it has curves); fit it without "
            "--automate"
        )
    from grafx.automation import automatable_types

    types = [t.strip() for t in text.split(",") if t.strip()]
    used = {d["node_type"] for _, d in G.nodes(data=True)}
    present = {t: p for t, p in processors.items() if t in used}
    if parameters is None:
        from grafx.presets import console_parameters

        parameters = console_parameters(G, present)
    allowed = automatable_types(present, parameters)
    bad = [t for t in types if t not in allowed]
    if bad or not types:
        raise CLIError(
            f"--automate {text}: {', '.join(map(repr, bad)) or 'no type'} cannot be automated "
            f"in this graph; automatable types: {','.join(allowed)}"
        )
    return types


def prepare_fit(args) -> FitJob:
    """Read the audio, build the graph, the recipe and the initial mix of a ``grafx fit`` run."""
    from grafx.cli.resume import check_resume, fit_fingerprint_of_args
    from grafx.device import describe_device
    from grafx.fit.job import AUTOMATION_WEIGHT, KNOTS_EVERY, audio_inputs, prepare_job

    began = time.perf_counter()
    device, dtype = device_options(args)
    out = output_dir(args.out)
    LOGGER.info(f"grafx fit: reading {len(args.stems)} stems and the target ...")
    fingerprint = fit_fingerprint_of_args(args)
    check_resume(out, fingerprint, args.restart)
    type_sequence = None
    names = [Path(s).stem for s in args.stems]
    if args.graph is not None:
        if args.groups is not None or args.buses:
            raise CLIError("--groups and --buses build a console; they do not apply to --graph")
        G, processors, parameters = load_model(args.graph)
        check_source_count(G, len(args.stems), args.graph)
    elif args.groups is not None and len(set(names)) != len(names):
        raise CLIError(
            f"--groups: stem file names {names} repeat; a groups file needs distinct names"
        )
    if args.graph is None and args.buses > len(args.stems):
        raise CLIError(
            f"--buses {args.buses}: more buses than stems ({len(args.stems)}); give at most "
            f"{len(args.stems)}"
        )
    stems, target, sample_rate = read_inputs(
        args.stems,
        args.target,
        sample_rate=args.sample_rate,
        resample=not args.no_resample,
        align=args.align,
    )
    if args.graph is None:
        from grafx.presets import console_processors

        if len(set(names)) != len(names):
            names = [f"track{i}" for i in range(len(names))]
        G, type_sequence = _console(args, names)
        processors = console_processors(sample_rate=sample_rate)
        parameters = None
        timeline = None
    else:
        G, processors, parameters, _, timeline = load_automated_model_at(args.graph, sample_rate)
    automate = _automate(args, G, processors, parameters, timeline)
    native_stems, native_rate = read_native_stems(
        args.stems, stems.shape[-1], sample_rate, resample=not args.no_resample, align=args.align
    )
    if args.init is not None:
        if timeline is not None:
            raise CLIError(
                f"--init: {args.graph} is automated (it has curves); a predictor gives static "
                "settings, so start an automated fit without --graph and with --automate"
            )
        from grafx.cli.predict import predicted_parameters

        parameters = predicted_parameters(args.init, G, processors, stems, target, sample_rate)
    crop_seconds, crop_note = _crop(args, stems.shape[-1], sample_rate)
    header = [
        f"grafx fit: {len(args.stems)} stems, {stems.shape[-1] / sample_rate:.2f} s at "
        f"{sample_rate} Hz; graph of {G.number_of_nodes()} nodes; {crop_note}",
        f"budget: {args.steps} steps or {args.minutes:g} min, whichever comes first",
        f"device: {describe_device(device)}, {str(dtype).removeprefix('torch.')}",
    ]
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
        warmup_seconds=args.warmup,
        gain_staging=args.gain_staging,
        sparsity=args.sparsity,
        inputs={
            **audio_inputs(args.stems, args.target, args.align),
            "sample_rates": file_rates([*args.stems, args.target]),
            "fingerprint": fingerprint,
        },
        began=began,
        header=header,
        args=args,
        device=device,
        dtype=dtype,
        loss=getattr(args, "loss", None),
        automate=automate,
        knots_every=getattr(args, "knots_every", KNOTS_EVERY),
        automation_weight=getattr(args, "automation_weight", AUTOMATION_WEIGHT),
        timeline=timeline,
        steps=args.steps,
        minutes=args.minutes,
        patience=args.patience,
        lr=args.lr,
        seed=args.seed,
        progress=not args.quiet,
        checkpoint=str(out / "checkpoint"),
        checkpoint_every=getattr(args, "checkpoint_every", 50),
        resume=not args.restart,
        native_stems=native_stems,
        native_rate=native_rate,
        fingerprint=fingerprint,
    )


def fit_job(job: FitJob, callback=None) -> FitResult:
    """Fit a prepared job (:func:`grafx.fit.job.fit_job`)."""
    from grafx.fit.job import fit_job as fit

    return fit(job, callback)


def finish_fit(job: FitJob, result: FitResult) -> dict:
    """Write the outputs of a finished fit; returns its summary (what metrics.json holds, with
    ``loss_before`` and ``loss_after``)."""
    from grafx.fit.job import finish_job, log_done

    summary = finish_job(job, result).summary
    log_done(job, "fitted.wav, initial.wav, graph.json, settings.txt, metrics.json, report.png")
    return summary


def __getattr__(name: str) -> Any:
    # FitJob moved to grafx.fit.job; imported on demand so that the CLI starts without torch.
    if name == "FitJob":
        from grafx.fit.job import FitJob

        return FitJob
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(args) -> int:
    from grafx.cli.resume import report_finished

    job = prepare_fit(args)
    result = fit_job(job)
    if not report_finished(job.out, result):
        finish_fit(job, result)
    return 0
