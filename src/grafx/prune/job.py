"""The pruning job of ``grafx prune``: prune the fitted graph of a ``grafx fit`` folder.

:func:`run_prune` reads the fit (``FIT_DIR/graph.json`` and the stems, target, rate and loss
that ``FIT_DIR/metrics.json`` records), prunes it with :func:`~grafx.prune.prune_graph` and
writes ``pruned.json``, ``pruned.wav``, ``prune.png``, ``metrics.json`` and ``removals.csv``
to the output folder. The search keeps its state in ``OUT/state`` after every round, so that
running the same job again resumes it.

The state records a fingerprint of the job (the graph, stem and target files and the options
that change the result, :data:`~grafx.prune.options.RESULT_OPTIONS`); a job with another
fingerprint is refused before anything slow runs, in one line that says what differs and how
to start afresh. More ``rounds`` than before continue a search.

The job logs its progress through :mod:`logging` (logger ``grafx.prune.job``; the rounds on
``grafx.prune.search``, the ranking's and fine-tuning's progress on ``grafx.progress``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grafx import __version__
from grafx.device import describe_device, move_processors, move_tree, resolve_device, resolve_dtype
from grafx.draw import draw_grafx
from grafx.errors import ConfigError, GraphFileError
from grafx.fit.fingerprint import file_fingerprint, first_difference
from grafx.fit.inputs import read_inputs
from grafx.fit.recipe import recipe_config, recipe_loss
from grafx.fit.summary import compared_mixes, write_summary
from grafx.io import load, save_graph
from grafx.io.atomic import atomic_write, remove_stale_temporaries
from grafx.io.audio import read_audio, to_stereo, write_audio
from grafx.io.files import check_regular_file
from grafx.losses import DEFAULT_LOSS, LOSSES, loss_settings
from grafx.prune.options import PruneOptions
from grafx.prune.search import PruneResult, prune_graph
from grafx.prune.state import GRAPH_FILE, STATE_FILE
from grafx.render.renderer import render_mix

__all__ = ["PruneJobResult", "run_prune", "FINGERPRINT_FILE", "OUTPUT_FILES"]

LOGGER = logging.getLogger(__name__)
#: The job's fingerprint, in the state folder.
FINGERPRINT_FILE = "fingerprint.json"
#: The files the job writes in its output folder.
OUTPUT_FILES = ("pruned.json", "pruned.wav", "prune.png", "metrics.json", "removals.csv")
#: How to start afresh, for a refused resume.
AFRESH = "start afresh with --restart or another --out"
#: The fine-tuning's crop and warm-up in seconds (the whole audio when shorter than the crop).
CROP_SECONDS, WARMUP_SECONDS = 3.8, 1.0


@dataclass
class PruneJobResult:
    """What :func:`run_prune` did.

    Attributes:
        out: the output folder.
        result: the search's :class:`~grafx.prune.PruneResult`.
        summary: what ``metrics.json`` holds.
        removals: the rows of ``removals.csv`` (``type,removed,before,rate``, header first).
        loss_name: the name of the loss the search scored with (:data:`grafx.losses.LOSSES`).
        sample_rate: the working rate in Hz.
        duration: the audio's length in seconds.
        seconds: the job's time in seconds.
        files: the files written, in ``out``.
    """

    out: Path
    result: PruneResult
    summary: dict[str, Any]
    removals: list[str]
    loss_name: str
    sample_rate: int
    duration: float
    seconds: float
    files: tuple[str, ...] = field(default=OUTPUT_FILES)


@dataclass
class _Fit:
    """What the job reads of the fit folder (before any audio)."""

    graph_file: Path
    stems: list[str]
    target: str
    sample_rate: int | None
    align: str
    loss_name: str
    loss_note: str


def run_prune(options: PruneOptions) -> PruneJobResult:
    """Run the pruning job of ``options`` (see the module docstring).

    Raises:
        ConfigError: a device that is not usable here; a state in the output folder made by
            another job (another fit, other files or other options).
        GraphFileError: a missing or unreadable fit folder, graph file or input file.
        AudioError: stems and target that cannot be read or do not match.
    """
    began = time.perf_counter()
    device, dtype = resolve_device(options.device), resolve_dtype(options.dtype)
    if device.type == "meta":
        raise ConfigError("--device meta holds no audio (shapes only); use cpu or cuda")
    fit = _read_fit(options)
    LOGGER.info(f"grafx prune: reading the fit in {options.fit_dir}/ ...")
    out = Path(options.out)
    fingerprint = _fingerprint(options, fit)
    _check_state(out, fingerprint, options.restart)
    inputs = _load(fit, device, dtype)
    _write_json(out / "state" / FINGERPRINT_FILE, {"fingerprint": fingerprint})
    LOGGER.info(f"device: {describe_device(device)}, {str(dtype).removeprefix('torch.')}")
    LOGGER.info(
        f"grafx prune: {inputs.G.number_of_nodes()} nodes, tolerance {options.tolerance:g} "
        f"({options.tolerance_mode}, reference {options.reference}), method {options.method}, "
        f"{options.rounds} round(s) of {options.finetune_steps} fine-tuning steps; scored "
        f"with {fit.loss_note}"
    )
    loss_fn = recipe_loss(inputs.sample_rate, fit.loss_name)
    result = prune_graph(
        inputs.G,
        inputs.processors,
        inputs.parameters,
        inputs.stems,
        inputs.target,
        options.search_config(inputs.sample_rate),
        loss_fn=loss_fn,
        fit_config=_fit_config(options, inputs),
        state_dir=out / "state",
        sample_rate=inputs.sample_rate,
        timeline=inputs.timeline,
    )
    removals = _removals(result)
    summary = {
        **_summary(options, result, inputs.G, inputs.sample_rate, loss_settings(loss_fn)),
        "fingerprint": fingerprint,
    }
    summary.update(_write_outputs(out, Path(options.fit_dir), inputs, result, removals, summary))
    return PruneJobResult(
        out=out,
        result=result,
        summary=summary,
        removals=removals,
        loss_name=fit.loss_name,
        sample_rate=inputs.sample_rate,
        duration=inputs.target.shape[-1] / inputs.sample_rate,
        seconds=time.perf_counter() - began,
    )


@dataclass
class _Inputs:
    """The fitted graph and the audio, on the job's device."""

    G: Any
    processors: dict
    parameters: dict
    stems: Tensor
    target: Tensor
    sample_rate: int
    timeline: Any = None  # an automated fit's curves' knots, at sample_rate


