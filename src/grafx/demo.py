"""The demo: a synthesised multitrack (:mod:`grafx.synth`), a target mix with hidden settings, and a fit.

Everything is deterministic (fixed seeds), so two runs print the same losses. The synthesiser's
names are re-exported here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grafx.device import describe_device, move_processors, move_tree, resolve_device, resolve_dtype
from grafx.fit.job import audio_inputs, finish_job, fit_job, log_done, prepare_job
from grafx.fit.recipe import LR
from grafx.io.audio import write_audio
from grafx.presets import (
    DEFAULT_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    get_node_settings,
)
from grafx.render.renderer import render_mix
from grafx.synth import (
    HIDDEN_SETTINGS,
    STEM_NAMES,
    hidden_node_settings,
    synthesize_multitrack,
)

__all__ = [
    "DemoResult",
    "run_demo",
    "LOGGER",
    "HIDDEN_SETTINGS",
    "STEM_NAMES",
    "hidden_node_settings",
    "synthesize_multitrack",
]


@dataclass
class DemoResult:
    """What :func:`run_demo` returns (losses on the full-length mix)."""

    loss_before: float
    loss_after: float
    elapsed: float
    files: dict[str, Path]
    hidden: dict[str, dict[str, float]]
    fitted: dict[str, dict[str, float]]
    history: list[float] = field(default_factory=list)


#: Where the demo's lines go by default (the command line shows them).
LOGGER = logging.getLogger("grafx.demo")


def run_demo(
    out_dir: str | Path = "demo-output",
    steps: int = 150,
    duration: float = 6.0,
    sample_rate: int = 30000,
    num_buses: int = 0,
    lr: float | None = None,
    crop_seconds: float | None = 3.8,
    warmup_seconds: float = 1.0,
    seed: int = 0,
    chain: tuple[str, ...] = DEFAULT_CHAIN,
    lr_scale: dict[str, float] | None = None,
    progress: bool = True,
    report: bool = True,
    log: Callable[[str], Any] = LOGGER.info,
    device: str | torch.device | None = "cpu",
    dtype: str | torch.dtype | None = None,
) -> DemoResult:
    """Run the main job on built-in data and write its outputs to ``out_dir``.

    Synthesises the stems, renders ``target.wav`` through a console with
    :data:`HIDDEN_SETTINGS`, renders ``initial.wav`` with neutral settings, fits the neutral
    console to the target, renders ``fitted.wav``, and writes ``graph.json`` (the fitted graph
    and parameters), ``stems/*.wav`` and ``report.png``.

    Args:
        out_dir: output folder (created).
        steps: fit steps.
        duration: seconds of audio.
        sample_rate: in Hz.
        num_buses: subgroup buses in the console.
        lr: learning rate; ``None`` is the recipe's (see :mod:`grafx.fit.recipe`).
        crop_seconds: seconds rendered per fit step, warm-up included; ``None`` or longer
            than the audio renders all of it.
        warmup_seconds: leading seconds of each crop that only warm the state up.
        seed: seeds the synthesis and the fit.
        chain: the channel strip.
        lr_scale: per-parameter learning-rate multipliers (see
            :class:`~grafx.fit.FitConfig`); default ``{"gain_pan/log_gain": 3.0}``, so the faders take
            the level changes rather than the EQ bands.
        progress: show a progress bar.
        report: draw ``report.png``.
        log: where progress lines go.
        device: where the target is rendered and the fit runs (``"auto"``: CUDA when usable,
            else the CPU); the stems are synthesised on the CPU (the same on every device).
        dtype: ``"float32"`` (default) or ``"float64"``.

    Returns:
        A :class:`DemoResult`.
    """
    began = time.perf_counter()
    lr_scale = {"gain_pan/log_gain": 3.0} if lr_scale is None else lr_scale
    out = Path(out_dir)
    (out / "stems").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    stems, names = synthesize_multitrack(sample_rate, duration, seed)
    G, type_sequence = build_mixing_console(len(names), num_buses, chain, track_names=names)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    processors = move_processors(console_processors(chain, sample_rate=sample_rate), device)
    by_node: dict[int | str, Any] = dict(hidden_node_settings(chain).items())
    hidden = console_parameters(G, processors, sample_rate, by_node)
    target = render_mix(
        G, processors, move_tree(hidden, device, dtype), stems.to(device, dtype), type_sequence
    )
    if crop_seconds is not None and crop_seconds >= duration:
        crop_seconds = None
    files = _write_audio(out, target, stems, names, sample_rate)
    # recorded in metrics.json: grafx prune finds the stems there, in track order
    inputs = audio_inputs([files[f"stem:{name}"] for name in names], files["target"], "refuse")
    job = prepare_job(
        out,
        G,
        processors,
        stems,
        target,
        sample_rate,
        type_sequence=type_sequence,
        crop_seconds=crop_seconds,
        warmup_seconds=warmup_seconds,
        began=began,
        header=[
            f"grafx demo: {len(names)} tracks ({', '.join(names)}), {duration:g} s at "
            f"{sample_rate} Hz",
            f"console: {G.number_of_nodes()} nodes, {len(type_sequence)} render steps",
            f"device: {describe_device(device)}, {str(dtype).removeprefix('torch.')}",
        ],
        log=log,
        steps=steps,
        lr=LR if lr is None else lr,
        seed=seed,
        progress=progress,
        lr_scale=dict(lr_scale),
        inputs=inputs,
        device=device,
        dtype=dtype,
    )
    result = fit_job(job)
    finished = finish_job(job, result, report=report, log=log)
    files.update(finished.files)

    demo = DemoResult(
        job.loss_before,
        finished.loss_after,
        0.0,
        files,
        _fader_settings(hidden, G, names, chain),
        _fader_settings(result.parameters, G, names, chain),
        result.history,
    )
    _log_faders(demo, names, log)
    written = sorted(p.name for p in files.values() if p.parent == out)
    demo.elapsed = log_done(job, f"{', '.join(written)} and stems/ ({', '.join(names)})", log)
    return demo


def _write_audio(
    out: Path, target: torch.Tensor, stems: torch.Tensor, names: list[str], sample_rate: int
) -> dict[str, Path]:
    """Write ``target.wav`` and ``stems/<name>.wav``; returns them by kind."""
    files = {"target": write_audio(out / "target.wav", target, sample_rate)}
    for name, stem in zip(names, stems, strict=True):
        files[f"stem:{name}"] = write_audio(out / "stems" / f"{name}.wav", stem, sample_rate)
    return files


def _fader_settings(
    parameters: dict, G: Any, names: list[str], chain: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Each track's fader and imager settings (gain dB, pan, width) in physical units."""
    table = {}
    for name in names:
        row = {}
        for node_type in ("gain_pan", "imager"):
            if node_type in chain:
                row.update(get_node_settings(parameters, G, f"{name}/{node_type}", effective=True))
        table[name] = row
    return table


def _log_faders(demo: DemoResult, names: list[str], log: Callable[[str], Any]) -> None:
    log("track      gain dB (hidden / fitted)   pan (hidden / fitted)")
    for name in names:
        h, f = demo.hidden[name], demo.fitted[name]
        if "gain_db" in h:
            log(
                f"{name:<10} {h['gain_db']:+6.1f} / {f['gain_db']:+6.1f}"
                f"              {h['pan']:+5.2f} / {f['pan']:+5.2f}"
            )
