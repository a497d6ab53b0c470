"""``grafx fit`` resumes only the same fit; finished fits are reported; outputs people can use."""

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf

RATE = 8000


def tone(freq, seconds=0.5):
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.4 * np.sin(2 * np.pi * freq * t)


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    sf.write(root / "a.wav", tone(220), RATE)
    sf.write(root / "b.wav", tone(330), RATE)
    sf.write(root / "c.wav", tone(440), RATE)
    sf.write(root / "mix.wav", 0.7 * tone(220) + 0.5 * tone(330), RATE, subtype="FLOAT")
    sf.write(root / "mix2.wav", 0.2 * tone(220) + 0.9 * tone(330), RATE, subtype="FLOAT")
    return root


def fit_args(audio, out, *extra, stems=("a", "b"), target="mix"):
    return [
        "fit",
        "--stems",
        *[audio / f"{s}.wav" for s in stems],
        "--target",
        audio / f"{target}.wav",
        "--out",
        out,
        "--quiet",
        "--steps",
        "2",
        *extra,
    ]


@pytest.fixture(scope="module")
def fitted(audio):
    from grafx.cli import main

    out = audio / "fit"
    old = os.umask(0o022)
    try:
        assert main([str(a) for a in fit_args(audio, out)]) == 0
    finally:
        os.umask(old)
    return out


def test_outputs_honour_the_umask(fitted):
    for name in ("metrics.json", "fitted.wav", "graph.json", "checkpoint.safetensors"):
        assert stat.S_IMODE((fitted / name).stat().st_mode) == 0o644, name


def test_metrics_record_options_seed_version_and_fingerprints(fitted):
    from grafx import __version__

    metrics = json.loads((fitted / "metrics.json").read_text())
    run = metrics["run"]
    assert run["grafx_version"] == __version__ and run["seed"] == 0
    assert run["options"]["steps"] == 2 and run["options"]["lr"] > 0
    stems = metrics["inputs"]["fingerprint"]["stems"]
    assert [s["name"] for s in stems] == ["a.wav", "b.wav"] and len(stems[0]["sha256"]) == 64
    assert metrics["inputs"]["sample_rates"] == {"a.wav": RATE, "b.wav": RATE, "mix.wav": RATE}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"stems": ("b", "a")}, "stems[0].name was 'a.wav', now 'b.wav'"),
        ({"stems": ("a", "b", "c")}, "stems had 2 entries, now 3"),
        ({"target": "mix2"}, "target.name was 'mix.wav', now 'mix2.wav'"),
    ],
)
def test_another_fit_is_refused_in_one_line(run, audio, fitted, change, expected):
    stamp = (fitted / "metrics.json").stat().st_mtime_ns
    status, _, err = run(*fit_args(audio, fitted, **change))
    assert status == 1 and err.count("\n") == 1
    assert "this checkpoint is of another fit" in err and expected in err
    assert "--restart" in err
    assert (fitted / "metrics.json").stat().st_mtime_ns == stamp


def test_another_option_is_refused(run, audio, fitted):
    status, _, err = run(*fit_args(audio, fitted, "--lr", "0.5"))
    assert status == 1 and "options.lr was 0.01, now 0.5" in err


def test_a_finished_fit_is_reported_not_rerun_and_more_steps_continue(run, audio, fitted):
    stamp = (fitted / "metrics.json").stat().st_mtime_ns
    status, out, _ = run(*fit_args(audio, fitted))
    assert status == 0 and "this fit already finished: 2 steps" in out
    assert (fitted / "metrics.json").stat().st_mtime_ns == stamp
    status, out, _ = run(*fit_args(audio, fitted, "--steps", "3")[:-2], "--steps", "3")
    assert status == 0
    metrics = json.loads((fitted / "metrics.json").read_text())
    assert metrics["steps"] == 3 and len(metrics["run"]["options"]) > 5
    status, _, _ = run(*fit_args(audio, fitted, "--restart", stems=("b", "a")))
    assert status == 0


def test_bad_output_folders(run, audio, tmp_path):
    status, _, err = run(*fit_args(audio, ""))
    assert status == 1 and "--out: an empty folder name" in err
    out = tmp_path / "new" / "nested"
    status, _, err = run(*fit_args(audio, out, stems=("a", "missing")))
    assert status == 1 and "missing.wav" in err
    assert not (tmp_path / "new").exists()  # the failed run's empty folders are gone


def test_prune_refuses_the_fits_own_folder(run, fitted):
    status, _, err = run("prune", fitted, "--out", fitted)
    assert status == 1 and "that is the fit's own folder" in err


def test_fifo_and_devices_are_refused(run, audio, tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a device"), (link, "a device")):
        status, _, err = run("info", path)
        assert status == 1 and f"it is {kind}, not a regular file" in err
    status, _, err = run(
        *fit_args(audio, tmp_path / "o", stems=("a",))[:2],
        fifo,
        "--target",
        audio / "mix.wav",
        "--out",
        tmp_path / "o",
    )
    assert status == 1 and "a FIFO, not a regular file" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", "-1"],
        ["--seed", str(2**64)],
        ["--sample-rate", "1000000000"],
        ["--lr", "1e300"],
    ],
)
def test_out_of_range_fit_arguments_are_usage_errors(audio, tmp_path, argv, capsys):
    from grafx.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in fit_args(audio, tmp_path / "o", *argv)])
    assert exit_info.value.code == 2 and "must be" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--threads", "4096", "info", "x"],
        ["draw", "g", "-o", "x.png", "--dpi", "0"],
        ["draw", "g", "-o", "x.png", "--dpi", "100000"],
    ],
)
def test_out_of_range_arguments_are_usage_errors(argv, capsys):
    from grafx.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "must be from" in capsys.readouterr().err


def test_more_buses_than_stems(run, audio, tmp_path):
    for buses in ("3", "1000000000"):
        status, _, err = run(*fit_args(audio, tmp_path / "o", "--buses", buses))
        assert status == 1 and f"--buses {buses}: more buses than stems (2)" in err


def test_float_wav_scaled_to_1e30_is_refused_up_front(run, audio, tmp_path):
    sf.write(tmp_path / "loud.wav", 1e30 * tone(220), RATE, subtype="FLOAT")
    argv = fit_args(audio, tmp_path / "o")
    argv[argv.index("--target") + 1] = tmp_path / "loud.wav"
    status, _, err = run(*argv)
    assert status == 1 and "dB over full scale" in err and "loud.wav" in err


def test_groups_file_with_a_repeated_stem_or_deep_nesting(tmp_path):
    from grafx.errors import ConfigError
    from grafx.io.groups import read_groups

    path = tmp_path / "groups.json"
    path.write_text('{"a": "drums", "a": "bass", "b": "bass"}')
    with pytest.raises(ConfigError, match="the stem 'a' is listed twice"):
        read_groups(path, ["a", "b"])
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        read_groups(path, ["a", "b"])


def test_ctrl_c_says_that_the_same_command_resumes(audio, tmp_path, capsys, monkeypatch):
    from grafx.cli import main
    from grafx.fit import run as fit

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit, "prepare_fit", interrupted)
    assert main([str(a) for a in fit_args(audio, tmp_path / "o")]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_log_file_gets_the_commands_lines_and_its_errors(run, audio, fitted, tmp_path):
    log = tmp_path / "run.log"
    argv = fit_args(audio, fitted, stems=("c", "a", "b"))  # not the fit in that folder
    status, _, err = run(*argv, "--log-file", log)
    text = log.read_text()
    assert status == 1 and "another fit" in err
    assert "grafx fit: reading 3 stems and the target" in text and "another fit" in text
    assert "\r" not in text
