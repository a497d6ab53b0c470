import json
import math

import numpy as np
import pytest
import torch

from grafx.baseline import least_squares_gain_mix
from grafx.fit import FitResult
from grafx.fit.summary import fit_summary, format_summary, write_summary
from grafx.losses import MixLoss
from grafx.metrics import DESCRIPTOR_KEYS, descriptor_errors, mix_metrics


def mixes(rate=8000):
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, rate, generator=g) * 0.1
    return target, 0.5 * target, target + 0.01 * torch.randn(2, rate, generator=g)


def test_summary_values_and_json(tmp_path):
    target, initial, fitted = mixes()
    history = [3.0, 2.0, *([1.0] * 9), 0.5]
    result = FitResult({}, history, steps=12, elapsed=6.0, stop_reason="minutes")
    summary = fit_summary(result, fitted, initial, target, 8000, note="x")
    assert summary["steps"] == 12 and summary["steps_per_second"] == 2.0
    assert summary["loss_start"] == 3.0
    assert summary["loss_end"] == pytest.approx((1.0 * 9 + 0.5) / 10)  # mean of the last 10
    assert summary["note"] == "x" and summary["seconds_of_audio"] == 1.0
    assert set(summary["fitted"]) == {
        "mix_loss", "stft_distance", "snr_db", "loudness_diff_lu", *DESCRIPTOR_KEYS,
    }  # fmt: skip
    # the descriptors are those of grafx.metrics; the per-band errors sit under "bands"
    errors = descriptor_errors(initial, target, 8000)
    assert summary["initial"]["band_rms_db"] == pytest.approx(errors["band_rms_db"], rel=1e-9)
    assert summary["initial"]["band_rms_db"] == pytest.approx(20 * math.log10(2), abs=1e-6)
    assert summary["bands"]["fitted"]["centre_hz"][0] == pytest.approx(31.62)
    assert "gain_mix" not in summary  # no stems given
    expected = MixLoss(8000)(fitted.double(), target.double()).item()
    assert summary["fitted"]["mix_loss"] == pytest.approx(expected, rel=1e-9)
    # SNR of the half-level mix: 20 log10(1 / 0.5) = 6.02 dB; loudness 6.02 LU lower.
    assert summary["initial"]["snr_db"] == pytest.approx(20 * math.log10(2), abs=1e-6)
    assert summary["initial"]["loudness_diff_lu"] == pytest.approx(-20 * math.log10(2), abs=0.01)
    error = (fitted - target).double().square().sum()
    snr = 10 * np.log10(float(target.double().square().sum() / error))
    assert summary["fitted"]["snr_db"] == pytest.approx(snr, rel=1e-9)
    text = format_summary(summary)
    assert "steps      12 (ended by the time budget)" in text
    assert "crop loss  3.0000 (first step) -> 0.9500 (mean of the last 10)" in text
    assert "band_rms_db" in text and "stft_distance" in text
    assert "snr_db, in metrics.json, compares waveforms" in text  # left out, and why


def test_the_gain_mix_is_beside_the_fitted_and_initial_mixes():
    target, initial, fitted = mixes()
    stems = torch.stack([target, 0.01 * torch.randn(2, 8000, generator=torch.Generator())])
    result = FitResult({}, [1.0], steps=1, elapsed=0.5)
    summary = fit_summary(result, fitted, initial, target, 8000, stems=stems)
    expected = mix_metrics(least_squares_gain_mix(stems, target).mix, target, 8000)
    assert summary["gain_mix"]["stft_distance"] == pytest.approx(expected["stft_distance"])
    assert summary["gain_mix"]["band_max_db"] < 1e-3  # the target is one of the stems
    text = format_summary(summary)
    header = next(line for line in text.splitlines() if "metric" in line)
    assert header.split() == ["metric", "initial", "gain", "mix", "fitted"]


def test_identical_mixes_write_inf_as_a_string(tmp_path):
    target, initial, _ = mixes()
    result = FitResult({}, [1.0], steps=1, elapsed=0.5)
    summary = fit_summary(result, target.clone(), initial, target, 8000)
    path = write_summary(tmp_path / "metrics.json", summary)
    loaded = json.loads(path.read_text())  # strict JSON: no bare Infinity
    assert loaded["fitted"]["snr_db"] == "inf" and loaded["fitted"]["mix_loss"] == 0.0
