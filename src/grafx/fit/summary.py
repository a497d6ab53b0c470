"""The end-of-fit summary: steps, time, loss start/end and metrics of the full-length mix.

:func:`mix_metrics` measures a mix against its target over the whole length (not a crop);
:func:`fit_summary` gathers those of the fitted and the initial mix with the fit's figures;
:func:`format_summary` prints them on one screen and :func:`write_summary` saves them as JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["mix_metrics", "fit_summary", "format_summary", "write_summary"]

#: Steps averaged for the "end" loss (the crop loss of one step is noisy).
END_WINDOW = 10


def mix_metrics(estimate: Tensor, target: Tensor, sample_rate: float) -> dict[str, float]:
    """Metrics of a full-length mix ``(2, L)`` against its target ``(2, L)``.

    Uses :func:`grafx.metrics.mix_metrics` when that module is present; otherwise the mix
    loss (:class:`~grafx.losses.MixLoss`) alone.

    Returns:
        ``{name: value}``, lower is better unless the name says otherwise.
    """
    try:
        from grafx.metrics import mix_metrics as metrics  # type: ignore[attr-defined]
    except ImportError:
        metrics = None
    if metrics is not None:
        return {k: float(v) for k, v in metrics(estimate, target, sample_rate).items()}
    from grafx.losses import MixLoss

    with torch.no_grad():
        return {"mix_loss": float(MixLoss(sample_rate)(estimate.double(), target.double()))}


def fit_summary(
    result: Any,
    fitted: Tensor,
    initial: Tensor,
    target: Tensor,
    sample_rate: float,
    **extra: Any,
) -> dict[str, Any]:
    """The summary of a fit as a JSON-ready dict.

    Args:
        result: the :class:`~grafx.fit.FitResult`.
        fitted, initial, target: full-length mixes ``(2, L)``.
        sample_rate: the working rate in Hz.
        **extra: more fields (e.g. the command's options).
    """
    history = list(result.history)
    end = history[-END_WINDOW:]
    return {
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "seconds": round(result.elapsed, 3),
        "steps_per_second": round(len(history) / result.elapsed, 4) if result.elapsed else None,
        "loss_start": history[0] if history else None,
        "loss_end": sum(end) / len(end) if end else None,
        "sample_rate": sample_rate,
        "seconds_of_audio": target.shape[-1] / sample_rate,
        "fitted": mix_metrics(fitted, target, sample_rate),
        "initial": mix_metrics(initial, target, sample_rate),
        **extra,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """A one-screen text table of :func:`fit_summary`'s dict."""
    stop = {"steps": "step budget", "minutes": "time budget", "patience": "early stop"}
    lines = [
        f"steps      {summary['steps']} (ended by the {stop.get(summary['stop_reason'], '?')})",
        f"time       {summary['seconds']:.1f} s"
        + (
            f" ({summary['steps_per_second']:.2f} steps/s)"
            if summary.get("steps_per_second")
            else ""
        ),
    ]
    if summary.get("loss_start") is not None:
        lines.append(
            f"crop loss  {summary['loss_start']:.4f} (first step) -> {summary['loss_end']:.4f} "
            f"(mean of the last {min(END_WINDOW, summary['steps'])})"
        )
    lines.append(f"full mix ({summary['seconds_of_audio']:.1f} s at {summary['sample_rate']} Hz):")
    lines.append(f"  {'metric':<20} {'initial':>10} {'fitted':>10}")
    for name, value in summary["fitted"].items():
        before = summary["initial"].get(name, float("nan"))
        lines.append(f"  {name:<20} {before:>10.4f} {value:>10.4f}")
    return "\n".join(lines)


def write_summary(path: str | os.PathLike, summary: Mapping[str, Any]) -> Path:
    """Write the summary as JSON (atomically) and return the path."""
    from grafx.io.atomic import atomic_write

    path = Path(path)
    with atomic_write(path) as handle:
        handle.write((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    return path
