"""How the command line shows what the library logs, and ``--log-file``.

The library logs through :mod:`logging` (loggers under ``grafx``) and never prints; a command
shows those records on standard output as plain lines (``--quiet`` hides the progress lines,
not the results). ``--log-file PATH`` appends everything the command writes, its own lines,
the library's records and its errors, to ``PATH`` as well; progress is then written as a line
every few seconds rather than as a redrawn bar.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class _Tee:
    """A text stream that writes to a stream and to a log file; never a terminal."""

    def __init__(self, stream: TextIO, file: TextIO):
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        self.file.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.file.flush()
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def add_log_options(parser: Any) -> None:
    """Add ``--log-file`` to a command's parser."""
    parser.add_argument(
        "--log-file",
        default=None,
        metavar="PATH",
        help="also append everything the command writes to this file",
    )


@contextlib.contextmanager
def command_logging(args: Any) -> Iterator[None]:
    """Show the library's records on standard output while a command runs (see the module
    docstring); restores the streams and the ``grafx`` logger afterwards."""
    logger = logging.getLogger("grafx")
    saved = (logger.level, logger.propagate, list(logger.handlers), sys.stdout, sys.stderr)
    log_file = None
    path = getattr(args, "log_file", None)
    if path is not None:
        from grafx.cli.common import CLIError

        try:
            log_file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as error:
            raise CLIError(f"--log-file {path}: cannot open: {error.strerror or error}") from None
        sys.stdout = _Tee(sys.stdout, log_file)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, log_file)  # type: ignore[assignment]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if getattr(args, "quiet", False):
        logging.getLogger("grafx.progress").setLevel(logging.WARNING)
    try:
        yield
    finally:
        sys.stdout.flush()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]
        logging.getLogger("grafx.progress").setLevel(logging.NOTSET)
        sys.stdout, sys.stderr = saved[3], saved[4]
        if log_file is not None:
            log_file.close()
