import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.cli import main
from grafx.fit.checkpoint import load_checkpoint

RATE = 8000
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def tone(freq, seconds=0.5, channels=1, rate=RATE):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return np.stack([x] * channels, axis=1)


def grafx(*args, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "grafx", "--threads", "1", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    sf.write(root / "a.wav", tone(220), RATE)
    sf.write(root / "b.wav", tone(330, channels=2), RATE)
    mix = 0.7 * tone(220, channels=2) + 0.5 * tone(330, channels=2) * [[0.4, 1.0]]
    sf.write(root / "mix.wav", mix, RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="module")
def fitted(files):
    out = files / "fit"
    result = grafx(
        "fit",
        "--stems",
        files / "a.wav",
        files / "b.wav",
        "--target",
        files / "mix.wav",
        "--steps",
        4,
        "--quiet",
        "--out",
        out,
    )
    return out, result


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


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "fit", "render", "draw", "info"):
        assert command in out
    assert "examples:" in out


@pytest.mark.parametrize("command", ["demo", "fit", "render", "draw", "info"])
def test_each_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: grafx {command}" in out and "examples:" in out and f"grafx {command}" in out


def test_fit_writes_outputs_and_prints_losses(fitted):
    out, result = fitted
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "checkpoint.safetensors",
        "fitted.wav",
        "graph.json",
        "initial.wav",
        "metrics.json",
        "report.png",
        "settings.txt",
    ]
    assert "loss before fit:" in result.stdout and "loss after fit:" in result.stdout
    assert "done in" in result.stdout
    fitted_audio, rate = sf.read(out / "fitted.wav", always_2d=True)
    assert rate == RATE and fitted_audio.shape == (4000, 2) and np.isfinite(fitted_audio).all()
    state = load_checkpoint(out / "checkpoint")
    assert state["step"] == 4 and len(state["history"]) == 4


def test_render_of_the_fitted_graph_reproduces_fitted_wav(files, fitted):
    out, _ = fitted
    result = grafx(
        "render",
        out / "graph.json",
        "--sources",
        files / "a.wav",
        files / "b.wav",
        "-o",
        files / "render.wav",
    )
    assert "rendered" in result.stdout
    rendered, _ = sf.read(files / "render.wav", always_2d=True)
    expected, _ = sf.read(out / "fitted.wav", always_2d=True)
    np.testing.assert_allclose(rendered, expected, atol=1e-5)


def test_draw_and_info(files, fitted, run):
    # In-process (same code as the console script; the subprocess tests cover the entry point).
    out, _ = fitted
    status, printed, _ = run("draw", out / "graph.json", "-o", files / "g.png")
    assert status == 0 and "drew 17 nodes" in printed
    assert (files / "g.png").read_bytes()[:4] == b"\x89PNG"
    status, info, _ = run("info", out / "graph.json")
    assert status == 0
    assert "17 nodes, 16 edges" in info  # 2 tracks x (in + 7 processors) + out
    assert "  in          2" in info and "  reverb      2" in info
    assert "values stored in the file" in info
    steps = {
        line.split()[0]: line.split()[1]
        for line in info.splitlines()
        if line.startswith("  ") and line.split()[0] in ("one-by-one", "greedy", "beam", "optimal")
    }
    assert steps == {"one-by-one": "16", "greedy": "9", "beam": "9", "optimal": "9"}