def _load(fit: _Fit, device: torch.device, dtype: torch.dtype) -> _Inputs:
    model = load(fit.graph_file)
    if not model.parameters:
        raise GraphFileError(f"{fit.graph_file}: the graph file holds no fitted parameters")
    stems, target, sample_rate = read_inputs(
        fit.stems, fit.target, sample_rate=fit.sample_rate, align=fit.align
    )
    return _Inputs(
        G=model.graph,
        processors=move_processors(model.processors, device),
        parameters=move_tree(model.parameters, device, dtype),
        stems=stems.to(device, dtype),
        target=target.to(device, dtype),
        sample_rate=sample_rate,
        timeline=None if model.timeline is None else model.timeline.at_rate(sample_rate),
    )


def _fit_config(options: PruneOptions, inputs: _Inputs) -> Any:
    """The fine-tuning's :class:`~grafx.fit.FitConfig`: the recipe's, on the whole audio when it
    is shorter than the recipe's crop."""
    whole = inputs.stems.shape[-1] / inputs.sample_rate <= CROP_SECONDS
    return recipe_config(
        inputs.sample_rate,
        crop_seconds=None if whole else CROP_SECONDS,
        warmup_seconds=0.0 if whole else WARMUP_SECONDS,
        steps=max(options.finetune_steps, 1),
        seed=options.seed,
        progress=options.progress,
    )


