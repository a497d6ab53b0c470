import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grafx.cli import main
from grafx.fit.many import read_manifest, write_demo_songs
from grafx.io import load_graph

FIT = "--steps 4 --crop 0.25 --warmup 0.05 --sample-rate 8000"
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_demo_songs(tmp_path_factory.mktemp("songs"), 2, sample_rate=8000, duration=0.5)


def command(manifest, out, *extra):
    return [
        "fit-many",
        str(manifest),
        "--out",
        str(out),
        "--fit",
        FIT,
        "--quiet",
        "--threads",
        "1",
        *extra,
    ]


def fitted(out, song):
    _, parameters = load_graph(out / song / "graph.json")
    return parameters


def summary(out):
    with open(out / "summary.csv") as file:
        return list(csv.DictReader(file))


def test_fit_many_fits_every_song_skips_finished_ones_and_isolates_failures(manifest, tmp_path):
    folder = manifest.parent
    (folder / "short.wav").write_bytes((folder / "song000" / "mix.wav").read_bytes())
    bad = folder / "with_bad.csv"
    bad.write_text(manifest.read_text() + "broken,song001/drums.wav,short.wav\n")
    # A target of another length than the stems: that song fails, the others are fitted.
    import soundfile

    audio, rate = soundfile.read(folder / "short.wav")
    soundfile.write(folder / "short.wav", audio[: len(audio) // 2], rate)
    out = tmp_path / "out"
    assert main(command(bad, out, "--pack", "2", "--checkpoint-every", "2")) == 1
    rows = {r["song"]: r for r in summary(out)}
    assert rows["song000"]["status"] == rows["song001"]["status"] == "done"
    assert rows["song000"]["steps"] == "4"
    assert rows["broken"]["status"] == "failed" and "the target lasts" in rows["broken"]["error"]
    assert sorted(os.listdir(out / "song000")) == sorted(
        [
            "checkpoint.safetensors",
            "fitted.wav",
            "graph.json",
            "initial.wav",
            "metrics.json",
            "report.png",
            "settings.txt",
        ]
    )
    assert not (out / "broken").exists()
    stamp = (out / "song000" / "graph.json").stat().st_mtime_ns
    assert main(command(bad, out, "--pack", "2", "--checkpoint-every", "2")) == 1
    assert (out / "song000" / "graph.json").stat().st_mtime_ns == stamp  # not refitted
    log = (out / "fit-many.log").read_text()
    assert log.count("song000: done") == 1 and "song000: already finished; skipped" in log
    assert log.count("broken: failed") == 2  # retried on the second run, failed again


def test_a_killed_run_restarted_finishes_every_song_once_with_the_same_results(manifest, tmp_path):
    reference = tmp_path / "reference"
    assert main(command(manifest, reference, "--checkpoint-every", "2")) == 0
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": SRC}
    argv = [
        sys.executable,
        "-m",
        "grafx",
        *command(manifest, out, "--checkpoint-every", "2", "--jobs", "2"),
    ]
    process = subprocess.Popen(argv, env=env, start_new_session=True)
    work = out / ".fit-many" / "work"
    deadline = time.monotonic() + 120
    while not list(work.glob("*/checkpoint.safetensors")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(14).uniform(0.0, 1.5))  # a random moment once fitting is under way
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert main(command(manifest, out, "--checkpoint-every", "2")) == 0
    songs = [s.song_id for s in read_manifest(manifest)]
    assert [r["song"] for r in summary(out)] == songs
    log = (out / "fit-many.log").read_text()
    for song in songs:
        assert log.count(f"{song}: done") == 1
        for kind, tree in fitted(out, song).items():
            for key, value in tree.items():
                ref = fitted(reference, song)[kind][key]
                assert (value == ref).all() if hasattr(value, "all") else value == ref, (
                    song,
                    kind,
                    key,
                )
