"""fit-many's progress: log lines (never redraws) when stderr is not a terminal; --quiet hides
progress only: warnings, errors and the final summary are still shown."""

import argparse
import logging

import pytest

from grafx.cli import main
from grafx.cli.logs import command_logging
from grafx.errors import ConfigError
from grafx.fit.many import fit_many, write_demo_songs
from grafx.fit.options import FitOptions
from grafx.progress import Progress

OPTIONS = "--steps 2 --crop 0.25 --warmup 0.05 --sample-rate 8000"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_demo_songs(tmp_path_factory.mktemp("songs"), 1, sample_rate=8000, duration=0.5)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("fits") / "out"


def command(manifest, out, fit=OPTIONS, *extra):
    return ["fit-many", str(manifest), "--out", str(out), "--threads", "1", "--fit", fit, *extra]


def test_progress_is_a_line_not_a_redrawn_bar_when_not_on_a_terminal(manifest, out, capsys):
    assert main(command(manifest, out)) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out
    lines = [line for line in captured.out.splitlines() if line.startswith("fit-many: ")]
    # A line every few seconds while it runs, and the last count once.
    assert lines and all(line.startswith("fit-many: song ") for line in lines)
    assert lines[-1].startswith("fit-many: song 1/1 (100%), finished 1, running 0, failed 0, ")
    assert lines[-1].count("song/s") == 1
    assert captured.out.rstrip().splitlines()[-1].startswith("grafx fit-many: 1 fitted")


def test_quiet_hides_progress_but_not_errors_or_the_summary(manifest, out, capsys):
    assert main(command(manifest, out, OPTIONS, "--quiet")) == 0  # finished: skipped
    shown = capsys.readouterr().out
    assert shown.startswith("grafx fit-many: 1 songs (1 finished before); fitting 0 in 0 task(s)")
    assert "grafx fit-many: 0 fitted, 1 already finished, 0 failed" in shown
    assert "fit-many: song" not in shown
    # Other fit options than the folder's: a one-line error, quiet or not.
    assert main(command(manifest, out, "--steps 3", "--quiet")) == 1
    err = capsys.readouterr().err
    assert err.startswith("grafx: error: ") and "other fit options" in err and err.count("\n") == 1


def test_the_library_call_takes_options_not_words(manifest, tmp_path):
    with pytest.raises(ConfigError, match="options must be a grafx.fit.options.FitOptions"):
        fit_many(manifest, tmp_path / "o", ["--steps", "2"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--steps must be >= 1, got 0"):
        fit_many(manifest, tmp_path / "o", FitOptions(steps=0))
    with pytest.raises(ConfigError, match="stems is set per song by the manifest"):
        fit_many(manifest, tmp_path / "o", FitOptions(stems=["a.wav"]))
    assert not (tmp_path / "o").exists()


def test_quiet_keeps_the_librarys_warnings_and_results(capsys):
    with command_logging(argparse.Namespace(quiet=True)):
        progress = Progress("fit-many", 2, unit="song", interval=0.0, terminal=False)
        progress.update(1)
        progress.close()
        logging.getLogger("grafx.fit.many.run").warning("a song's stems are silent")
        logging.getLogger("grafx.fit.job").info("loss after fit:  0.1000")
    shown = capsys.readouterr().out
    assert shown == "a song's stems are silent\nloss after fit:  0.1000\n"
    with command_logging(argparse.Namespace(quiet=False)):
        progress = Progress("fit-many", 2, unit="song", interval=0.0, terminal=False)
        progress.update(1)
    assert capsys.readouterr().out.startswith("fit-many: song 1/2 (50%)")
