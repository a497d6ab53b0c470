"""grafx evaluate: the metrics of two files, the least-squares baseline, one-line errors."""

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.baseline import least_squares_gain_mix
from grafx.cli import main
from grafx.io.audio import resample
from grafx.metrics import descriptor_errors, mix_metrics

RATE = 8000


def signal(seed, channels=2, seconds=0.6):
    rng = np.random.default_rng(seed)
    return 0.2 * rng.standard_normal((int(seconds * RATE), channels))


@pytest.fixture
def files(tmp_path):
    stems = [signal(1, 1), signal(2, 2), signal(3, 1)]
    gains = np.array([[0.5, 0.25], [1.0, 0.0], [-0.3, 0.8]])  # stem k into left / right
    mix = sum(g * np.repeat(s, 2 // s.shape[1], axis=1) for g, s in zip(gains, stems, strict=True))
    for k, stem in enumerate(stems):
        sf.write(tmp_path / f"s{k}.wav", stem, RATE, subtype="FLOAT")
    sf.write(tmp_path / "target.wav", mix + 0.01 * signal(9), RATE, subtype="FLOAT")
    sf.write(tmp_path / "fitted.wav", 0.9 * mix, RATE, subtype="FLOAT")
    return tmp_path


def read(path):
    return torch.from_numpy(sf.read(path, always_2d=True, dtype="float64")[0].T.copy())


def test_metrics_of_two_files(files, run):
    json_path = files / "m.json"
    status, out, err = run(
        "evaluate", files / "fitted.wav", files / "target.wav", "--json", json_path
    )
    assert status == 0, err
    expected = mix_metrics(read(files / "fitted.wav"), read(files / "target.wav"), RATE)
    report = json.loads((files / "m.json").read_text())
    fitted = report["metrics"]["fitted.wav"]
    assert {k: fitted[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    errors = descriptor_errors(read(files / "fitted.wav"), read(files / "target.wav"), RATE)
    # 0.9 times a mix plus a little noise: every band about 0.9 dB low
    assert fitted["band_rms_db"] == pytest.approx(errors["band_rms_db"], rel=1e-12)
    assert 0.7 < fitted["band_rms_db"] < 1.1 and report["bands"]["fitted.wav"]["centre_hz"]
    assert report["sample_rate"] == RATE and "least_squares_gains" not in report
    for name, value in expected.items():
        assert f"{name}" in out and f"{value:.4f}" in out
    assert "(0.60 s at 8000 Hz)" in out


def test_baseline_recovers_the_gains_of_a_gain_mix(files, run):
    stems = [files / f"s{k}.wav" for k in range(3)]
    args = ("evaluate", files / "fitted.wav", files / "target.wav", "--baseline", "--stems")
    status, out, err = run(*args, *stems, "--json", files / "m.json")
    assert status == 0, err
    report = json.loads((files / "m.json").read_text())
    # The target is a gain mix plus a little noise: the gains come back to ~1e-2.
    gains = report["least_squares_gains"]
    assert gains[str(stems[0])]["left"] == pytest.approx(0.5, abs=0.02)
    assert gains[str(stems[2])]["right"] == pytest.approx(0.8, abs=0.02)
    target = read(files / "target.wav")
    sources = torch.stack([read(s).expand(2, -1) for s in stems])
    expected = mix_metrics(least_squares_gain_mix(sources, target).mix, target, RATE)
    gain = report["metrics"]["gain mix"]
    assert {k: gain[k] for k in expected} == pytest.approx(expected, rel=1e-9)
    summed = mix_metrics(sources.sum(0), target, RATE)
    assert {k: report["metrics"]["sum"][k] for k in summed} == pytest.approx(summed, rel=1e-12)
    assert list(report["metrics"]) == ["fitted.wav", "gain mix", "sum"]
    assert "least-squares gains" in out and "s2.wav" in out


def test_identical_files_print_inf(files, run):
    target = files / "target.wav"
    status, out, _ = run("evaluate", target, target, "--json", files / "m.json")
    assert status == 0
    strict = json.loads(
        (files / "m.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}")
    )
    assert strict["metrics"]["target.wav"]["snr_db"] == "inf"
    snr_line = next(line for line in out.splitlines() if "snr_db" in line)
    assert snr_line.split()[-1] == "inf" and math.isinf(float(snr_line.split()[-1]))


def test_files_are_checked_block_by_block(files, run, monkeypatch):
    import grafx.cli.evaluate as evaluate

    monkeypatch.setattr(evaluate, "_VALIDATE_FRAMES", 1000)  # the checks see several blocks
    target = files / "target.wav"
    audio = read(files / "fitted.wav").T.numpy().copy()
    audio[2500, 1] = np.nan
    sf.write(files / "nan.wav", audio, RATE, subtype="FLOAT")
    err = one_line_error(run, files / "nan.wav", target)
    assert "nan.wav: audio contains" in err and "NaN at sample 2500" in err
    audio[2500, 1] = 0.0
    audio[4000, 0] = 5000.0
    sf.write(files / "loud.wav", audio, RATE, subtype="FLOAT")
    err = one_line_error(run, files / "loud.wav", target)
    assert "loud.wav: peak 5e+03" in err and "normalise it" in err
    sf.write(files / "three.wav", np.zeros((4800, 3)), RATE)
    assert "3 channels" in one_line_error(run, files / "three.wav", target)


def one_line_error(run, *args):
    status, out, err = run("evaluate", *args)
    assert status == 1 and err.startswith("grafx: error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_error(files, run):
    fitted, target = files / "fitted.wav", files / "target.wav"
    err = one_line_error(run, files / "missing.wav", target)
    assert "missing.wav: no such file" in err
    (files / "junk.wav").write_bytes(b"not audio at all")
    assert "junk.wav: cannot read audio" in one_line_error(run, files / "junk.wav", target)
    sf.write(files / "short.wav", signal(1, seconds=0.5), RATE)
    err = one_line_error(run, files / "short.wav", target)
    assert "short.wav: 4000 samples at 8000 Hz but" in err and "has 4800" in err
    err = one_line_error(run, fitted, target, "--baseline")
    assert "--baseline needs the stems" in err
    err = one_line_error(run, fitted, target, "--stems", files / "s0.wav")
    assert "add --baseline" in err
    err = one_line_error(run, fitted, target, "--baseline", "--stems", files / "short.wav")
    assert "short.wav: 4000 samples" in err
    err = one_line_error(run, fitted, target, "--json", files / "nowhere" / "m.json")
    assert "does not exist" in err
    err = one_line_error(run, fitted, target, "--plot", files / "nowhere" / "b.png")
    assert "--plot" in err and "nowhere" in err and "does not exist" in err
    sf.write(files / "silent.wav", np.zeros((4800, 2)), RATE)
    err = one_line_error(run, fitted, files / "silent.wav")
    assert "silent.wav: the audio is silent" in err
    err = one_line_error(run, files / "silent.wav", target)
    assert "silent.wav: the audio is silent" in err


def test_other_rate_and_a_few_samples_are_aligned(files, run):
    """A mix at 16 kHz is resampled to the target's 8 kHz; a mix 3 samples long or short is
    padded or cut: the metrics equal those of the same audio given at the target's rate and
    length (up to float32 rounding: evaluate holds the files as float32)."""
    fitted = read(files / "fitted.wav")
    up = resample(fitted, RATE, 16000)
    sf.write(files / "up.wav", up.T.numpy(), 16000, subtype="DOUBLE")
    status, _, err = run(
        "evaluate", files / "up.wav", files / "target.wav", "--json", files / "a.json"
    )
    assert status == 0, err
    target = read(files / "target.wav")
    back = resample(up, 16000, RATE)[..., : target.shape[-1]]
    expected = mix_metrics(back, target, RATE)
    got = json.loads((files / "a.json").read_text())["metrics"]["up.wav"]
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-6)
    # the round trip keeps the third-octave balance (bands below the resampler's cut-off)
    direct = descriptor_errors(fitted, target, RATE)["band_rms_db"]
    assert got["band_rms_db"] == pytest.approx(direct, abs=0.1)
    for extra, name in ((3, "long.wav"), (-3, "shortish.wav")):
        audio = (
            fitted[..., : fitted.shape[-1] + extra]
            if extra < 0
            else torch.cat([fitted, fitted[..., :extra]], -1)
        )
        sf.write(files / name, audio.T.numpy(), RATE, subtype="DOUBLE")
        status, _, err = run(
            "evaluate", files / name, files / "target.wav", "--json", files / "b.json"
        )
        assert status == 0, err
        aligned = torch.nn.functional.pad(audio, (0, 3))[..., : target.shape[-1]]
        expected = mix_metrics(aligned, target, RATE)
        got = json.loads((files / "b.json").read_text())["metrics"][name]
        assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-9)


def test_plot_draws_a_png(files, run):
    stems = [files / f"s{k}.wav" for k in range(3)]
    png = files / "balance.png"
    status, out, err = run(
        "evaluate",
        files / "fitted.wav",
        files / "target.wav",
        "--baseline",
        "--stems",
        *stems,
        "--plot",
        png,
    )
    assert status == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in out


def test_help_lists_the_metrics(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert (
        "loudness_diff_lu" in out and "grafx evaluate my-fit/fitted.wav mix.wav --baseline" in out
    )
