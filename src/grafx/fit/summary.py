"""The end-of-fit summary: steps, time, loss start/end and metrics of the full-length mix.

Written by ``grafx fit`` to ``metrics.json``; non-finite values (the SNR of two identical
mixes is +inf) are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``.

:func:`mix_metrics` measures a mix against its target over the whole length (not a crop);
:func:`fit_summary` gathers those of the fitted and the initial mix with the fit's figures;
:func:`format_summary` prints them on one screen and :func:`write_summary` saves them as JSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["mix_metrics", "fit_summary", "format_summary", "write_summary"]

#: Steps averaged for the "end" loss (the crop loss of one step is noisy).
END_WINDOW = 10

#: How to read each metric in the printed table.
BETTER = {"snr_db": "dB, higher is better", "loudness_diff_lu": "LU, closer to 0 is better"}


def mix_metrics(estimate: Tensor, target: Tensor, sample_rate: float) -> dict[str, float]:
    """Metrics of a full-length mix ``(2, L)`` against its target: :func:`grafx.metrics.mix_metrics`.

    Returns:
        ``{"mix_loss", "stft_distance", "snr_db", "loudness_diff_lu"}``.
    """
    from grafx.metrics import mix_metrics as metrics

    return metrics(estimate, target, sample_rate)


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
    stop = {
        "steps": "step budget",
        "minutes": "time budget",
        "patience": "early stop",
        "prediction": "one-pass prediction",
    }
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
        note = BETTER.get(name, "lower is better")
        lines.append(f"  {name:<20} {float(before):>10.4f} {float(value):>10.4f}   ({note})")
    return "\n".join(lines)


def write_summary(path: str | os.PathLike, summary: Mapping[str, Any]) -> Path:
    """Write the summary as JSON (atomically) and return the path."""
    from grafx.io.atomic import atomic_write

    path = Path(path)
    text = json.dumps(_json_safe(summary), indent=2, allow_nan=False)
    with atomic_write(path) as handle:
        handle.write((text + "\n").encode("utf-8"))
    return path


def _json_safe(value: Any) -> Any:
    """Non-finite floats (an SNR of +inf for identical mixes) as the strings "inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
