"""``grafx fit-many``: fit every song of a manifest, packed, locally or on Ray, resumably."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    Parser,
    add_device_options,
    device_options,
    non_negative_int,
    positive_int,
)
from grafx.cli.fit import add_automation_options
from grafx.cli.logs import add_log_options
from grafx.errors import GrafxError

if TYPE_CHECKING:
    from grafx.fit.options import FitOptions

EXAMPLES = """examples:
  grafx fit-many songs.csv --out fits
  grafx fit-many songs.csv --out fits --jobs 2 --pack 4 --fit "--steps 200 --crop 1.0"
  grafx fit-many songs.csv --out fits --pack 4 --automate gain_pan,edge_gate --knots-every 0.5
  grafx fit-many songs.jsonl --out fits --executor ray --address auto
  grafx fit-many --demo-songs demo-songs      # write 4 synthetic songs and their manifest

manifest (CSV; stems separated by ';'; paths relative to the manifest):
  song,stems,target,groups
  song001,song001/drums.wav;song001/bass.wav,song001/mix.wav,
or JSON lines:
  {"song": "song001", "stems": ["song001/drums.wav"], "target": "song001/mix.wav"}
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fit-many",
        help="fit every song of a manifest (one grafx fit folder per song), resumably",
        description=(
            "Fit a console to every song of a manifest (CSV or JSON lines: song id, stems, "
            "target, optional groups file). Each song gets the folder grafx fit writes, "
            "OUT/<song>/, which appears only once complete. Running the command again skips "
            "finished songs and resumes interrupted ones from their checkpoints; summary.csv "
            "and fit-many.log in OUT are updated as songs finish. A failing song is recorded "
            "with its error and the others go on."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("manifest", nargs="?", help="the manifest (.csv, or .jsonl for JSON lines)")
    p.add_argument("--out", help="output folder")
    p.add_argument(
        "--fit", default="", metavar="OPTIONS", help="grafx fit options for every song, quoted"
    )
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="default: local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray)")
    p.add_argument("--jobs", type=positive_int, default=1, help="tasks at once (default: 1)")
    p.add_argument(
        "--pack", type=positive_int, default=1, help="songs fitted together per task (default: 1)"
    )
    p.add_argument("--threads", type=bounds.threads, default=None, help="torch threads per task")
    p.add_argument("--retries", type=non_negative_int, default=2, help="default: 2")
    p.add_argument(
        "--checkpoint-every", type=positive_int, default=10, help="steps between checkpoints"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--demo-songs", metavar="DIR", help="write synthetic songs + manifest.csv to DIR"
    )
    add_automation_options(p, defaults=False)  # passed on to every song's grafx fit
    add_device_options(p)  # passed on to every song's grafx fit (a --device in --fit wins)
    add_log_options(p)
    p.set_defaults(run=run)


def shared_fit_options(args: argparse.Namespace) -> FitOptions:
    """The fit options every song shares: ``--fit "..."`` parsed by ``grafx fit``'s own parser,
    after fit-many's ``--device``/``--dtype`` (a ``--device`` in ``--fit`` wins), checked once
    before any song starts; their ``stems``, ``target`` and ``out`` are left empty."""
    import dataclasses

    from grafx.cli.fit import fit_options

    try:
        words = shlex.split(args.fit)
    except ValueError as error:
        raise CLIError(f"--fit {args.fit!r}: {error}") from None
    for taken in ("--stems", "--target", "--out"):
        if taken in words:
            raise CLIError(f"--fit {shlex.join(words)!r}: {taken} is set per song by the manifest")
    automation = automation_words(args)
    for taken in automation[::2]:
        if any(w == taken or w.startswith(f"{taken}=") for w in words):
            raise CLIError(
                f"--fit {shlex.join(words)!r}: {taken} is given to fit-many itself too; give it "
                "once"
            )
    from grafx.fit.many.manifest import Song

    placeholder = Song("song", ("s.wav",), "t.wav")
    device_options(args)  # a device this machine lacks is refused before any song starts
    shared = ["--device", args.device, "--dtype", args.dtype]
    namespace = fit_args_namespace(placeholder, "o", [*automation, *words], before=shared)
    try:
        options = fit_options(namespace, check=False)
        options = dataclasses.replace(options, stems=(), target="", out="")
        options.validate(files=False)  # each song's files are checked by its own fit
    except (CLIError, GrafxError) as error:
        raise CLIError(f"--fit {shlex.join(words)!r}: {error}") from None
    return options


def automation_words(args: argparse.Namespace) -> list[str]:
    """fit-many's own ``--automate``, ``--knots-every`` and ``--automation-weight``, those
    given, as ``grafx fit`` words for every song."""
    words = []
    for option, value in (
        ("--automate", getattr(args, "automate", None)),
        ("--knots-every", getattr(args, "knots_every", None)),
        ("--automation-weight", getattr(args, "automation_weight", None)),
    ):
        if value is not None:
            words += [option, str(value)]
    return words


def fit_args_namespace(
    song: Any, out: str, words: Sequence[str], before: Sequence[str] = ()
) -> argparse.Namespace:
    """``grafx fit``'s arguments for a song's files (a :class:`grafx.fit.many.manifest.Song`),
    the folder ``out`` and the options
    ``words`` (after ``before``, so that they win), parsed by its own parser; a usage error is
    a :class:`CLIError` (``--fit '...': argument ...``)."""
    from grafx.cli import fit as fit_command

    parser = Parser(prog="grafx")
    fit_command.add_parser(parser.add_subparsers(dest="command", parser_class=Parser))
    argv = ["fit", "--stems", *song.stems, "--target", song.target, "--out", out, "--quiet"]
    if song.groups:
        argv += ["--groups", song.groups]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return parser.parse_args([*argv, *before, *words])
    except SystemExit:
        reason = errors.getvalue().strip().removeprefix("grafx: error: grafx fit: ")
        reason = reason.removesuffix(" (see grafx fit --help)")
        raise CLIError(f"--fit {shlex.join(words)!r}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    if args.demo_songs:
        from grafx.fit.many import write_demo_songs

        manifest = write_demo_songs(args.demo_songs)
        print(f"wrote 4 synthetic songs and {manifest}")
        return 0
    if not args.manifest or not args.out:
        raise CLIError("fit-many needs a MANIFEST and --out DIR (or --demo-songs DIR)")
    options = shared_fit_options(args)  # every song's options, checked before any song starts
    from grafx.fit.many import fit_many

    report = fit_many(
        args.manifest,
        args.out,
        options,
        executor=args.executor,
        jobs=args.jobs,
        pack=args.pack,
        threads=args.threads,
        retries=args.retries,
        address=args.address,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    print(
        f"grafx fit-many: {len(report.done)} fitted, {len(report.skipped)} already finished, "
        f"{len(report.failed)} failed, in {report.seconds:.1f} s; summary in {report.summary}"
    )
    for song in report.failed:
        print(f"  failed: {song} (see {args.out}/fit-many.log)")
    return 1 if report.failed else 0
