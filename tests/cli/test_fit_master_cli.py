"""``grafx fit --master``: a console with a master strip, and bad type names."""

import json

import numpy as np
import pytest
import soundfile as sf

from grafx.errors import ConfigError
from grafx.fit.options import FitOptions


def tone(freq, rate, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.4 * np.sin(2 * np.pi * freq * t)] * 2, axis=1)


@pytest.fixture
def files(tmp_path):
    for name, freq in (("kick", 110), ("vox", 440)):
        sf.write(tmp_path / f"{name}.wav", tone(freq, 8000), 8000)
    sf.write(tmp_path / "mix.wav", 0.5 * tone(110, 8000) + 0.3 * tone(440, 8000), 8000)
    return tmp_path


def fit_args(files, *extra):
    stems = (files / "kick.wav", files / "vox.wav")
    return ("fit", "--stems", *stems, "--target", files / "mix.wav", "--out", files / "out",
            "--steps", 2, "--quiet", *extra)  # fmt: skip


def test_master_option_writes_a_graph_with_a_master_strip(files, run):
    status, _, err = run(*fit_args(files, "--master", "eq,compressor,limiter"))
    assert status == 0, err
    graph = json.loads((files / "out" / "graph.json").read_text())
    names = json.dumps(graph)
    for node in ("master/eq", "master/compressor", "master/limiter", "kick/eq", "vox/reverb"):
        assert f'"{node}"' in names
    assert '"Limiter"' in names
    summary = json.loads((files / "out" / "metrics.json").read_text())
    assert summary["steps"] == 2
    # a resume with another master strip is refused (it is a different fit)
    status, _, err = run(*fit_args(files, "--master", "limiter"))
    assert status == 1 and "master" in err
    assert summary["run"]["options"]["master"] == ["eq", "compressor", "limiter"]


def test_bad_master_names(files, run):
    status, _, err = run(*fit_args(files, "--master", "eq,fuzz"))
    assert status == 1 and err.startswith("grafx: error: --master: ") and "'fuzz'" in err
    assert "limiter" in err  # the known types are listed
    status, _, err = run(*fit_args(files, "--master", "eq,eq"))
    assert status == 1 and "repeats a type" in err
    status, _, err = run(*fit_args(files, "--master", ","))
    assert status == 1 and "--master ',': give node types" in err
    with pytest.raises(ConfigError, match="--master does not apply to --graph|--graph"):
        FitOptions(
            stems=["a.wav"], target="m.wav", out="o", graph="g.json", master=["eq"]
        ).validate(files=False)


def test_the_master_limiter_starts_at_the_target_peak(files, run):
    status, _, err = run(*fit_args(files, "--master", "limiter", "--steps", 1))
    assert status == 0, err
    target, _ = sf.read(files / "mix.wav", always_2d=True)
    peak_db = 20 * np.log10(np.abs(target).max())
    text = (files / "out" / "settings.txt").read_text()
    block = text.split("master/limiter (limiter)")[1]
    threshold = float(block.split("threshold_db = ")[1].split()[0])
    assert threshold == pytest.approx(peak_db, abs=0.2)  # one step of lr 1e-2 moves it < 0.1 dB
