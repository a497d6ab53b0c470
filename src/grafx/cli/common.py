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
    ``sample_rate`` when one is given (:func:`grafx.fit.inputs.read_graph_at`)."""
    from grafx.fit.inputs import read_graph_at

    return read_graph_at(path, sample_rate)


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
    """:func:`grafx.fit.inputs.check_source_count` (a :class:`~grafx.errors.ConfigError`)."""
    from grafx.fit.inputs import check_source_count as check

    check(G, num_sources, where, what)


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
    """Create (or reuse) an output folder, checking up front that files can be written in it
    (:func:`grafx.fit.outputs.make_output_folder`); the folders it creates are removed by
    :func:`remove_empty_outputs` if they are still empty after a failure.

    Raises:
        ConfigError: an empty name, a file of that name, or a folder that cannot be created or
            written to.
    """
    from grafx.fit.outputs import make_output_folder

    out, created = make_output_folder(path)
    CREATED_DIRS.extend(created)
    return out


def add_song_options(parser: argparse.ArgumentParser) -> None:
    """``--stems``, ``--target``, ``--out`` and ``--buses`` | ``--groups``: a song's files and
    its console's buses (``grafx fit`` and ``grafx predict``)."""
    parser.add_argument("--stems", nargs="+", required=True, metavar="AUDIO", help="stem files")
    parser.add_argument("--target", required=True, metavar="MIX", help="the mix to match")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    buses = parser.add_mutually_exclusive_group()
    buses.add_argument(
        "--buses", type=non_negative_int, default=0, help="subgroup buses, stems spread in order"
    )
    buses.add_argument(
        "--groups", default=None, metavar="JSON", help="groups file: one bus per group"
    )


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """``--sample-rate``, ``--no-resample`` and ``--align``: how a song's files are read
    (:func:`grafx.fit.inputs.read_inputs`)."""
    from grafx.cli import bounds
    from grafx.fit.recipe import WORKING_RATE

    parser.add_argument(
        "--sample-rate",
        type=bounds.sample_rate,
        default=None,
        help=f"work at this rate (default: {WORKING_RATE} Hz, or the first stem's if lower); "
        "files at other rates are resampled once, when read",
    )
    parser.add_argument(
        "--no-resample",
        action="store_true",
        help="refuse files whose sample rate differs instead of resampling them",
    )
    parser.add_argument(
        "--align",
        choices=("refuse", "pad", "trim"),
        default="refuse",
        help="stems/target of different lengths: refuse (default), zero-pad or trim",
    )


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
    """``(torch.device, torch.dtype)`` of a command's ``--device``/``--dtype`` (checked by
    :func:`grafx.fit.options.check_device`).

    A namespace without them (built by code) gets the CPU in float32. A device that does not
    exist here is a one-line error that says so.
    """
    from grafx.device import resolve_device, resolve_dtype
    from grafx.fit.options import check_device

    device, dtype = getattr(args, "device", "cpu"), getattr(args, "dtype", None) or "float32"
    check_device(device, dtype)
    return resolve_device(device), resolve_dtype(dtype)


def remove_empty_outputs() -> None:
    """Remove the folders this run created that are still empty (after a failure)."""
    while CREATED_DIRS:
        folder = CREATED_DIRS.pop(0)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only an empty folder
