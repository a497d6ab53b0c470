"""``grafx prune``: remove the processors a fitted mix does not need (on a ``grafx fit`` folder)."""

from __future__ import annotations

import argparse
import math

from grafx.cli import bounds
from grafx.cli.common import add_device_options, non_negative_int, output_dir, positive_int
from grafx.cli.logs import add_log_options
from grafx.fit.summary import format_comparison
from grafx.prune.job import run_prune
from grafx.prune.options import TOLERANCE_MODES, PruneOptions
from grafx.prune.search import METHODS, ORDERS, REFERENCES

EXAMPLES = """examples:
  grafx prune my-fit --tolerance 0.01 --out my-pruned
  grafx prune my-fit --tolerance 0.1 --method brute --rounds 4 --out pruned-brute
  grafx prune my-fit --stems moved/*.wav --target moved/mix.wav --out my-pruned
"""


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _tolerance_or_off(text: str) -> float | None:
    if text.strip().lower() == "off":
        return None
    return _tolerance(text)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "prune",
        help="prune a fitted graph (the output folder of grafx fit) within a loss tolerance",
        description=(
            "Remove the processors of a fitted graph whose removal raises the loss the fit "
            "used (recorded in FIT_DIR/metrics.json) by at most --tolerance (relative by "
            "default) and keeps the mix's third-octave band levels and loudness within "
            "--band-tolerance and --loudness-tolerance of the fitted mix's, in rounds each "
            "followed by fine-tuning (Lee et al., DAFx 2024). Reads FIT_DIR/graph.json and the stems and target named "
            "in FIT_DIR/metrics.json (or --stems/--target). Writes pruned.json, pruned.wav, "
            "prune.png (before/after), metrics.json and removals.csv to --out, and keeps its "
            "state there after every round: running the same command again resumes (more "
            "--rounds continue it; other files or options are refused: --restart starts afresh)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("fit_dir", metavar="FIT_DIR", help="output folder of grafx fit")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _add_search_options(p)
    p.add_argument("--stems", nargs="+", default=None, metavar="AUDIO", help="override stems")
    p.add_argument("--target", default=None, metavar="MIX", help="override the target")
    p.add_argument("--seed", type=bounds.seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--restart",
        action="store_true",
        help="start afresh: remove the saved search state in --out",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)
    add_log_options(p)
    p.set_defaults(run=run)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """The options of the search (tolerances, method, rounds, fine-tuning)."""
    p.add_argument(
        "--tolerance", type=_tolerance, default=0.01, help="loss increase allowed (0.01)"
    )
    p.add_argument(
        "--tolerance-mode",
        choices=TOLERANCE_MODES,
        default="relative",
        help="accept while loss <= (1 + tol) L0 (relative, default) or <= L0 + tol (absolute)",
    )
    p.add_argument(
        "--reference",
        choices=REFERENCES,
        default="given",
        help="L0: the fitted graph's loss (given, default) or the lowest seen so far (best)",
    )
    p.add_argument(
        "--band-tolerance",
        type=_tolerance_or_off,
        default=1.0,
        metavar="DB",
        help="refuse a removal that makes any third-octave band's error (40 Hz-16 kHz, mid and "
        "audible side) more than DB worse than the fitted mix's (1.0; off: no check)",
    )
    p.add_argument(
        "--loudness-tolerance",
        type=_tolerance_or_off,
        default=0.5,
        metavar="LU",
        help="refuse a removal that moves the integrated loudness more than LU from the fitted "
        "mix's (0.5; off: no check)",
    )
    p.add_argument(
        "--stft-tolerance",
        type=_tolerance_or_off,
        default=0.05,
        metavar="R",
        help="refuse a removal that makes the mix's STFT distance to the target more than "
        "(1 + R) times the fitted mix's (0.05; off: no check)",
    )
    p.add_argument(
        "--band-rms-tolerance",
        type=_tolerance_or_off,
        default=0.05,
        metavar="R",
        help="refuse a removal that makes the rms of the mid third-octave band errors (40 "
        "Hz-16 kHz) more than (1 + R) times the fitted mix's (0.05; off: no check)",
    )
    p.add_argument("--method", choices=METHODS, default="hybrid", help="search (hybrid)")
    p.add_argument(
        "--order",
        choices=ORDERS,
        default="cost",
        help="hybrid ranking: each candidate's measured cost (default) or its gate (the paper's)",
    )
    p.add_argument(
        "--recover-steps",
        type=non_negative_int,
        default=50,
        help="when a round removes nothing, try its candidates one at a time, best-ranked "
        "first, each removed and fine-tuned this many steps before it is judged, until "
        "--patience refusals in a row (50; 0: off)",
    )
    p.add_argument(
        "--rank-seconds",
        type=_tolerance,
        default=0.0,
        help="cost ranking on the target's loudest stretch of this many seconds (0: the whole "
        "song; removals are still accepted on the whole song)",
    )
    p.add_argument(
        "--sparsity",
        type=_tolerance,
        default=1e-4,
        help="gate L1 penalty weight during fine-tuning (1e-4; 0: none)",
    )
    p.add_argument("--rounds", type=positive_int, default=12, help="pruning rounds (12)")
    p.add_argument(
        "--finetune-steps", type=non_negative_int, default=500, help="fit steps per round (500)"
    )


def options_of(args: argparse.Namespace) -> PruneOptions:
    """The :class:`~grafx.prune.options.PruneOptions` of a ``grafx prune`` command line."""
    return PruneOptions(
        fit_dir=args.fit_dir,
        out=args.out,
        tolerance=args.tolerance,
        tolerance_mode=args.tolerance_mode,
        reference=args.reference,
        band_tolerance=args.band_tolerance,
        loudness_tolerance=args.loudness_tolerance,
        stft_tolerance=args.stft_tolerance,
        band_rms_tolerance=args.band_rms_tolerance,
        method=args.method,
        order=args.order,
        recover_steps=args.recover_steps,
        rank_seconds=args.rank_seconds,
        sparsity=args.sparsity,
        rounds=args.rounds,
        finetune_steps=args.finetune_steps,
        stems=None if args.stems is None else tuple(args.stems),
        target=args.target,
        seed=args.seed,
        restart=args.restart,
        progress=not args.quiet,
        device=args.device,
        dtype=args.dtype,
    )


def run(args: argparse.Namespace) -> int:
    options = options_of(args)
    output_dir(str(options.out))  # refuses an unwritable folder; removed again if left empty
    job = run_prune(options)
    result, summary = job.result, job.summary
    print("\n".join(r.replace(",", "\t") for r in job.removals))
    print(
        f"removed {len(result.removed)} of {result.num_processors} processors (rho "
        f"{result.rho:.2f}); loss ({job.loss_name}) {result.loss_before:.5f} -> "
        f"{result.loss_after:.5f}; {result.refused_by_descriptors} removal(s) within the loss "
        "tolerance refused by the band/loudness tolerances"
    )
    print(f"full mix ({job.duration:.1f} s at {job.sample_rate} Hz):")
    print("\n".join(format_comparison(summary, ["initial", "gain_mix", "full", "pruned"])))
    print(f"wrote {', '.join(job.files)} to {job.out}/")
    print(f"done in {job.seconds:.1f} s")
    return 0
