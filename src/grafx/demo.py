"""The demo: a synthesised multitrack, a target mix with hidden settings, and a fit.

Everything is deterministic (fixed seeds), so two runs print the same losses. The multitrack
has four stems (drums, bass, chords, lead) of a short A-minor loop at 120 bpm, made from
sines, harmonic series and shaped noise with numpy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grafx.presets import DEFAULT_CHAIN

STEM_NAMES = ("drums", "bass", "chords", "lead")

#: The settings the target mix is rendered with, per track (the fit starts from neutral).
#: The EQ moves leave each stem's loudest band alone: a boost there would be a level change
#: that the fit could equally put on the fader, and the demo compares faders.
HIDDEN_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "drums": {
        "gain_pan": {"gain_db": -1.0, "pan": 0.0},
        "eq": {"eq_gains_db": [0.0, -3.0, 0.0, 3.0]},
        "compressor": {"threshold_db": -24.0, "ratio": 4.0},
        "reverb": {"reverb_mix": 0.1},
        "delay": {"delay_mix": 0.03},
    },
    "bass": {
        "gain_pan": {"gain_db": -4.0, "pan": 0.1},
        "eq": {"eq_gains_db": [0.0, 0.0, -3.0, -6.0]},
        "compressor": {"threshold_db": -20.0, "ratio": 3.0},
        "reverb": {"reverb_mix": 0.03},
        "delay": {"delay_mix": 0.02},
    },
    "chords": {
        "gain_pan": {"gain_db": -9.0, "pan": -0.6},
        "imager": {"width": 1.8},
        "eq": {"eq_gains_db": [-3.0, 0.0, 0.0, 2.0]},
        "reverb": {"reverb_mix": 0.4},
    },
    "lead": {
        "gain_pan": {"gain_db": -5.0, "pan": 0.5},
        "eq": {"eq_gains_db": [-3.0, 0.0, 4.0, 0.0]},
        "delay": {"delay_mix": 0.3},
        "reverb": {"reverb_mix": 0.25},
    },
}


def hidden_node_settings(chain: Sequence[str] = DEFAULT_CHAIN) -> dict[str, dict[str, Any]]:
    """:data:`HIDDEN_SETTINGS` by node name (``"drums/eq"``), for the types in ``chain``.

    The form :func:`grafx.presets.console_parameters` takes for a console built with
    ``track_names=STEM_NAMES``.
    """
    return {
        f"{name}/{node_type}": values
        for name, per_type in HIDDEN_SETTINGS.items()
        for node_type, values in per_type.items()
        if node_type in chain
    }


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _harmonic(freq: float, t: np.ndarray, weights: list[float], vibrato: float = 0.0) -> np.ndarray:
    phase = 2 * np.pi * freq * t
    if vibrato:
        phase = phase + vibrato * np.sin(2 * np.pi * 5.0 * t) * freq / 5.0 * 2 * np.pi / 100
    total = np.zeros_like(t)
    for k, w in enumerate(weights):
        total = total + w * np.sin((k + 1) * phase)
    return total


def synthesize_multitrack(
    sample_rate: int = 22050, duration: float = 6.0, seed: int = 0
) -> tuple[torch.Tensor, list[str]]:
    """Four stems of a loop: drums, bass, chords, lead.

    Args:
        sample_rate: in Hz.
        duration: seconds.
        seed: seeds the noise of the drums.

    Returns:
        ``(stems, names)`` with stems ``(4, 2, L)`` float32, each peaking at 0.5: the chords
        are stereo (voices detuned left and right), the other stems dual-mono.
    """
    rng = np.random.default_rng(seed)
    length = int(round(duration * sample_rate))
    beat = 0.5  # 120 bpm
    stems = {name: np.zeros(length) for name in (*STEM_NAMES, "chords_right")}

    def place(name: str, start: float, sound: np.ndarray) -> None:
        i = int(start * sample_rate)
        if i < length:
            n = min(len(sound), length - i)
            stems[name][i : i + n] += sound[:n]

    def env(seconds: float, decay: float, attack: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        return t, np.minimum(t / attack, 1.0) * np.exp(-t / decay)

    chords = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]  # Am F C G
    melody = [76, 74, 72, 71, 72, 74, 76, 79, 77, 76, 74, 72, 74, 72, 71, 67]
    num_beats = int(duration / beat) + 1
    for b in range(num_beats):
        start = b * beat
        t, e = env(0.35, 0.12)  # kick on every beat: a falling sine
        sweep = 45 + 80 * np.exp(-t / 0.03)
        place("drums", start, 0.9 * e * np.sin(2 * np.pi * np.cumsum(sweep) / sample_rate))
        if b % 2 == 1:  # snare on 2 and 4: noise and a tone
            t, e = env(0.25, 0.06)
            tone = 0.3 * np.sin(2 * np.pi * 185 * t)
            place("drums", start, e * (0.5 * rng.standard_normal(len(t)) + tone))
        for half in (0.0, beat / 2):  # hats on eighths: differentiated noise
            t, e = env(0.06, 0.015)
            place("drums", start + half, 0.25 * e * np.diff(rng.standard_normal(len(t) + 1)))
        chord = chords[(b // 4) % 4]
        t, e = env(beat / 2 * 0.9, 0.15, 0.005)  # bass: eighth notes on the root
        for half in (0.0, beat / 2):
            place(
                "bass", start + half, e * _harmonic(_midi_hz(chord[0] - 24), t, [1, 0.5, 0.25, 0.1])
            )
        if b % 4 == 0:  # chords: one pad per bar, voices detuned left and right (stereo)
            t = np.arange(int(4 * beat * sample_rate)) / sample_rate
            pad_env = np.minimum(t / 0.2, 1.0) * np.exp(-t / 2.5)
            for side, cents in (("chords", -7.0), ("chords_right", 7.0)):
                pad = sum(_harmonic(_midi_hz(n + cents / 100), t, [1, 0.3, 0.1]) for n in chord)
                place(side, start, pad_env * pad)
        note = melody[b % len(melody)]  # lead: one note per beat, with vibrato
        t, e = env(beat * 0.95, 0.4, 0.01)
        place("lead", start, e * _harmonic(_midi_hz(note), t, [1, 0, 1 / 9, 0, 1 / 25], 0.6))
    audio = np.stack([np.stack([stems[n], stems[n]]) for n in STEM_NAMES])
    audio[STEM_NAMES.index("chords"), 1] = stems["chords_right"]
    audio *= 0.5 / np.abs(audio).max(axis=(1, 2), keepdims=True)
    return torch.from_numpy(audio.astype(np.float32)), list(STEM_NAMES)


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
    from grafx.device import (
        describe_device,
        move_processors,
        move_tree,
        resolve_device,
        resolve_dtype,
    )
    from grafx.fit.job import audio_inputs, finish_job, fit_job, log_done, prepare_job
    from grafx.fit.recipe import LR
    from grafx.io.audio import write_audio
    from grafx.presets import (
        build_mixing_console,
        console_parameters,
        console_processors,
        get_node_settings,
    )
    from grafx.render.renderer import render_mix

    began = time.perf_counter()
    lr_scale = {"gain_pan/log_gain": 3.0} if lr_scale is None else lr_scale
    out = Path(out_dir)
    (out / "stems").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    stems, names = synthesize_multitrack(sample_rate, duration, seed)
    G, type_sequence = build_mixing_console(len(names), num_buses, chain, track_names=names)
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    processors = move_processors(console_processors(chain, sample_rate=sample_rate), device)
    hidden = console_parameters(G, processors, sample_rate, hidden_node_settings(chain))
    target = render_mix(
        G, processors, move_tree(hidden, device, dtype), stems.to(device, dtype), type_sequence
    )
    if crop_seconds is not None and crop_seconds >= duration:
        crop_seconds = None
    files = {"target": write_audio(out / "target.wav", target, sample_rate)}
    for name, stem in zip(names, stems, strict=True):
        files[f"stem:{name}"] = write_audio(out / "stems" / f"{name}.wav", stem, sample_rate)
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

    def settings(parameters: dict) -> dict[str, dict[str, float]]:
        table = {}
        for name in names:
            row = {}
            for node_type in ("gain_pan", "imager"):
                if node_type in chain:
                    row.update(
                        get_node_settings(parameters, G, f"{name}/{node_type}", effective=True)
                    )
            table[name] = row
        return table

    demo = DemoResult(
        job.loss_before,
        finished.loss_after,
        0.0,
        files,
        settings(hidden),
        settings(result.parameters),
        result.history,
    )
    log("track      gain dB (hidden / fitted)   pan (hidden / fitted)")
    for name in names:
        h, f = demo.hidden[name], demo.fitted[name]
        if "gain_db" in h:
            log(
                f"{name:<10} {h['gain_db']:+6.1f} / {f['gain_db']:+6.1f}"
                f"              {h['pan']:+5.2f} / {f['pan']:+5.2f}"
            )
    written = sorted(p.name for p in files.values() if p.parent == out)
    demo.elapsed = log_done(job, f"{', '.join(written)} and stems/ ({', '.join(names)})", log)
    return demo
