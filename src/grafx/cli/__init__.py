"""Command-line front end: ``grafx demo|fit|predict|fit-many|evaluate|prune|render|draw|info``.

Every command has ``--help`` with examples. A failure prints one line, ``grafx: error: ...``,
and exits with status 1 (2 for a command-line usage error, 130 on Ctrl-C).
"""

from __future__ import annotations

import os
import sys

from grafx.cli.common import CLIError, Parser

EXAMPLES = """examples:
  grafx demo                                   # the main job on built-in data
  grafx fit --stems a.wav b.wav --target mix.wav --out fit-output
  grafx predict --stems a.wav b.wav --target mix.wav --out predicted
  grafx fit-many songs.csv --out fits --jobs 2 --pack 2
  grafx prune fit-output --tolerance 0.01 --out pruned
  grafx evaluate fit-output/fitted.wav mix.wav --baseline --stems a.wav b.wav
  grafx render fit-output/graph.json --sources a.wav b.wav -o mix.wav
  grafx draw fit-output/graph.json -o graph.png
  grafx info fit-output/graph.json
"""


def build_parser() -> Parser:
    """The ``grafx`` argument parser with its sub-commands."""
    import argparse

    from grafx.cli import bounds, demo, evaluate, fit, fit_many, graph, predict, prune, render

    parser = Parser(
        prog="grafx",
        description="Audio processing graphs in PyTorch: fit, render and inspect mixing graphs.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from grafx import __version__

    parser.add_argument("--version", action="version", version=f"grafx {__version__}")
    parser.add_argument(
        "--threads",
        type=bounds.threads,
        default=None,
        help="torch CPU threads (default: torch's choice)",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    demo.add_parser(sub)
    fit.add_parser(sub)
    predict.add_parser(sub)
    fit_many.add_parser(sub)
    prune.add_parser(sub)
    evaluate.add_parser(sub)
    render.add_parser(sub)
    graph.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user exported a value: OpenMP threads that spin
    while they wait cost several times the run time on shared cores, and waiting passively costs
    nothing measurable on an idle machine. OpenMP reads it once, when torch loads, so it is set
    before the parser imports the commands (and torch with them).
    """
    from grafx.cli.logs import command_logging

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        with command_logging(args):
            return _run(args)
    except CLIError as error:  # --log-file cannot be opened
        return _fail(str(error))


def _run(args) -> int:
    from grafx.errors import GrafxError

    try:
        if args.threads is not None:
            import torch

            torch.set_num_threads(max(1, args.threads))
        return args.run(args)
    except (GrafxError, CLIError) as error:
        return _fail(str(error))
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}")
    except KeyboardInterrupt:
        resumes = args.command in ("fit", "prune", "fit-many", "demo")
        hint = "; run the same command again to resume where it stopped" if resumes else ""
        return _fail(f"interrupted{hint}", 130)


def console_main() -> int:
    """The ``grafx`` executable: :func:`main` after the process-wide allocator settings.

    See :mod:`grafx.cli.allocator` (``GRAFX_MALLOC=default`` keeps the C library's defaults).
    """
    from grafx.cli.allocator import tune_allocator

    tune_allocator()
    return main()


def _fail(message: str, status: int = 1) -> int:
    from grafx.cli.common import remove_empty_outputs

    remove_empty_outputs()
    line = " ".join(message.split())
    sys.stderr.write(f"grafx: error: {line}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
