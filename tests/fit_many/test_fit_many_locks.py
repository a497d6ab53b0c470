"""fit-many: a song held by a live worker of an earlier run is never fitted twice; options are
checked once, before any song starts."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from grafx.cli import main
from grafx.fit.many import write_demo_songs
from grafx.fit.many.folder import RunFolder, SongBusy

SRC = str(Path(__file__).resolve().parents[2] / "src")
FIT = "--steps 2 --crop 0.25 --warmup 0.05 --sample-rate 8000"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_demo_songs(tmp_path_factory.mktemp("songs"), 1, sample_rate=8000, duration=0.5)


def command(manifest, out, fit=FIT):
    return ["fit-many", str(manifest), "--out", str(out), "--fit", fit, "--quiet", "--threads", "1"]


def test_the_lock_dies_with_its_holder(tmp_path):
    folder = RunFolder(tmp_path)
    (folder.state / "running").mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from grafx.fit.many.folder import RunFolder; "
            f"RunFolder({str(tmp_path)!r}).mark_running('song', 1); print('held', flush=True); "
            "time.sleep(60)",
        ],
        env={"PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SongBusy, match=rf"song 'song' is being fitted by process {holder.pid}"):
            folder.check_idle("song", wait=0.3)
        with pytest.raises(SongBusy):
            folder.mark_running("song", 2)
    finally:
        holder.kill()
        holder.wait()
    folder.check_idle("song")  # the holder is gone, and its lock with it
    folder.mark_running("song", 2)
    folder.clear_running("song")


def test_a_restart_refuses_while_an_orphaned_worker_fits_the_song(manifest, tmp_path):
    out2 = tmp_path / "out2"
    folder = RunFolder(out2)
    (folder.state / "running").mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from grafx.fit.many.folder import RunFolder; "
            f"RunFolder({str(out2)!r}).mark_running('song000', 1); print('held', flush=True); "
            "time.sleep(60)",
        ],
        env={"PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert main(command(manifest, out2)) == 1
        assert time.monotonic() - started < 30
        assert not (out2 / "song000").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("fit, reason", [("--steps -5", "--steps"), ("--lr 1e300", "--lr")])
def test_fit_options_are_checked_once_up_front(manifest, tmp_path, capsys, fit, reason):
    out = tmp_path / "out"
    assert main(command(manifest, out, fit)) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"grafx: error: --fit '{fit}': argument {reason}") and err.count("\n") == 1
    )
    assert not (out / "fit-many.log").exists()
