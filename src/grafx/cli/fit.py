"""``grafx fit``: fit a mixing graph to a target mix of the user's own stems."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    add_device_options,
    add_reading_options,
    add_song_options,
    non_negative_float,
    output_dir,
    positive_float,
    positive_int,
)
from grafx.cli.logs import add_log_options

if TYPE_CHECKING:
    from grafx.fit.job import FitJob
    from grafx.fit.loop import FitResult
    from grafx.fit.options import FitOptions
    from grafx.fit.run import Initializer

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
    from grafx.fit.options import DEFAULT_CONSOLE
    from grafx.mixing.console import CONSOLE_PRESETS

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
    add_song_options(p)
    p.add_argument("--graph", default=None, help="graph file to fit instead of a new console")
    p.add_argument(
        "--master",
        default=None,
        metavar="TYPES",
        help="a master strip between the summed mix and out, console types comma-separated "
        "(e.g. eq,compressor,limiter; default: none); the limiter starts at the target's peak",
    )
    p.add_argument(
        "--console",
        default=DEFAULT_CONSOLE,
        choices=sorted(CONSOLE_PRESETS),
        help=f"the console to fit (default: {DEFAULT_CONSOLE}): peak, compressors on each "
        "channel's peak envelope as plugin compressors (JUCE, pedalboard); paper, the "
        "mixing-graphs paper's console (always with --init: the predictors' console)",
    )
    _add_recipe_options(p)
    add_automation_options(p)
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


def _add_recipe_options(p: argparse.ArgumentParser) -> None:
    from grafx.fit.recipe import CROP_SECONDS, GAIN_STAGING_WEIGHT, LR, WARMUP_SECONDS
    from grafx.losses import DEFAULT_LOSS, LOSSES

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
    add_reading_options(p)
    p.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=DEFAULT_LOSS,
        help="the objective: "
        + "; ".join(f"{name}: {summary}" for name, (_, summary) in sorted(LOSSES.items())),
    )


def add_automation_options(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    """``--automate``, ``--knots-every`` and ``--automation-weight`` on ``p``; with
    ``defaults=False`` they default to ``None`` (not given; ``grafx fit-many`` passes on only
    those given)."""
    from grafx.fit.options import AUTOMATION_WEIGHT, KNOTS_EVERY

    p.add_argument(
        "--automate",
        default=None,
        metavar="TYPES",
        help="node types to automate, comma-separated (e.g. gain_pan,reverb): their "
        "time-varying parameters (faders, pans, thresholds, EQ bands at block rate) and "
        "dry/wet sends become curves fitted over time; edge_gate: every edge's level (the "
        "sends to buses and the mix) as a curve (default: none, a static fit)",
    )
    p.add_argument(
        "--knots-every",
        type=positive_float,
        default=KNOTS_EVERY if defaults else None,
        metavar="SECONDS",
        help=f"seconds between the knots of automation curves (default: {KNOTS_EVERY:g})",
    )
    p.add_argument(
        "--automation-weight",
        type=non_negative_float,
        default=AUTOMATION_WEIGHT if defaults else None,
        metavar="W",
        help="weight of the total-variation penalty on automation curves, which keeps them "
        f"from absorbing what static settings explain (default: {AUTOMATION_WEIGHT:g}; 0: off)",
    )


def fit_options(args: argparse.Namespace, check: bool = True) -> FitOptions:
    """The :class:`~grafx.fit.options.FitOptions` of ``grafx fit``'s arguments (checked unless
    ``check`` is false)."""
    from grafx.fit.options import DEFAULT_CONSOLE, FitOptions

    automate: tuple[str, ...] = ()
    if args.automate is not None:
        automate = tuple(t.strip() for t in args.automate.split(",") if t.strip())
        if not automate:
            raise CLIError(f"--automate {args.automate!r}: give node types, comma-separated")
    master: tuple[str, ...] = ()
    if args.master is not None:
        master = tuple(t.strip() for t in args.master.split(",") if t.strip())
        if not master:
            raise CLIError(f"--master {args.master!r}: give node types, comma-separated")
    options = FitOptions(
        stems=list(args.stems),
        target=args.target,
        out=args.out,
        graph=args.graph,
        buses=args.buses,
        groups=args.groups,
        master=master,
        console=getattr(args, "console", DEFAULT_CONSOLE),
        steps=args.steps,
        minutes=args.minutes,
        patience=args.patience,
        lr=args.lr,
        crop=args.crop,
        warmup=args.warmup,
        gain_staging=args.gain_staging,
        sparsity=args.sparsity,
        sample_rate=args.sample_rate,
        no_resample=args.no_resample,
        align=args.align,
        loss=args.loss,
        automate=automate,
        knots_every=args.knots_every,
        automation_weight=args.automation_weight,
        init=args.init,
        seed=args.seed,
        restart=args.restart,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
        device=args.device,
        dtype=args.dtype,
    )
    if check:
        options.validate()
    return options


def initializer(options: FitOptions) -> Initializer | None:
    """The predictor behind ``--init`` (``None`` without it)."""
    if options.init is None:
        return None
    from grafx.nn.prediction import predictor_initializer

    return predictor_initializer(options.init)


def prepare_fit(args: argparse.Namespace) -> FitJob:
    """:func:`grafx.fit.run.prepare_fit` of ``grafx fit``'s arguments."""
    from grafx.fit.run import prepare_fit as prepare

    options = fit_options(args)
    output_dir(options.out)
    return prepare(options, initializer(options))


def fit_job(job: FitJob, callback=None) -> FitResult:
    """Fit a prepared job (:func:`grafx.fit.job.fit_job`)."""
    from grafx.fit.job import fit_job as fit

    return fit(job, callback)


def run(args: argparse.Namespace) -> int:
    from grafx.fit.run import run_fit

    options = fit_options(args)
    output_dir(options.out)  # removed again if the fit fails before writing anything
    run_fit(options, initializer(options))
    return 0


def __getattr__(name: str) -> Any:
    # FitJob lives in grafx.fit.job; imported on demand so that the CLI starts without torch.
    if name == "FitJob":
        from grafx.fit.job import FitJob

        return FitJob
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
