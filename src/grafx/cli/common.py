"""Shared pieces of the command line: errors, argument parsing, graph and audio loading."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn


class CLIError(Exception):
    """A user error found by the command line itself (printed as ``grafx: error: ...``)."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line, ``grafx: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "grafx" else f"{self.prog}: "
        sys.stderr.write(f"grafx: error: {where}{message} (see {self.prog} --help)\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def load_model(path: str) -> tuple[Any, dict, dict | None]:
    """``(G, processors, parameters)`` of a graph file (see :func:`grafx.io.load`)."""
    from grafx.io import load

    return tuple(load(path))  # type: ignore[return-value]


def load_model_at(path: str, sample_rate: float | None) -> tuple[Any, dict, dict | None, Any]:
    """``(G, processors, parameters, rate)`` of a graph file, its processors rebuilt for
    ``sample_rate`` (see :func:`grafx.io.load`); ``rate`` is the file's own rate (``None``:
    not recorded)."""
    return load_automated_model_at(path, sample_rate)[:4]


def load_automated_model_at(
    path: str, sample_rate: float | None
) -> tuple[Any, dict, dict | None, Any, Any]:
    """:func:`load_model_at` plus the file's automation timeline (``None``: none), at
    ``sample_rate`` when one is given."""
    from grafx.errors import ConfigError
    from grafx.io import load
    from grafx.processors.core.rate import processors_at_sample_rate

    model = load(path)
    processors, rate = model.processors, model.sample_rate
    if rate is not None and sample_rate is not None and float(sample_rate) != rate:
        try:
            processors = processors_at_sample_rate(processors, sample_rate, f"{path}: processors")
        except ConfigError as error:
            raise CLIError(str(error)) from None
    timeline = model.timeline
    if timeline is not None and sample_rate is not None:
        timeline = timeline.at_rate(sample_rate)
    return model.graph, processors, model.parameters, rate, timeline


def graph_types(G: Any) -> list[str]:
    """Processor types of a graph (its config's types without ``in``/``out``/``mix``)."""
    types = (
        G.config.node_types
        if G.config is not None
        else sorted({d["node_type"] for _, d in G.nodes(data=True)})
    )
    return [t for t in types if t not in ("in", "out", "mix")]


def count_in_nodes(G: Any) -> int:
    from grafx.data.rows import count_nodes_per_type

    return count_nodes_per_type(G, ["in"])["in"]


def check_source_count(G: Any, num_sources: int, where: str, what: str = "stems") -> None:
    num_in = count_in_nodes(G)
    if num_in != num_sources:
        raise CLIError(
            f"{where}: the graph has {num_in} 'in' node(s) but {num_sources} {what} were given; "
            f"give one file per 'in' node, in node-id order"
        )


def output_path(path: str, suffixes: Sequence[str]) -> Path:
    """Check an output file's folder exists and its extension is known."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CLIError(f"{out}: unsupported output extension; use one of {', '.join(suffixes)}")
    if not out.parent.is_dir():
        raise CLIError(f"{out}: the folder {out.parent} does not exist")
    return out


#: Folders :func:`output_dir` created in this run, removed by :func:`remove_empty_outputs`.
CREATED_DIRS: list[Path] = []


def output_dir(path: str) -> Path:
    """Create (or reuse) an output folder, checking up front that files can be written in it.

    Raises:
        CLIError: an empty name, a file of that name, or a folder that cannot be created or
            written to.
    """
    if not str(path).strip():
        raise CLIError("--out: an empty folder name; give a folder (e.g. --out fit-output)")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CLIError(f"{out}: exists and is not a folder")
    missing = []
    parent = out
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CLIError(f"{out}: cannot create the folder: {error.strerror or error}") from None
    CREATED_DIRS.extend(missing)
    import os

    if not os.access(out, os.W_OK | os.X_OK):
        raise CLIError(f"{out}: the folder is not writable; give another --out")
    return out


def add_device_options(parser: argparse.ArgumentParser, dtype: bool = True) -> None:
    """Add ``--device`` (and ``--dtype``) to a command; :func:`device_options` reads them."""
    parser.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="where to compute: auto (default: cuda when a GPU is usable, else cpu), cpu, "
        "cuda, cuda:N or mps",
    )
    if dtype:
        parser.add_argument(
            "--dtype",
            choices=("float32", "float64"),
            default="float32",
            help="precision of the audio and parameters (default: float32)",
        )


def device_options(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(torch.device, torch.dtype)`` of a command's ``--device``/``--dtype`` (checked).

    A namespace without them (built by code) gets the CPU in float32. A device that does not
    exist here is a one-line error that says so.
    """
    from grafx.device import resolve_device, resolve_dtype

    device = resolve_device(getattr(args, "device", "cpu"))
    if device.type == "meta":
        raise CLIError("--device meta holds no audio (shapes only); use cpu or cuda")
    return device, resolve_dtype(getattr(args, "dtype", None))


def remove_empty_outputs() -> None:
    """Remove the folders this run created that are still empty (after a failure)."""
    while CREATED_DIRS:
        folder = CREATED_DIRS.pop(0)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty folder