def _write_outputs(
    out: Path,
    fit_dir: Path,
    inputs: _Inputs,
    result: PruneResult,
    removals: list[str],
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Write the job's files (``metrics.json`` last: a folder that has it is whole); returns the
    mixes' comparison that ``metrics.json`` holds too."""
    G, processors, stems, timeline = inputs.G, inputs.processors, inputs.stems, inputs.timeline
    mixes = {
        "full": render_mix(G, processors, inputs.parameters, stems, timeline=timeline).cpu(),
        "pruned": render_mix(
            result.graph, processors, result.parameters, stems, timeline=timeline
        ).cpu(),
    }
    rate = inputs.sample_rate
    parameters = move_tree(result.parameters, "cpu")
    save_graph(
        result.graph,
        out / "pruned.json",
        parameters,
        processors=processors,
        sample_rate=rate,
        timeline=timeline,
    )
    write_audio(out / "pruned.wav", mixes["pruned"], rate)
    _draw(out / "prune.png", G, result.graph)
    with atomic_write(out / "removals.csv") as file:
        file.write(("\n".join(removals) + "\n").encode())
    compared = _compared(fit_dir, mixes, inputs.target.cpu(), stems, rate)
    write_summary(out / "metrics.json", {**summary, **compared})
    return compared


def _read_fit(options: PruneOptions) -> _Fit:
    """The fit folder's graph file, inputs and loss (refusing a folder that is not a fit's)."""
    fit_dir = Path(options.fit_dir)
    graph_file = fit_dir / "graph.json"
    if not fit_dir.is_dir():
        raise GraphFileError(f"{fit_dir}: no such folder (give the --out folder of grafx fit)")
    if not graph_file.exists():
        raise GraphFileError(
            f"{fit_dir}: no fitted graph (graph.json); run grafx fit --out {fit_dir}"
        )
    metrics = fit_dir / "metrics.json"
    summary = _read_json(metrics) if metrics.exists() else {}
    inputs = summary.get("inputs") or {}
    stems = list(options.stems or inputs.get("stems") or [])
    target = options.target or inputs.get("target")
    if not stems or not target:
        raise GraphFileError(
            f"{fit_dir}: metrics.json does not name the fit's stems and target (a fit made "
            "before grafx recorded them?); give them with --stems and --target"
        )
    rate = summary.get("sample_rate")
    loss_name, loss_note = _fit_loss(metrics, summary)
    return _Fit(
        graph_file=graph_file,
        stems=[str(s) for s in stems],
        target=str(target),
        sample_rate=int(rate) if rate else None,
        align=inputs.get("align", "refuse"),
        loss_name=loss_name,
        loss_note=loss_note,
    )


def _fit_loss(metrics: Path, summary: Mapping[str, Any]) -> tuple[str, str]:
    """The name of the loss the fit used (from its ``metrics.json``) and a note for the log."""
    recorded = summary.get("loss")
    if recorded is None:
        if metrics.exists():  # fits before grafx recorded the loss used the paper's
            return "paper", "the paper's MixLoss (metrics.json names no loss: an older fit)"
        return DEFAULT_LOSS, f"the default loss {DEFAULT_LOSS!r} (no metrics.json)"
    name = recorded.get("name") if isinstance(recorded, dict) else None
    if name not in LOSSES:
        raise ConfigError(
            f"{metrics}: the fit used the loss {recorded!r}, which grafx prune cannot rebuild; "
            f"prune in Python with prune_graph(..., loss_fn=...) (known: {sorted(LOSSES)})"
        )
    return str(name), f"the fit's loss {name!r}"


def _read_json(path: Path) -> dict:
    check_regular_file(path, "JSON")
    try:
        value = json.loads(path.read_text())
    except ValueError as error:
        raise GraphFileError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise GraphFileError(f"{path}: expected a JSON object")
    return value


def _fingerprint(options: PruneOptions, fit: _Fit) -> dict[str, Any]:
    """The job's fingerprint: the graph, stem and target files (name, size, SHA-256, in order),
    the loss and the options that change the result."""

    def file(path: str | Path, what: str) -> dict[str, Any]:
        check_regular_file(path, what)  # missing, a FIFO or a device: refused by name
        return file_fingerprint(path)

    return {
        "graph": file(fit.graph_file, "graph file"),
        "stems": [file(s, "audio") for s in fit.stems],
        "target": file(fit.target, "audio"),
        "loss": fit.loss_name,
        "prune_options": options.result_options(),
    }


def _check_state(out: Path, fingerprint: dict[str, Any], restart: bool) -> None:
    """Refuse a saved state in ``out`` made by another job (see the module docstring); with
    ``restart``, remove it. Removes the temporary files of a killed run."""
    state_dir, removing = out / "state", out / ".state.removing"
    if out.is_dir():
        remove_stale_temporaries(out, OUTPUT_FILES)
    if removing.exists():  # a restart killed while it removed the old state
        shutil.rmtree(removing)
    if restart:
        if state_dir.exists():  # out of the way in one step, then removed
            state_dir.rename(removing)
            shutil.rmtree(removing)
        return
    if not state_dir.is_dir():
        return
    remove_stale_temporaries(state_dir, (FINGERPRINT_FILE, STATE_FILE, GRAPH_FILE))
    file = state_dir / FINGERPRINT_FILE
    if not file.is_file():
        if (state_dir / STATE_FILE).exists():
            raise ConfigError(f"{state_dir}: a prune state of an older grafx; {AFRESH}")
        return
    try:
        recorded = json.loads(file.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{file}: unreadable ({error}); {AFRESH}") from None
    difference = first_difference(recorded, fingerprint)
    if difference is not None:
        raise ConfigError(f"{state_dir}: this state is of another prune ({difference}); {AFRESH}")


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as file:
        file.write((json.dumps(value, indent=2) + "\n").encode())


def _removals(result: PruneResult) -> list[str]:
    """``removals.csv``: removed and total processors per type."""
    rows = ["type,removed,before,rate"]
    for node_type, (removed, before) in sorted(result.removed_per_type.items()):
        rows.append(f"{node_type},{removed},{before},{removed / before:.3f}")
    return rows


def _summary(
    options: PruneOptions, result: PruneResult, G: Any, sample_rate: int, loss: dict
) -> dict[str, Any]:
    """The search's figures and how it was run, for ``metrics.json``."""
    names = {n: G.nodes[n].get("name", str(n)) for n in result.removed}
    before = result.loss_before
    return {
        "tolerance": options.tolerance,
        "tolerance_mode": options.tolerance_mode,
        "reference": options.reference,
        "method": options.method,
        "order": options.order,
        "rank_samples": round(options.rank_seconds * sample_rate),
        "loss_before": before,
        "loss_after": result.loss_after,
        "loss_change": result.loss_after / before - 1 if before else None,
        "rho": result.rho,
        "processors_before": result.num_processors,
        "processors_after": result.num_processors - len(result.removed),
        "removed": [{"node": n, "name": names[n]} for n in result.removed],
        "removed_per_type": {t: list(v) for t, v in result.removed_per_type.items()},
        "rounds": result.rounds,
        "loss_checks": result.evaluations,
        "sample_rate": sample_rate,
        "loss": loss,
        "band_tolerance_db": options.band_tolerance,
        "loudness_tolerance_lu": options.loudness_tolerance,
        "stft_tolerance": options.stft_tolerance,
        "band_rms_tolerance": options.band_rms_tolerance,
        "refused_by_descriptors": result.refused_by_descriptors,
        "grafx_version": __version__,
        "seed": options.seed,
        "options": _options_record(options),
    }


def _options_record(options: PruneOptions) -> dict[str, Any]:
    record = {name: getattr(options, name) for name in PruneOptions.__dataclass_fields__}
    return {
        k: list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v
        for k, v in record.items()
    }


def _compared(
    fit_dir: Path, mixes: dict[str, Tensor], target: Tensor, stems: Tensor, sample_rate: int
) -> dict:
    """The fitted ("full") and pruned mixes, the gain mix and (when the fit's ``initial.wav`` is
    at this rate and length) the initial mix, on the mix descriptors (``compared_mixes``)."""
    initial_file = fit_dir / "initial.wav"
    if initial_file.is_file():
        initial, rate = read_audio(initial_file)
        if rate == sample_rate and initial.shape[-1] == target.shape[-1]:
            initial = to_stereo(initial, str(initial_file)).to(target.dtype)
            mixes = {"initial": initial, **mixes}
    return compared_mixes(mixes, target, sample_rate, stems)


def _draw(path: Path, before: Any, after: Any) -> None:
    """``prune.png``: the fitted graph above the pruned one."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig_a, _ = draw_grafx(before, node_inside="node_name", node_inside_fontsize=4)
    width, height = fig_a.get_size_inches()
    plt.close(fig_a)
    fig, axes = plt.subplots(2, 1, figsize=(width, 2 * height + 1))
    try:
        draw_grafx(before, ax=axes[0], node_inside="node_name", node_inside_fontsize=4)
        axes[0].set_title(f"fitted: {before.number_of_nodes()} nodes")
        draw_grafx(after, ax=axes[1], node_inside="node_name", node_inside_fontsize=4)
        axes[1].set_title(f"pruned: {after.number_of_nodes()} nodes")
        with atomic_write(path) as file:
            fig.savefig(file, dpi=100, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
