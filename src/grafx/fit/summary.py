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

__all__ = [
    "mix_metrics",
    "compared_mixes",
    "fit_summary",
    "format_summary",
    "format_comparison",
    "write_summary",
]

#: Steps averaged for the "end" loss (the crop loss of one step is noisy).
END_WINDOW = 10

#: How to read each metric in the printed table.
BETTER = {"snr_db": "dB, higher is better", "loudness_diff_lu": "LU, closer to 0 is better"}

#: The rows of the side-by-side table and how to read each.
ROWS = {
    "stft_distance": "multi-resolution STFT distance, lower is better",
    "band_rms_db": "rms mid third-octave error 40 Hz-16 kHz, dB",
    "band_max_db": "largest mid third-octave error, dB",
    "side_band_rms_db": "rms side third-octave error, dB",
    "width_rms_db": "rms error of side/mid per band, dB",
    "loudness_diff_lu": "integrated loudness minus the target's, LU",
    "loudness_range_diff_lu": "loudness range minus the target's, LU",
    "crest_diff_db": "crest factor minus the target's, dB",
    "mix_loss": "the paper's MixLoss, lower is better",
}


def mix_metrics(estimate: Tensor, target: Tensor, sample_rate: float) -> dict[str, float]:
    """Metrics of a full-length mix ``(2, L)`` against its target: :func:`grafx.metrics.mix_metrics`.

    Returns:
        ``{"mix_loss", "stft_distance", "snr_db", "loudness_diff_lu"}``.
    """
    from grafx.metrics import mix_metrics as metrics

    return metrics(estimate, target, sample_rate)


def compared_mixes(
    mixes: Mapping[str, Tensor], target: Tensor, sample_rate: float, stems: Tensor | None = None
) -> dict[str, dict]:
    """:func:`grafx.metrics.mix_summary` of each mix and, given the stems ``(K, C, L)``, of the
    least-squares gain mix (under ``"gain_mix"``); per-band errors go to a ``"bands"`` entry,
    ``{name: {"centre_hz", "mid_error_db", ...}}``."""
    from grafx.metrics import mix_summary

    mixes = dict(mixes)
    if stems is not None:
        from grafx.baseline import least_squares_gain_mix

        mixes = {"gain_mix": least_squares_gain_mix(stems, target).mix, **mixes}
    out: dict[str, dict] = {"bands": {}}
    for name, mix in mixes.items():
        values = mix_summary(mix, target, sample_rate)
        out["bands"][name] = values.pop("bands")
        out[name] = values
    return out


def fit_summary(
    result: Any,
    fitted: Tensor,
    initial: Tensor,
    target: Tensor,
    sample_rate: float,
    stems: Tensor | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The summary of a fit as a JSON-ready dict.

    ``fitted``, ``initial`` and (given the stems) ``gain_mix``, the least-squares gain mix of
    :mod:`grafx.baseline`, each hold :func:`grafx.metrics.mix_summary`'s values against the
    target; ``bands`` their per-band errors.

    Args:
        result: the :class:`~grafx.fit.FitResult`.
        fitted, initial, target: full-length mixes ``(2, L)``.
        sample_rate: the working rate in Hz.
        stems: the sources ``(K, C, L)``, for the gain mix (``None``: no gain mix).
        **extra: more fields (e.g. the command's options).
    """
    history = list(result.history)
    end = history[-END_WINDOW:]
    # After a resume: the time of every run, and the rate of this one (its steps, its time).
    total = max(getattr(result, "elapsed_total", 0.0) or 0.0, result.elapsed)
    this_run = len(history) - getattr(result, "start", 0)
    compared = compared_mixes({"fitted": fitted, "initial": initial}, target, sample_rate, stems)
    return {
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "rollbacks": list(getattr(result, "rollbacks", [])),
        "seconds": round(total, 3),
        "steps_per_second": round(this_run / result.elapsed, 4) if result.elapsed else None,
        "loss_start": history[0] if history else None,
        "loss_end": sum(end) / len(end) if end else None,
        "sample_rate": sample_rate,
        "seconds_of_audio": target.shape[-1] / sample_rate,
        **compared,
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
    lines += format_comparison(summary, ["initial", "gain_mix", "fitted"])
    return "\n".join(lines)


def format_comparison(summary: Mapping[str, Any], columns: list[str]) -> list[str]:
    """Rows of the mixes ``columns`` (those present in ``summary``) side by side, one metric a
    row (:data:`ROWS`), with how to read each; the waveform SNR is left out (see the note)."""
    present = [c for c in columns if c in summary]
    lines = [f"  {'metric':<22}" + "".join(f"{c.replace('_', ' '):>11}" for c in present)]
    for name, note in ROWS.items():
        if not any(name in summary[c] for c in present):
            continue
        cells = "".join(_cell(summary[c].get(name, math.nan)) for c in present)
        lines.append(f"  {name:<22}{cells}   ({note})")
    lines.append(
        "  (snr_db, in metrics.json, compares waveforms sample by sample: a mix that matches "
        "the target's spectra and levels with other phases scores low on it)"
    )
    return lines


def _cell(value: Any) -> str:
    value = float(value)
    return f"{value:>11.3f}" if math.isfinite(value) else f"{value!s:>11}"


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
