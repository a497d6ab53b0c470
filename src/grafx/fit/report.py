"""A one-page figure of a fit: loss curve, target and fitted spectrograms, the graph, and the
fitted automation.

The automation panels (:func:`automation_panels`) group the curves of an automated fit
(:func:`grafx.automation.readout.automation_curves`) by setting, in physical units: faders and
sends in dB, pans, EQ band gains (dB) and frequencies (Hz), dynamics thresholds (dB), dry/wet
mixes. Each panel draws at most :data:`MAX_PANEL_LINES` curves, those that move most, and only
those that move at least the setting's :data:`MIN_MOVES` (0.5 dB, say); its title says how many
moving curves it leaves out, so a console of 16 stems stays readable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
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


#: Most curves an automation panel draws.
MAX_PANEL_LINES = 8
#: Automation panels in one row of the figure.
PANELS_PER_ROW = 3

#: The automation panel of each physical setting: ``(title, y label, log scale)``; faders and
#: sends share one (both are levels in dB).
PANELS: dict[str, tuple[str, str, bool]] = {
    "gain_db": ("faders and sends", "level (dB)", False),
    "send_db": ("faders and sends", "level (dB)", False),
    "pan": ("pans", "pan (-1 left, +1 right)", False),
    "eq_gains_db": ("EQ band gains", "gain (dB)", False),
    "eq_freqs_hz": ("EQ band frequencies", "frequency (Hz)", True),
    "eq_q": ("EQ band Q", "Q", True),
    "threshold_db": ("dynamics thresholds", "threshold (dB)", False),
    "mix": ("dry/wet mixes", "wet share (0-1)", False),
}

#: Smallest move (largest minus smallest value over the knots) a curve of each setting needs to
#: be drawn: in its unit, or, for a log-scale setting, as a ratio (2 %). Others: :data:`MIN_MOVE`.
MIN_MOVES: dict[str, float] = {
    "gain_db": 0.5,
    "send_db": 0.5,
    "eq_gains_db": 0.5,
    "threshold_db": 0.5,
    "pan": 0.02,
    "mix": 0.02,
    "eq_freqs_hz": 1.02,
    "eq_q": 1.02,
}
MIN_MOVE = 1e-3

#: Lowest level an automation panel in dB shows (a closed send is far below).
FLOOR_DB = -60.0


@dataclass
class AutomationPanel:
    """What one automation panel draws.

    Attributes:
        title: the settings it shows (``"faders and sends"``).
        ylabel: their physical unit.
        log: a log-scale y axis (frequencies, Q).
        curves: ``[(label, knot times in s, values)]``, the largest moves first.
        hidden: moving curves of these settings left out (moves under :data:`MIN_MOVES`, or
            beyond :data:`MAX_PANEL_LINES`).
    """

    title: str
    ylabel: str
    log: bool = False
    curves: list[tuple[str, list[float], list[float]]] = field(default_factory=list)
    hidden: int = 0


def _move(setting: str, values: Sequence[float]) -> float:
    """How far a curve moves: max - min, or max / min on a log-scale setting."""
    low, high = min(values), max(values)
    if PANELS.get(setting, ("", "", False))[2] and low > 0:
        return high / low
    return high - low


def _moves_enough(setting: str, move: float) -> bool:
    return move >= MIN_MOVES.get(setting, MIN_MOVE)


def automation_panels(curves: Sequence[Any], max_lines: int = MAX_PANEL_LINES) -> list:
    """The automation panels of ``curves``, in :data:`PANELS` order (other settings after).

    Args:
        curves: :class:`~grafx.automation.readout.SettingCurve` s (or ``(label, times, values)``
            fader curves, read as ``gain_db``).
        max_lines: most curves per panel.

    Returns:
        :class:`AutomationPanel` s; a setting none of whose curves moves enough gets none.
    """
    grouped: dict[tuple[str, str, bool], list[tuple[float, tuple]]] = {}
    small: dict[tuple[str, str, bool], int] = {}
    for curve in curves:
        if isinstance(curve, tuple):
            setting, (label, times, values) = "gain_db", curve
        else:
            setting, label, times, values = curve.setting, curve.label, curve.times, curve.values
        key = PANELS.get(setting, (setting, setting, False))
        grouped.setdefault(key, [])
        small.setdefault(key, 0)
        move = _move(setting, values)
        if _moves_enough(setting, move):
            grouped[key].append((move, (label, list(times), list(values))))
        else:
            small[key] += 1
    order = list(dict.fromkeys(PANELS.values()))
    keys = sorted(grouped, key=lambda k: order.index(k) if k in order else len(order))
    panels = []
    for key in keys:
        entries = sorted(grouped[key], key=lambda e: -e[0])
        if not entries:
            continue
        shown = [curve for _, curve in entries[:max_lines]]
        hidden = small[key] + len(entries) - len(shown)
        panels.append(AutomationPanel(*key, curves=shown, hidden=hidden))
    return panels


def _automation_panel(ax: Any, panel: AutomationPanel) -> None:
    low = math.inf
    for name, times, values in panel.curves:
        ax.plot(times, values, marker=".", linewidth=1.0, label=name)
        low = min(low, *values)
    if panel.ylabel.endswith("(dB)") and low < FLOOR_DB:
        ax.set_ylim(bottom=FLOOR_DB)
    if panel.log:
        ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(panel.ylabel)
    title = f"fitted automation: {panel.title}"
    if panel.hidden:
        title += f" ({panel.hidden} smaller moves not drawn)"
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=1 if len(panel.curves) <= 4 else 2, loc="best")


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
    automation: Sequence[Any] | None = None,
) -> Path:
    """Save a report figure (PNG, written atomically) and return its path.

    Panels: the loss per step (log scale); spectrograms of the target, the fitted mix and
    (if given) the initial mix on one colour scale; the graph (if given); the fitted automation
    (if any), one panel per kind of setting (:func:`automation_panels`), under the others.

    Args:
        path: the PNG to write.
        history: loss per step.
        target, fitted, initial: audio ``(C, L)``.
        sample_rate: in Hz.
        G: the graph to draw.
        loss_before, loss_after: full-length losses for the title.
        dpi: the PNG's resolution.
        faders: fader curves, ``[(name, knot times in s, gains in dB)]``
            (:func:`grafx.automation.readout.fader_curves`), when ``automation`` is not given.
        automation: the automated settings,
            :func:`grafx.automation.readout.automation_curves` (faders, sends, pans, EQ
            bands, thresholds, ...), each labelled with its node's name (its stem's, in a
            console) or its edge's ends.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from grafx.io.atomic import atomic_write

    fig = report_figure(
        history,
        target,
        fitted,
        sample_rate,
        G,
        loss_before=loss_before,
        loss_after=loss_after,
        initial=initial,
        automation=automation if automation is not None else faders,
    )
    path = Path(path)
    try:
        with atomic_write(path) as file:
            fig.savefig(file, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path


def report_figure(
    history: list[float],
    target: Tensor,
    fitted: Tensor,
    sample_rate: int,
    G: Any = None,
    loss_before: float | None = None,
    loss_after: float | None = None,
    initial: Tensor | None = None,
    automation: Sequence[Any] | None = None,
) -> Any:
    """:func:`plot_report`'s figure (a matplotlib ``Figure``; close it when done).

    ``automation``: :class:`~grafx.automation.readout.SettingCurve` s or fader curves
    ``(name, times, dB)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from grafx.draw import draw_grafx

    panels = [("target", target), ("fitted", fitted)]
    if initial is not None:
        panels.insert(0, ("initial", initial))
    moving = automation_panels(automation or [])
    automation_rows = -(-len(moving) // PANELS_PER_ROW)
    ratios = [1.0] + ([1.3] if G is not None else []) + [0.9] * automation_rows
    height = 3.8 + (4.7 if G is not None else 0) + 3.4 * automation_rows
    fig = plt.figure(figsize=(4.2 * (len(panels) + 1), height))
    grid = fig.add_gridspec(len(ratios), len(panels) + 1, height_ratios=ratios)
    _loss_panel(fig.add_subplot(grid[0, 0]), history, loss_before, loss_after)
    _spectrogram_panels(fig, grid, panels, sample_rate)
    if G is not None:
        ax = fig.add_subplot(grid[1, :])
        draw_grafx(G, ax=ax, node_inside="node_name", node_inside_fontsize=7)
        ax.set_title("graph (one row per stem; names inside the nodes)", fontsize=9)
    first = len(ratios) - automation_rows
    for row in range(automation_rows):
        in_row = moving[row * PANELS_PER_ROW : (row + 1) * PANELS_PER_ROW]
        cells = grid[first + row, :].subgridspec(1, min(PANELS_PER_ROW, len(moving)))
        for column, panel in enumerate(in_row):
            _automation_panel(fig.add_subplot(cells[0, column]), panel)
    fig.tight_layout()
    return fig
