"""grafx fit with the recipe: groups files, budgets, the summary, metrics.json, bad input."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.losses import MixLoss


def tone(freq, rate, seconds=0.5, channels=2):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1)


@pytest.fixture
def files(tmp_path):
    for name, freq in (("kick", 110), ("bass", 220), ("vox", 440)):
        sf.write(tmp_path / f"{name}.wav", tone(freq, 8000), 8000)
    mix = 0.5 * tone(110, 8000) + 0.3 * tone(220, 8000) + 0.2 * tone(440, 8000)
    sf.write(tmp_path / "mix.wav", mix, 8000, subtype="FLOAT")
    return tmp_path


def fit_args(files, *extra, stems=("kick", "bass", "vox"), target="mix.wav"):
    return (
        "fit",
        "--stems",
        *(files / f"{s}.wav" for s in stems),
        "--target",
        files / target,
        "--out",
        files / "out",
        "--steps",
        2,
        "--quiet",
        *extra,
    )


def test_groups_file_builds_one_bus_per_group_and_the_summary_is_written(files, run):
    (files / "groups.json").write_text('{"kick": "drums", "bass": "music", "vox": "music"}')
    status, out, err = run(*fit_args(files, "--groups", files / "groups.json"))
    assert status == 0, err
    graph = json.loads((files / "out" / "graph.json").read_text())
    names = json.dumps(graph)
    assert '"drums/eq"' in names and '"music/reverb"' in names and '"bus0/eq"' not in names
    summary = json.loads((files / "out" / "metrics.json").read_text())
    assert summary["steps"] == 2 and summary["stop_reason"] == "steps"
    assert summary["sample_rate"] == 8000  # below 30 kHz: the stems' own rate
    # The fitted mix's metrics are those of the full-length fitted.wav against the target.
    fitted, _ = sf.read(files / "out" / "fitted.wav", always_2d=True, dtype="float64")
    target, _ = sf.read(files / "mix.wav", always_2d=True, dtype="float64")
    expected = MixLoss(8000)(torch.from_numpy(fitted.T), torch.from_numpy(target.T)).item()
    assert summary["fitted"]["mix_loss"] == pytest.approx(expected, rel=1e-4)
    assert summary["initial"]["mix_loss"] > 0
    assert "steps      2 (ended by the step budget)" in out and "mix_loss" in out
    assert "the whole 0.50 s per step" in out
    # the default loss, recorded; the gain mix beside the fitted and initial mixes
    assert summary["loss"]["name"] == "band" and summary["loss"]["sample_rate"] == 8000
    assert summary["gain_mix"]["stft_distance"] < summary["initial"]["stft_distance"]
    assert "band_rms_db" in out and "gain mix" in out


def test_the_paper_loss_by_name_and_an_unknown_name(files, run, capsys):
    status, out, err = run(*fit_args(files, "--loss", "paper"))
    assert status == 0, err
    summary = json.loads((files / "out" / "metrics.json").read_text())
    assert summary["loss"] == {
        "name": "paper", "class": "MixLoss", "sample_rate": 8000.0, "fft_sizes": [512, 1024, 4096],
        "num_mels": 96, "a_weighting": True, "weights": {"lr": 0.5, "mid": 0.25, "side": 0.25},
    }  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        run(*fit_args(files, "--loss", "mel", "--restart"))
    assert exit_info.value.code == 2
    assert "--loss: invalid choice: 'mel' (choose from 'band', 'paper')" in capsys.readouterr().err


def test_a_high_rate_is_resampled_to_30_khz(tmp_path, run):
    for name in ("kick", "bass"):
        sf.write(tmp_path / f"{name}.wav", tone(300, 32000, 0.25), 32000)
    sf.write(tmp_path / "mix.wav", 0.7 * tone(300, 32000, 0.25), 32000)
    status, _, err = run(*fit_args(tmp_path, stems=("kick", "bass")))
    assert status == 0, err
    # the fit works at 30 kHz (the graph file records it); the audio is at the stems' rate
    info = sf.info(tmp_path / "out" / "fitted.wav")
    assert info.samplerate == 32000 and info.frames == 8000
    document = json.loads((tmp_path / "out" / "graph.json").read_text())
    assert document["sample_rate"] == 30000


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ('{"kick": "a", "bass": "a", "vox": "b", "hat": "a"}', r"stem\(s\) \['hat'\] are not"),
        ('{"kick": "a", "bass": "a"}', r"stem\(s\) \['vox'\] have no group"),
    ],
)
def test_bad_groups_file(files, run, groups, message):
    (files / "groups.json").write_text(groups)
    status, _, err = run(*fit_args(files, "--groups", files / "groups.json"))
    assert status == 1 and err.startswith("grafx: error: ") and err.count("\n") == 1
    assert "groups.json" in err
    assert re.search(message, err)


def test_bad_input(files, run):
    status, _, err = run(*fit_args(files, "--crop", 2.0))
    assert status == 1 and "--crop 2 s is longer than the audio (0.50 s)" in err
    status, _, err = run(*fit_args(files, "--sample-rate", 4000))
    assert status == 1 and "--sample-rate: 4000 Hz is below the 8000 Hz" in err
    sf.write(files / "low.wav", tone(110, 6000), 6000)
    sf.write(files / "lowmix.wav", tone(110, 6000), 6000)
    status, _, err = run(*fit_args(files, stems=("low",), target="lowmix.wav"))
    assert status == 1 and "low.wav: 6000 Hz is below the 8000 Hz" in err
    for option in ("--steps", "--minutes"):
        with pytest.raises(SystemExit) as exit_info:
            run(*fit_args(files), option, 0)
        assert exit_info.value.code == 2
    sf.write(files / "silent.wav", np.zeros((4000, 2)), 8000)
    status, _, err = run(*fit_args(files, stems=("silent", "silent")))
    assert status == 1 and "every stem is silent" in err
    status, _, err = run(*fit_args(files, target="silent.wav"))
    assert status == 1 and "the target is silent" in err


def test_the_command_line_sets_passive_openmp_waiting_before_torch_loads():
    import subprocess
    import sys

    code = """
import builtins, os, sys
os.environ.pop('OMP_WAIT_POLICY', None)
import grafx.cli
on_import = os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules
seen = []
real_import = builtins.__import__
def spy(name, *args, **kwargs):
    if name == 'torch' and 'torch' not in sys.modules:
        seen.append(os.environ.get('OMP_WAIT_POLICY'))
    return real_import(name, *args, **kwargs)
builtins.__import__ = spy
try:
    grafx.cli.main(['--version'])
except SystemExit:
    pass
print(*on_import, *seen[:1])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # importing the CLI changes nothing; main() sets the policy before torch is imported
    assert result.stdout.split()[-3:] == ["None", "False", "PASSIVE"], result.stderr


def test_time_budget_and_patience_end_the_fit(files, run):
    status, out, err = run(*fit_args(files, "--minutes", 1e-7, "--steps", 50, "--restart"))
    assert status == 0, err
    assert "steps      1 (ended by the time budget)" in out
    status, out, err = run(
        *fit_args(files, "--patience", 2, "--steps", 50, "--lr", 1e-12, "--restart")
    )
    assert status == 0, err
    summary = json.loads((files / "out" / "metrics.json").read_text())
    assert summary["stop_reason"] == "patience" and summary["steps"] == 3
    assert "(ended by the early stop)" in out
