"""Sample rates through the command line: ``grafx fit`` writes its audio at the stems' rate and
full band, ``grafx render`` of its graph file reproduces ``fitted.wav`` bit for bit, ``grafx
info`` shows the rate and the settings, and rates that cannot be served are refused by name."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.cli import main
from grafx.data import GRAFX, NodeConfigs
from grafx.errors import GraphFileError
from grafx.io import load, save_graph
from grafx.utils import create_empty_parameters

RATE = 22050
WORKING = 16000


def _stem(freqs, seconds=0.6, channels=1):
    t = np.arange(int(RATE * seconds)) / RATE
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in freqs) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    return np.stack([x] * channels, axis=1)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """Two stems and a mix at 22.05 kHz with content at 9.5 kHz, above the 8 kHz working
    Nyquist, fitted at 16 kHz."""
    root = tmp_path_factory.mktemp("rates")
    sf.write(root / "a.wav", _stem([220, 9500]), RATE, subtype="FLOAT")
    sf.write(root / "b.wav", _stem([330, 2000], channels=2), RATE, subtype="FLOAT")
    mix = 0.7 * _stem([220, 9500], channels=2) + 0.5 * _stem([330, 2000], channels=2)
    sf.write(root / "mix.wav", mix, RATE, subtype="FLOAT")
    before = torch.get_num_threads()
    status = main(
        [
            "--threads", "1", "fit", "--stems", str(root / "a.wav"), str(root / "b.wav"),
            "--target", str(root / "mix.wav"), "--sample-rate", str(WORKING), "--steps", "2",
            "--quiet", "--out", str(root / "fit"),
        ]
    )  # fmt: skip
    torch.set_num_threads(before)
    assert status == 0
    return root


def test_fit_writes_full_band_audio_at_the_stems_rate(song):
    fitted, rate = sf.read(song / "fit" / "fitted.wav", always_2d=True)
    initial, initial_rate = sf.read(song / "fit" / "initial.wav", always_2d=True)
    assert rate == initial_rate == RATE and fitted.shape == initial.shape == (int(0.6 * RATE), 2)
    spectrum = np.abs(np.fft.rfft(fitted[:, 0]))
    freqs = np.fft.rfftfreq(fitted.shape[0], 1 / RATE)
    above = spectrum[(freqs > 9000) & (freqs < 10000)].max()
    assert above > 0.05 * spectrum.max()  # the 9.5 kHz partial, above the working Nyquist
    document = json.loads((song / "fit" / "graph.json").read_text())
    assert document["version"] == 3 and document["sample_rate"] == WORKING
    assert document["processors"]["eq"]["args"]["sample_rate"] == WORKING


def test_render_at_the_stems_rate_reproduces_fitted_wav_bit_for_bit(song, capsys):
    status = main(
        [
            "render", str(song / "fit" / "graph.json"), "--sources", str(song / "a.wav"),
            str(song / "b.wav"), "-o", str(song / "render.wav"),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0 and f"processors rebuilt from the file's {WORKING} Hz" in printed
    rendered, rate = sf.read(song / "render.wav", always_2d=True, dtype="float32")
    expected, _ = sf.read(song / "fit" / "fitted.wav", always_2d=True, dtype="float32")
    assert rate == RATE
    np.testing.assert_array_equal(rendered, expected)


def test_info_prints_the_rate_and_the_settings_by_node_name(song, capsys):
    status = main(["info", str(song / "fit" / "graph.json"), "--settings"])
    printed = capsys.readouterr().out
    assert status == 0
    assert f"sample rate: {WORKING} Hz" in printed
    eq = next(line for line in printed.splitlines() if line.startswith("  a/eq: "))
    freqs = json.loads(eq.split("eq_freqs_hz=")[1].split(" Hz")[0])
    # the console's bands (8 kHz held at 0.4 x 16 kHz), read back in Hz, not scaled by a
    # guessed rate (2 fit steps move them a little)
    assert freqs == pytest.approx([120, 700, 3000, 0.4 * WORKING], rel=0.2)
    assert "ratio=" in printed and "threshold_db=" in printed and " dB" in printed
    assert "energy_ms=" in printed and " ms" in printed
    assert "  b/gain_pan: gain_db=" in printed and "mix=" in printed


def _gain_graph(path, sample_rate, processor):
    G = GRAFX(config=NodeConfigs(["proc"]))
    G.add_serial_chain(["in", "proc", "out"])
    parameters = create_empty_parameters({"proc": processor}, G, std=0.0)
    save_graph(G, path, parameters, processors={"proc": processor}, sample_rate=sample_rate)
    return path


@pytest.mark.parametrize(
    "value, shown",
    [(0, "0"), (-44100, "-44100"), ("44100", "str '44100'"), (True, "bool True"), ([1], "list")],
)
def test_graph_file_with_a_bad_rate_is_refused_by_name(tmp_path, value, shown):
    from grafx.processors import StereoGain

    path = _gain_graph(tmp_path / "G.json", 44100, StereoGain())
    document = json.loads(path.read_text())
    document["sample_rate"] = value
    path.write_text(json.dumps(document))
    with pytest.raises(GraphFileError, match=r"G.json: document: sample_rate must be a positive "
                       rf"number of Hz or null, got {shown}"):  # fmt: skip
        load(path)


def test_graph_file_with_a_nan_rate_is_refused(tmp_path):
    from grafx.processors import StereoGain

    path = _gain_graph(tmp_path / "G.json", 44100, StereoGain())
    path.write_text(path.read_text().replace('"sample_rate": 44100.0', '"sample_rate": NaN'))
    with pytest.raises(GraphFileError, match="G.json: not valid JSON.*NaN is not allowed"):
        load(path)


def test_old_files_load_with_a_warning_and_no_rate(tmp_path, caplog):
    from grafx.processors import StereoGain

    path = _gain_graph(tmp_path / "G.json", None, StereoGain())
    document = json.loads(path.read_text())
    document["version"] = 2
    del document["sample_rate"]
    path.write_text(json.dumps(document))
    with caplog.at_level("WARNING", logger="grafx.io.model"):
        model = load(path, sample_rate=48000)
    assert model.sample_rate is None
    assert "does not record its sample rate" in caplog.text


def test_load_rebuilds_processors_for_another_rate(tmp_path):
    from grafx.processors import Limiter

    path = _gain_graph(tmp_path / "G.json", 44100, Limiter(sample_rate=44100))
    model = load(path, sample_rate=88200)
    assert model.sample_rate == 88200
    limiter = model.processors["proc"]
    assert limiter.sample_rate == 88200 and limiter.reference_rate == 44100
    assert limiter.lookahead_len == 512  # 256 samples at 44.1 kHz keep their 5.8 ms


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_render_refuses_a_rate_a_processor_cannot_serve(tmp_path, capsys):
    from grafx.processors import GraphicEqualizer
    from grafx.processors.dynamics import ApproxCompressor

    sf.write(tmp_path / "s.wav", _stem([440]), RATE, subtype="FLOAT")
    for name, processor, message in (
        ("geq", GraphicEqualizer(), "GraphicEqualizer: cannot serve sr=22050 Hz: its highest "
         "band, designed at 44100 Hz, is at 13500 Hz, at or above the Nyquist frequency"),
        ("legacy", ApproxCompressor(), "ApproxCompressor cannot render at 22050 Hz (it is "
         "built for 44100 Hz): a deprecated v0.5 class without a sample rate"),
    ):  # fmt: skip
        path = _gain_graph(tmp_path / f"{name}.json", 44100, processor)
        status = main(["render", str(path), "--sources", str(tmp_path / "s.wav"), "-o",
                       str(tmp_path / "o.wav")])  # fmt: skip
        error = capsys.readouterr().err
        assert status == 1 and error.count("\n") == 1, error
        assert f"{name}.json: processors['proc']: " in error and message in error, error
