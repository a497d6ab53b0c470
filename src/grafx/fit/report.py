"""A one-page figure of a fit: loss curve, target and fitted spectrograms, and the graph."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor


def _loss_panel(
    ax: Any, history: list[float], loss_before: float | None, loss_after: float | None
) -> None:
    ax.plot(range(1, len(history) + 1), history, linewidth=0.8, color="#1f5fbf")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss of the step's crop")
    title = "training loss per step (random crops)"
    if loss_before is not None and loss_after is not None:
        title += f"\nwhole mix: {loss_before:.3f} before, {loss_after:.3f} after"
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)


def _spectrogram_panels(fig: Any, grid: Any, panels: list, sample_rate: int) -> None:
    """One spectrogram per mix, on one colour scale (the loudest bin at the top)."""
    spectrograms = [(name, _spectrogram_db(audio)) for name, audio in panels]
    top = max(float(s.max()) for _, s in spectrograms)
    for i, ((name, spec), (_, audio)) in enumerate(zip(spectrograms, panels, strict=True)):
        ax = fig.add_subplot(grid[0, i + 1])
        seconds = audio.shape[-1] / sample_rate
        ax.imshow(
            spec.numpy(),
            origin="lower",
            aspect="auto",
            extent=(0, seconds, 0, sample_rate / 2000),
            vmin=top - 80,
            vmax=top,
            cmap="magma",
        )
        ax.set_title(f"{name} mix (mid)", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (kHz)")


def _fader_panel(ax: Any, faders: list) -> None:
    for name, times, values in faders:
        ax.plot(times, values, marker=".", linewidth=1.0, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("gain (dB)")
    ax.set_title("fitted automation (fader curves at their knots)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, min(6, len(faders) // 4 + 1)), loc="best")


def _spectrogram_db(audio: Tensor, fft_size: int = 1024, columns: int = 2048) -> Tensor:
    """Mid-channel magnitude spectrogram in dB, ``(F, T)``, at most ``columns`` frames: the
    largest magnitude of each run of frames (a picture needs no more), computed block by block
    so that a long mix needs memory for one block."""
    from grafx.losses import stft_magnitude

    hop = fft_size // 4
    mid = audio.detach().mean(0)
    frames = 1 + mid.shape[-1] // hop
    pool = -(-frames // columns)
    step = pool * hop * max(1, (1 << 18) // (pool * hop))  # whole runs of frames per block
    out = []
    for start in range(0, mid.shape[-1], step):
        piece = mid[max(start - fft_size, 0) : start + step + fft_size].double()
        mag = stft_magnitude(piece, fft_size, hop, fft_size, eps=1e-12)
        first = (start - max(start - fft_size, 0)) // hop
        mag = mag[:, first : first + step // hop]
        out.append(torch.nn.functional.max_pool1d(mag[None], pool, pool, ceil_mode=True)[0])
    return 20 * torch.log10(torch.cat(out, -1))


def plot_report(
    path: str | os.PathLike,
    history: list[float],
    target: Tensor,
    fitted: Tensor,
    sample_rate: int,
    G: Any = None,
    loss_before: float | None = None,
    loss_after: float | None = None,
    initial: Tensor | None = None,
    dpi: int = 110,
    faders: list | None = None,
) -> Path:
    """Save a report figure (PNG, written atomically) and return its path.

    Panels: the loss per step (log scale); spectrograms of the target, the fitted mix and
    (if given) the initial mix on one colour scale; and the graph (if given).

    Args:
        path: the PNG to write.
        history: loss per step.
        target, fitted, initial: audio ``(C, L)``.
        sample_rate: in Hz.
        G: the graph to draw.
        loss_before, loss_after: full-length losses for the title.
        faders: automation curves to draw, ``[(name, knot times in s, gains in dB)]``
            (:func:`grafx.automation.readout.fader_curves`), in a panel under the others,
            each labelled with its node's name (its stem's, in a console).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from grafx.draw import draw_grafx
    from grafx.io.atomic import atomic_write

    panels = [("target", target), ("fitted", fitted)]
    if initial is not None:
        panels.insert(0, ("initial", initial))
    ratios = [1.0] + ([1.3] if G is not None else []) + ([0.9] if faders else [])
    height = 3.8 + (4.7 if G is not None else 0) + (3.4 if faders else 0)
    fig = plt.figure(figsize=(4.2 * (len(panels) + 1), height))
    rows = len(ratios)
    grid = fig.add_gridspec(rows, len(panels) + 1, height_ratios=ratios)
    _loss_panel(fig.add_subplot(grid[0, 0]), history, loss_before, loss_after)
    _spectrogram_panels(fig, grid, panels, sample_rate)
    if G is not None:
        ax = fig.add_subplot(grid[1, :])
        draw_grafx(G, ax=ax, node_inside="node_name", node_inside_fontsize=7)
        ax.set_title("graph (one row per stem; names inside the nodes)", fontsize=9)
    if faders:
        _fader_panel(fig.add_subplot(grid[rows - 1, :]), faders)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_write(path) as file:
            fig.savefig(file, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path
