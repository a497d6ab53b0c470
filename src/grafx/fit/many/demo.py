"""Synthetic songs and their manifest, to try ``grafx fit-many`` on."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def write_demo_songs(
    folder: str | os.PathLike,
    num_songs: int = 4,
    sample_rate: int = 16000,
    duration: float = 2.0,
    num_tracks: int = 2,
) -> Path:
    """Write ``num_songs`` synthetic multitracks and a ``manifest.csv`` listing them.

    Song ``i`` is :func:`grafx.synth.synthesize_multitrack` with seed ``i`` (its first
    ``num_tracks`` stems); its target is the stems mixed with gains drawn from the same seed.

    Returns:
        The manifest's path (``folder/manifest.csv``).
    """
    from grafx.io.audio import write_audio
    from grafx.synth import STEM_NAMES, synthesize_multitrack

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["song,stems,target"]
    for i in range(num_songs):
        song = f"song{i:03d}"
        stems, _ = synthesize_multitrack(sample_rate, duration, seed=i)
        stems = stems[:num_tracks]
        gains = 0.3 + 0.7 * torch.rand(num_tracks, 2, 1, generator=torch.Generator().manual_seed(i))
        target = (stems * gains).sum(0)
        (folder / song).mkdir(exist_ok=True)
        names = []
        for name, stem in zip(STEM_NAMES, stems, strict=False):
            names.append(f"{song}/{name}.wav")
            write_audio(folder / names[-1], stem, sample_rate)
        write_audio(folder / f"{song}/mix.wav", target, sample_rate)
        lines.append(f"{song},{';'.join(names)},{song}/mix.wav")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest
