"""``grafx predict`` and ``grafx fit --init``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.fit.options import FitOptions
from grafx.fit.run import prepare_fit
from grafx.fit.summary import compared_mixes
from grafx.nn.prediction import predicted_parameters, predictor_initializer
from grafx.nn.predictor import MixPredictor, save_predictor
from grafx.render.renderer import render_mix

RATE = 8000


def _tone(freq: float, seconds: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    x = 0.4 * np.sin(2 * np.pi * freq * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return np.stack([x] * channels, axis=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    sf.write(root / "a.wav", _tone(220), RATE)
    sf.write(root / "b.wav", _tone(330), RATE)
    mix = 0.7 * _tone(220) + 0.5 * _tone(330) * [[0.4, 1.0]]
    sf.write(root / "mix.wav", mix, RATE, subtype="FLOAT")
    torch.manual_seed(0)
    model = MixPredictor.for_console(hidden=8)
    for linear in model.head.linears.values():  # a prediction that is not the neutral console
        torch.nn.init.normal_(linear.weight, std=0.05)
    save_predictor(model, root / "model")
    save_predictor(MixPredictor.for_console(["gain_pan"], hidden=8), root / "small")
    return root


def _stems(files):
    return ["--stems", files / "a.wav", files / "b.wav", "--target", files / "mix.wav"]


def test_predict_writes_the_fit_folder_and_init_starts_at_its_loss(files, run):
    status, out, err = run(
        "predict", "--model", files / "model", *_stems(files), "--out", files / "p", "--no-report"
    )
    assert status == 0, err
    for name in ("fitted.wav", "initial.wav", "graph.json", "metrics.json"):
        assert (files / "p" / name).is_file(), name
    assert "one-pass prediction" in out
    predicted = json.loads((files / "p" / "metrics.json").read_text())
    assert predicted["steps"] == 0
    assert predicted["fitted"]["mix_loss"] != pytest.approx(predicted["initial"]["mix_loss"])

    status, out, err = run(
        "fit",
        "--init",
        files / "model.json",
        *_stems(files),
        "--out",
        files / "f",
        "--steps",
        1,
        "--quiet",
    )
    assert status == 0, err
    fitted = json.loads((files / "f" / "metrics.json").read_text())
    # the fit starts from the prediction as a fit's start (predict(start=True)), not from the
    # one-pass prediction itself (whose untrained parameters stray) nor the neutral console
    options = FitOptions(
        stems=[str(files / "a.wav"), str(files / "b.wav")],
        target=str(files / "mix.wav"),
        out=str(files / "g"),
        init=str(files / "model"),
        steps=1,
        progress=False,
        device="cpu",
    )
    job = prepare_fit(options, predictor_initializer(options.init))
    start = predicted_parameters(
        str(files / "model"), job.G, job.processors, job.stems, job.target, RATE, start=True
    )
    for node_type, tree in start.items():
        torch.testing.assert_close(job.parameters[node_type], tree)
    torch.testing.assert_close(
        job.initial_mix, render_mix(job.G, job.processors, start, job.stems, job.type_sequence)
    )
    expected = compared_mixes({"initial": job.initial_mix}, job.target, RATE)["initial"]
    numbers = {
        k: v for k, v in expected.items() if isinstance(v, (int, float)) and math.isfinite(v)
    }
    assert "stft_distance" in numbers
    for key, value in numbers.items():
        assert fitted["initial"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for other in (predicted["fitted"], predicted["initial"]):
        assert fitted["initial"]["stft_distance"] != pytest.approx(other["stft_distance"])


def test_predict_refuses_foreign_models(files, run):
    status, _, err = run(
        "predict", "--model", files / "small", *_stems(files), "--out", files / "x"
    )
    assert status == 1
    assert err.startswith("grafx: error: model") and "no head for type 'compressor'" in err
    (files / "junk.json").write_text("[1, 2, 3]")
    status, _, err = run("predict", "--model", files / "junk", *_stems(files), "--out", files / "x")
    assert status == 1 and "not a grafx predictor" in err
    status, _, err = run("predict", "--model", files / "nope", *_stems(files), "--out", files / "x")
    assert status == 1 and "no such model file" in err
    status, _, err = run(
        "fit", "--init", files / "small", *_stems(files), "--out", files / "y", "--steps", 1
    )
    assert status == 1 and "no head for type 'compressor'" in err
