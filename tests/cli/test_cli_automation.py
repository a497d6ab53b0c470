"""``grafx fit --automate``: curves in graph.json, rendered back by ``grafx render``."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.cli import main
from grafx.io import load

RATE = 8000
SECONDS = 1.0


def _tone(freq, channels=1):
    t = np.arange(int(RATE * SECONDS)) / RATE
    x = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1)


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def run(capsys):
    def call(*args):
        status = main([str(a) for a in args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return call


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("automate")
    sf.write(root / "a.wav", _tone(220), RATE)
    sf.write(root / "b.wav", _tone(330, channels=2), RATE)
    ride = np.linspace(0.2, 1.0, int(RATE * SECONDS))[:, None]  # b fades in: a fader ride
    mix = 0.7 * _tone(220, channels=2) + 0.5 * _tone(330, channels=2) * ride
    sf.write(root / "mix.wav", mix, RATE, subtype="FLOAT")
    return root


def _fit(files, out, *options):
    stems = ("--stems", files / "a.wav", files / "b.wav", "--target", files / "mix.wav")
    return main([str(a) for a in ("fit", *stems, "--steps", 3, "--quiet", "--out", out, *options)])


def test_an_automated_fit_saves_curves_that_render_back_to_fitted_wav(files, run):
    out = files / "fit"
    status = _fit(files, out, "--automate", "gain_pan,reverb", "--knots-every", 0.25)
    assert status == 0
    document = json.loads((out / "graph.json").read_text())
    assert document["automation"] == {
        "knot_times": [0.0, 0.25, 0.5, 0.75, 1.0],
        "method": "linear",
        "duration": 1.0,
    }
    model = load(out / "graph.json")
    assert model.timeline.num_knots == 5
    assert model.parameters["gain_pan"]["log_gain"].shape == (2, 2, 5)
    assert model.parameters["reverb"]["drywet_weight"].shape == (2, 1, 5)
    assert model.parameters["eq"]["log_gain"].ndim == 3  # the EQ stays static
    status, stdout, _ = run(
        "render", out / "graph.json", "--sources", files / "a.wav", files / "b.wav",
        "-o", files / "render.wav",
    )  # fmt: skip
    assert status == 0 and "rendered" in stdout
    rendered, _ = sf.read(files / "render.wav", always_2d=True)
    expected, _ = sf.read(out / "fitted.wav", always_2d=True)
    np.testing.assert_allclose(rendered, expected, atol=1e-5)
    fingerprint = json.loads((out / "metrics.json").read_text())["inputs"]["fingerprint"]
    options = fingerprint["fit_options"]
    assert options["automate"] == "gain_pan,reverb" and options["knots_every"] == 0.25
    assert options["automation_weight"] == 1e-3


def test_another_automation_is_not_resumed(files, run):
    out = files / "resumed"
    assert _fit(files, out, "--automate", "gain_pan") == 0
    status, _, err = run(
        "fit", "--stems", files / "a.wav", files / "b.wav", "--target", files / "mix.wav",
        "--steps", 3, "--quiet", "--out", out, "--automate", "gain_pan", "--knots-every", 0.1,
    )  # fmt: skip
    assert status != 0 and "knots_every" in err


@pytest.mark.parametrize("types", ["gain_pan,flanger", "compressor,eq,xx"])
def test_an_unknown_type_is_a_one_line_error_listing_the_automatable_ones(files, run, types):
    status, _, err = run(
        "fit", "--stems", files / "a.wav", files / "b.wav", "--target", files / "mix.wav",
        "--steps", 1, "--quiet", "--out", files / "bad", "--automate", types,
    )  # fmt: skip
    assert status != 0
    line = err.strip()
    assert "\n" not in line and "--automate" in line and "automatable types: " in line
    assert "gain_pan" in line.split("automatable types: ")[1]


def test_settings_and_info_read_the_moves_back(files, run):
    out = files / "fit"
    if not (out / "graph.json").exists():
        assert _fit(files, out, "--automate", "gain_pan,reverb", "--knots-every", 0.25) == 0
    text = (out / "settings.txt").read_text()
    assert "automated settings: their mean over time" in text
    block = text.split("b/gain_pan (gain_pan)")[1].split("\n\n")[0]
    assert "  automated:\n    gain_db" in block and "main moves: " in block
    status, stdout, _ = run("info", out / "graph.json", "--settings")
    assert status == 0
    assert "b/gain_pan: gain_db=" in stdout and "    automated gain_db: " in stdout


def test_an_automated_graph_file_fits_on_with_its_curves(files, run):
    source = files / "fit"
    if not (source / "graph.json").exists():
        assert _fit(files, source, "--automate", "gain_pan,reverb", "--knots-every", 0.25) == 0
    out = files / "again"
    assert _fit(files, out, "--graph", source / "graph.json") == 0
    model = load(out / "graph.json")
    assert model.timeline == load(source / "graph.json").timeline
    assert model.parameters["gain_pan"]["log_gain"].shape == (2, 2, 5)
    status, _, err = run(
        "fit", "--stems", files / "a.wav", files / "b.wav", "--target", files / "mix.wav",
        "--steps", 1, "--quiet", "--out", files / "twice", "--graph", source / "graph.json",
        "--automate", "gain_pan",
    )  # fmt: skip
    assert status != 0 and "automated already" in err and "\n" not in err.strip()
