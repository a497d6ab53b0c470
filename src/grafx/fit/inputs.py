"""Reading a fit's inputs: the stems and the target at the working rate, and the stems at their own.

A fit runs at a *working rate* (:data:`~grafx.fit.recipe.WORKING_RATE`, or the stems' own rate
when lower); its results are written at the stems' own rate, for which
:func:`read_native_stems` reads them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
from torch import Tensor

from grafx.data.rows import count_nodes_per_type
from grafx.errors import AudioError, ConfigError, GraphFileError
from grafx.fit.recipe import WORKING_RATE, check_sample_rate
from grafx.io import load
from grafx.io.audio import align_lengths, read_audio, read_stems, to_stereo
from grafx.io.files import check_regular_file
from grafx.processors.core.rate import processors_at_sample_rate

__all__ = [
    "working_rate",
    "read_inputs",
    "read_native_stems",
    "file_rates",
    "read_graph_at",
    "check_source_count",
]

PathLike = str | Path


def working_rate(
    stems: Sequence[PathLike], sample_rate: int | None = None, resample: bool = True
) -> int | None:
    """The rate to read at: ``sample_rate`` if given, else the working rate or the first stem's
    rate if lower; ``None`` (each file's own rate) when ``resample`` is off or the first stem
    cannot be read (:func:`read_inputs` then names it)."""
    if sample_rate is not None:
        check_sample_rate(sample_rate, "--sample-rate")
        return sample_rate
    try:
        check_regular_file(stems[0], "audio")  # sf.info would block on a FIFO
        native = sf.info(str(stems[0])).samplerate
    except GraphFileError:
        return None
    except Exception:  # noqa: BLE001 - read_stems names the unreadable file
        return None
    if not resample:
        return None
    return min(int(native), WORKING_RATE)


def read_inputs(
    stems: Sequence[PathLike],
    target: PathLike,
    *,
    sample_rate: int | None = None,
    resample: bool = True,
    align: str = "refuse",
) -> tuple[Tensor, Tensor, int]:
    """The stems ``(K, C, L)`` and the stereo target ``(2, L)`` at one rate, and that rate.

    ``sample_rate`` as in :func:`working_rate`; ``align`` (``refuse``, ``pad`` or ``trim``) says
    what to do when the files differ in length.

    Raises:
        AudioError: an unreadable file, a rate grafx cannot fit at, or lengths that differ
            under ``align="refuse"`` (the message gives both durations).
    """
    rate = working_rate(stems, sample_rate, resample)
    stem_audio, rate = read_stems(stems, rate, resample, align=align)
    check_sample_rate(rate, str(stems[0]))
    target_audio, _ = read_audio(target, rate, resample)
    target_audio = to_stereo(target_audio, str(target))
    length = stem_audio.shape[-1]
    if target_audio.shape[-1] != length:
        if align == "refuse":
            raise AudioError(
                f"{target}: the target lasts {target_audio.shape[-1] / rate:.3f} s but the "
                f"stems {length / rate:.3f} s; trim them to one length or pass --align pad|trim"
            )
        stem_audio, target_audio = align_lengths([stem_audio, target_audio], align)
    return stem_audio, target_audio, rate


def read_native_stems(
    stems: Sequence[PathLike],
    length: int,
    sample_rate: int,
    *,
    resample: bool = True,
    align: str = "refuse",
) -> tuple[Tensor | None, int | None]:
    """The stems at their own rate (the first stem's), ``(K, C, L')`` with ``L'`` the duration of
    ``length`` samples at ``sample_rate``, and that rate; ``(None, None)`` when it is
    ``sample_rate`` or the first stem cannot be read."""
    try:
        native_rate = int(sf.info(str(stems[0])).samplerate)
    except (RuntimeError, OSError):
        return None, None
    if native_rate == sample_rate:
        return None, None
    audio, native_rate = read_stems(stems, None, resample, align=align)
    wanted = round(length * native_rate / sample_rate)
    if audio.shape[-1] > wanted:
        audio = audio[..., :wanted]
    elif audio.shape[-1] < wanted:
        audio = torch.nn.functional.pad(audio, (0, wanted - audio.shape[-1]))
    return audio, native_rate


def file_rates(paths: Sequence[PathLike]) -> dict[str, int]:
    """The sample rate of each audio file, by file name (for ``metrics.json``)."""
    return {Path(p).name: int(sf.info(str(p)).samplerate) for p in paths}


def read_graph_at(
    path: PathLike, sample_rate: float | None
) -> tuple[Any, dict, dict | None, float | None, Any]:
    """``(G, processors, parameters, file_rate, timeline)`` of a graph file
    (:func:`grafx.io.load`), its processors rebuilt for ``sample_rate``
    (:func:`~grafx.processors.core.rate.processors_at_sample_rate`) and its automation timeline
    at that rate; ``file_rate`` is the file's own rate (``None``: not recorded), ``timeline``
    ``None`` for a static graph. ``sample_rate=None`` keeps the file's processors.

    Raises:
        GraphFileError: a bad graph file.
        ConfigError: a processor that cannot be rebuilt for ``sample_rate``.
    """
    model = load(path)
    processors, rate = model.processors, model.sample_rate
    if rate is not None and sample_rate is not None and float(sample_rate) != rate:
        processors = processors_at_sample_rate(processors, sample_rate, f"{path}: processors")
    timeline = model.timeline
    if timeline is not None and sample_rate is not None:
        timeline = timeline.at_rate(sample_rate)
    return model.graph, processors, model.parameters, rate, timeline


def check_source_count(G: Any, num_sources: int, where: str, what: str = "stems") -> None:
    """Refuse a number of sources that differs from the graph's ``in`` nodes.

    Raises:
        ConfigError: the message names ``where`` (the graph file) and both counts.
    """
    num_in = count_nodes_per_type(G, ["in"])["in"]
    if num_in != num_sources:
        raise ConfigError(
            f"{where}: the graph has {num_in} 'in' node(s) but {num_sources} {what} were given; "
            f"give one file per 'in' node, in node-id order"
        )