def test_error_in_a_subprocess_is_one_line_and_nonzero(files):
    result = grafx(
        "render",
        files / "missing.json",
        "--sources",
        files / "a.wav",
        "-o",
        files / "x.wav",
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("grafx: error: ") and "missing.json" in result.stderr


def test_usage_errors_are_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--stems", "a.wav"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("grafx: error: grafx fit: the following arguments are required")
    assert err.count("\n") == 1


def test_missing_and_unreadable_files(files, run):
    status, _, err = run(
        "fit", "--stems", files / "nope.wav", "--target", files / "mix.wav", "--out", files / "o1"
    )
    assert status == 1 and err == f"grafx: error: {files / 'nope.wav'}: no such file\n"
    (files / "junk.wav").write_text("junk")
    status, _, err = run(
        "fit", "--stems", files / "junk.wav", "--target", files / "mix.wav", "--out", files / "o1"
    )
    assert status == 1 and f"{files / 'junk.wav'}: cannot read audio" in err
    status, _, err = run("info", files / "junk.wav")
    assert status == 1 and err.startswith("grafx: error: ") and "junk.wav" in err


def test_wrong_channel_count(files, run):
    sf.write(files / "quad.wav", np.zeros((4000, 4)), RATE)
    status, _, err = run(
        "fit", "--stems", files / "quad.wav", "--target", files / "mix.wav", "--out", files / "o2"
    )
    assert status == 1 and "quad.wav: 4 channels; only mono or stereo" in err


def test_sample_rate_mismatch_refused_with_no_resample(files, run):
    sf.write(files / "fast.wav", tone(220, rate=16000), 16000)
    status, _, err = run(
        "fit",
        "--stems",
        files / "a.wav",
        "--target",
        files / "fast.wav",
        "--no-resample",
        "--out",
        files / "o3",
    )
    assert status == 1
    assert "fast.wav: sample rate 16000 Hz differs from the required 8000 Hz" in err


def test_in_count_differs_from_stems(files, fitted, run):
    out, _ = fitted
    status, _, err = run(
        "render", out / "graph.json", "--sources", files / "a.wav", "-o", files / "x.wav"
    )
    assert status == 1
    assert "the graph has 2 'in' node(s) but 1 source file(s) were given" in err
    status, _, err = run(
        "fit",
        "--stems",
        files / "a.wav",
        "--target",
        files / "mix.wav",
        "--graph",
        out / "graph.json",
        "--out",
        files / "o4",
    )
    assert status == 1 and "the graph has 2 'in' node(s) but 1 stems were given" in err


def test_nan_audio(files, run):
    bad = tone(220)
    bad[10] = np.nan
    sf.write(files / "nan.wav", bad, RATE, subtype="FLOAT")
    status, _, err = run(
        "fit", "--stems", files / "nan.wav", "--target", files / "mix.wav", "--out", files / "o5"
    )
    assert (
        status == 1 and "nan.wav: audio contains 1 NaN/Inf samples (first: NaN at sample 10)" in err
    )


def test_length_mismatch(files, run):
    sf.write(files / "short.wav", tone(220, seconds=0.3), RATE)
    status, _, err = run(
        "fit", "--stems", files / "short.wav", "--target", files / "mix.wav", "--out", files / "o6"
    )
    assert (
        status == 1 and "the target lasts 0.500 s but the stems 0.300 s" in err and "--align" in err
    )


def test_bad_output_extension_and_unknown_type(files, fitted, run):
    out, _ = fitted
    status, _, err = run(
        "render",
        out / "graph.json",
        "--sources",
        files / "a.wav",
        files / "b.wav",
        "-o",
        files / "x.mp3",
    )
    assert status == 1 and "x.mp3: unsupported output extension" in err
    from grafx.data import GRAFX
    from grafx.io import save_graph

    G = GRAFX(config=["fuzz"])
    G.add_serial_chain(["in", "fuzz", "out"])
    save_graph(G, files / "fuzz.json")
    status, _, err = run(
        "render", files / "fuzz.json", "--sources", files / "a.wav", "-o", files / "x.wav"
    )
    assert status == 1 and "no built-in processor for type 'fuzz'" in err
    assert not (files / "x.wav").exists()


def test_no_partial_output_on_failure(files, fitted, run, monkeypatch):
    out, _ = fitted

    def broken(*args, **kwargs):
        return torch.full((2, 4000), float("nan"))

    monkeypatch.setattr("grafx.render.render_mix", broken)
    status, _, err = run(
        "render",
        out / "graph.json",
        "--sources",
        files / "a.wav",
        files / "b.wav",
        "-o",
        files / "partial.wav",
    )
    assert status == 1 and "NaN/Inf" in err
    assert not (files / "partial.wav").exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".partial")]


def test_demo_command_prints_losses_and_time(tmp_path, run):
    status, out, err = run(
        "--threads",
        1,
        "demo",
        "--out",
        tmp_path,
        "--steps",
        2,
        "--duration",
        0.5,
        "--sample-rate",
        8000,
        "--quiet",
    )
    assert status == 0, err
    assert "loss before fit:" in out and "loss after fit:" in out and "done in" in out
    for name in ("target.wav", "initial.wav", "fitted.wav", "graph.json", "report.png"):
        assert (tmp_path / name).is_file()
    status, _, err = run("demo", "--out", tmp_path / "target.wav")
    assert (
        status == 1
        and err == f"grafx: error: {tmp_path / 'target.wav'}: exists and is not a folder\n"
    )
