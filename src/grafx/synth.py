"""Synthesised multitracks: four stems of a short A-minor loop, and the settings of a hidden mix.

Everything is deterministic (fixed seeds). The multitrack has four stems (drums, bass, chords,
lead) of a loop at 120 bpm, made from sines, harmonic series and shaped noise with numpy; the
demo, the many-songs example and the predictor's training data are made from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from grafx.presets import DEFAULT_CHAIN

__all__ = ["STEM_NAMES", "HIDDEN_SETTINGS", "hidden_node_settings", "synthesize_multitrack"]

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
