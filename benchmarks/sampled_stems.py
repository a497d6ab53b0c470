"""Stems of sampled instruments: General MIDI parts played through a soundfont by FluidSynth.

Each multitrack is five stems (drums, bass, keys, pad, lead) of a seeded four-chord song: tempo,
key, progression, rhythms, melody and the General MIDI programs (e.g. fingered or picked bass,
piano or electric piano, strings or synth pad, flute, saxophone or trumpet) are drawn from
``numpy.random.default_rng(index)``. Every stem is rendered by its own synthesiser (so nothing
leaks between stems) with FluidSynth's reverb and chorus switched off, as dry stems of a
recording session would be.

Needs the Debian packages ``fluidsynth`` and ``fluid-soundfont-gm`` (the FluidR3 General MIDI
soundfont, CC-BY/MIT) and the Python binding ``pyfluidsynth`` (in the ``bench`` extra)::

    apt-get install fluidsynth fluid-soundfont-gm

    PYTHONPATH=src python benchmarks/sampled_stems.py --index 0 --out /tmp/song0
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
STEMS = ("drums", "bass", "keys", "pad", "lead")
DRUM_CHANNEL = 9

#: General MIDI programs each stem draws from (0-based program numbers).
PROGRAMS = {
    "bass": (32, 33, 34, 38),  # acoustic, fingered, picked, synth bass
    "keys": (0, 4, 5, 16),  # piano, two electric pianos, drawbar organ
    "pad": (48, 49, 50, 89, 91),  # string ensembles, synth strings, warm and choir pads
    "lead": (56, 65, 71, 73, 80, 81),  # trumpet, alto sax, clarinet, flute, square and saw leads
}
#: Drum kits of the soundfont's percussion bank (128): standard, room, power, electronic.
KITS = (0, 8, 16, 24)
MAJOR = (0, 2, 4, 5, 7, 9, 11)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 4, 5, 3))


@dataclass(frozen=True)
class Note:
    """One note: start and end in seconds, MIDI key, velocity (1-127)."""

    start: float
    end: float
    key: int
    velocity: int


def _chord(root_degree: int, tonic: int) -> list[int]:
    """The triad on ``root_degree`` of the major scale of ``tonic`` (MIDI keys)."""
    keys = []
    for step in (0, 2, 4):
        degree = root_degree + step
        keys.append(tonic + MAJOR[degree % 7] + 12 * (degree // 7))
    return keys


def compose(index: int, seconds: float) -> tuple[dict[str, list[Note]], dict[str, int]]:
    """The notes of every stem and the program (or drum kit) of each, drawn from ``index``."""
    rng = np.random.default_rng(index)
    beat = 60.0 / rng.uniform(90, 132)
    bar = 4 * beat
    tonic = 48 + int(rng.integers(0, 12))
    progression = PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))]
    programs = {name: int(rng.choice(choices)) for name, choices in PROGRAMS.items()}
    programs["drums"] = int(rng.choice(KITS))
    notes: dict[str, list[Note]] = {name: [] for name in STEMS}
    hat_step = beat / 2 if rng.random() < 0.6 else beat / 4
    bars = int(np.ceil(seconds / bar)) + 1
    for b in range(bars):
        t0 = b * bar
        chord = _chord(progression[b % 4], tonic)
        for k in range(4):  # drums: kick on 1 and 3 (and a pickup), snare on 2 and 4
            t = t0 + k * beat
            drum = 36 if k % 2 == 0 else 38
            notes["drums"].append(Note(t, t + 0.1, drum, int(rng.integers(95, 120))))
            if k == 3 and rng.random() < 0.4:
                notes["drums"].append(Note(t + beat / 2, t + beat / 2 + 0.1, 36, 90))
        for t in np.arange(t0, t0 + bar - 1e-9, hat_step):
            notes["drums"].append(Note(float(t), float(t) + 0.05, 42, int(rng.integers(55, 90))))
        root = chord[0] - 12
        for k in range(8):  # bass: eighths on the root, sometimes the fifth
            key = root + (7 if k in (3, 7) and rng.random() < 0.5 else 0)
            t = t0 + k * beat / 2
            notes["bass"].append(Note(t, t + 0.45 * beat, key, int(rng.integers(85, 110))))
        hits = 4 if rng.random() < 0.5 else 2  # keys: the chord in quarters or halves
        for k in range(hits):
            length = bar / hits
            t = t0 + k * length
            for key in chord:
                notes["keys"].append(Note(t, t + 0.9 * length, key + 12, int(rng.integers(70, 95))))
        for key in (chord[0], chord[1] + 12, chord[2]):  # pad: the whole bar
            notes["pad"].append(Note(t0, t0 + bar, key, 70))
        t = t0  # lead: a melody on the scale, notes of a half, one or two beats
        while t < t0 + bar - 1e-9:
            length = beat * float(rng.choice((0.5, 1.0, 1.0, 2.0)))
            if rng.random() < 0.85:
                degree = int(rng.integers(0, 8))
                key = tonic + 12 + MAJOR[degree % 7] + 12 * (degree // 7)
                notes["lead"].append(Note(t, t + 0.95 * length, key, int(rng.integers(80, 110))))
            t += length
    return notes, programs


def render_stem(
    notes: list[Note], program: int, drums: bool, sample_rate: int, seconds: float
) -> np.ndarray:
    """One stem ``(2, L)`` float32 rendered by its own FluidSynth instance."""
    try:
        import fluidsynth
    except (ImportError, OSError) as error:
        sys.exit(f"sampled_stems: needs pyfluidsynth and libfluidsynth ({error})")
    if not SOUNDFONT.is_file():
        sys.exit(f"sampled_stems: no soundfont at {SOUNDFONT} (apt-get install fluid-soundfont-gm)")
    synth = fluidsynth.Synth(samplerate=float(sample_rate), gain=0.4)
    try:
        synth.setting("synth.reverb.active", 0)
        synth.setting("synth.chorus.active", 0)
        font = synth.sfload(str(SOUNDFONT))
        channel = DRUM_CHANNEL if drums else 0
        synth.program_select(channel, font, 128 if drums else 0, program)
        events = [(n.start, 1, n) for n in notes] + [(n.end, 0, n) for n in notes]
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at one instant
        length = int(round(seconds * sample_rate))
        blocks, done = [], 0
        for time, on, note in events:
            at = min(int(round(time * sample_rate)), length)
            if at > done:
                blocks.append(synth.get_samples(at - done))
                done = at
            if done >= length:
                break
            if on:
                synth.noteon(channel, note.key, note.velocity)
            else:
                synth.noteoff(channel, note.key)
        if done < length:
            blocks.append(synth.get_samples(length - done))
    finally:
        synth.delete()
    audio = np.concatenate(blocks).reshape(-1, 2).T.astype(np.float32) / 32768.0
    return audio


def soundfont_stems(index: int, sample_rate: int, seconds: float) -> tuple[torch.Tensor, list[str]]:
    """Five stems ``(5, 2, L)`` of song ``index``, each scaled to a peak of 0.5, and their names."""
    notes, programs = compose(index, seconds)
    stems = []
    for name in STEMS:
        audio = render_stem(notes[name], programs[name], name == "drums", sample_rate, seconds)
        stems.append(0.5 * audio / max(float(np.abs(audio).max()), 1e-9))
    return torch.from_numpy(np.stack(stems)), list(STEMS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", type=int, default=0, help="song number (the seed)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--out", required=True, help="folder for the stems' WAV files")
    args = p.parse_args(argv)
    import soundfile as sf

    stems, names = soundfont_stems(args.index, args.sample_rate, args.seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, stem in zip(names, stems, strict=True):
        sf.write(out / f"{name}.wav", stem.numpy().T, args.sample_rate)
    print(f"{len(names)} stems in {out}/ ({args.seconds:g} s at {args.sample_rate} Hz)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
