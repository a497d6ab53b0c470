import json
import os
import signal
import time

import pytest

from grafx.fit.many import fit_many, write_demo_songs
from grafx.fit.options import FitOptions
from grafx.io import load_graph

ray = pytest.importorskip("ray", reason="Ray is in the test extra; install grafx-torch[test]")

FIT = FitOptions(steps=4, crop=0.25, warmup=0.05, sample_rate=8000)
# Enough steps that the killer, polling every 5 ms, sees the worker between its first
# checkpoint and its end even on an idle machine (4 steps of this size take a few ms).
KILL_FIT = FitOptions(steps=40, crop=0.25, warmup=0.05, sample_rate=8000)


def parameters(out, song):
    return load_graph(out / song / "graph.json")[1]


def test_ray_executor_retries_a_killed_worker_from_its_checkpoint(tmp_path):
    import threading

    manifest = write_demo_songs(tmp_path / "songs", 2, sample_rate=8000, duration=0.5)
    local = tmp_path / "local"
    fit_many(manifest, local, KILL_FIT, jobs=1, threads=1, progress=False, checkpoint_every=1)
    out = tmp_path / "ray"
    killed = []

    def kill_first_worker():  # kill song000's Ray worker once it has checkpointed a step
        running = out / ".fit-many" / "running" / "song000.json"
        checkpoint = out / ".fit-many" / "work" / "song000" / "checkpoint.safetensors"
        deadline = time.monotonic() + 600  # Ray starts slowly on a loaded machine
        while time.monotonic() < deadline:
            if running.exists() and checkpoint.exists():
                pid = json.loads(running.read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    report = fit_many(
        manifest,
        out,
        KILL_FIT,
        executor="ray",
        jobs=2,
        threads=1,
        retries=2,
        progress=False,
        checkpoint_every=1,
    )
    killer.join()
    assert killed, "the worker was never seen running"
    assert sorted(report.done) == ["song000", "song001"] and not report.failed
    log = (out / "fit-many.log").read_text()
    assert log.count("song000: started") == 2  # the retry
    assert log.count("song000: done") == 1
    for song in ("song000", "song001"):
        for kind, tree in parameters(out, song).items():
            for key, value in tree.items():
                assert (value == parameters(local, song)[kind][key]).all(), (song, kind, key)
