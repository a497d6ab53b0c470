"""Seeded random SIGKILLs of ``grafx fit`` and ``grafx prune``: every restart finishes, the
results equal an uninterrupted run's, and no file in the folder is ever partial.

Each run is a forked child of this process (grafx and torch already imported), killed at a
seeded random moment of its run: while reading, fitting, checkpointing or writing results.
"""

import json
import multiprocessing
import os
import random
import shutil
import signal
import time

import numpy as np
import pytest
import soundfile as sf
import torch

RATE = 8000
KILLS = 10


def tone(freq, seconds=0.6):
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.4 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    sf.write(root / "a.wav", tone(220), RATE)
    sf.write(root / "b.wav", tone(330), RATE)
    sf.write(root / "mix.wav", 0.7 * tone(220) + 0.3 * tone(330), RATE, subtype="FLOAT")
    return root


def _child(argv):
    import sys

    from grafx.cli import main

    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the child only exits
    os._exit(main(argv))


def run_child(argv, kill_after=None) -> int | None:
    """Run ``grafx ARGV`` in a forked child; SIGKILL it after ``kill_after`` seconds if given.
    Returns its exit status, or None if it was killed."""
    process = multiprocessing.get_context("fork").Process(target=_child, args=(argv,))
    process.start()
    process.join(kill_after)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        return None
    return process.exitcode


def assert_complete(folder):
    """Every file the run writes is complete (temporary files are hidden and partial by name)."""
    from grafx.fit.checkpoint import load_checkpoint
    from grafx.io import load

    for path in folder.rglob("*"):
        if path.is_dir() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            if path.name in ("graph.json", "pruned.json"):
                load(path)
            else:
                json.loads(path.read_text())
        elif path.suffix == ".wav":
            data, _ = sf.read(path)
            assert np.isfinite(data).all() and len(data) > 0
        elif path.suffix == ".safetensors":
            load_checkpoint(path.with_suffix(""))
        elif path.suffix == ".png":
            assert path.read_bytes()[-8:] == b"IEND\xaeB`\x82", path
        elif path.suffix in (".csv", ".txt", ".log"):
            path.read_text()


def parameters_of(path):
    from grafx.fit.checkpoint import flatten
    from grafx.io import load

    return flatten(load(path).parameters)


def kill_and_finish(argv, out, seconds, seed, check):
    """SIGKILL runs of ``argv`` at seeded random moments until :data:`KILLS` were killed; a run
    that ends first is checked with ``check(out)`` and its folder removed, so that the kills
    land all over a run (reading, fitting, checkpointing, writing). Ends with a run to the
    end. Returns the number of runs that finished before their kill."""
    rng = random.Random(seed)
    killed = finished = 0
    while killed < KILLS:
        status = run_child(argv, rng.uniform(0.0, seconds))
        assert_complete(out)
        if status is None:
            killed += 1
            continue
        assert status == 0
        check(out)
        finished += 1
        shutil.rmtree(out)
    assert run_child(argv) == 0
    assert_complete(out)
    check(out)
    return finished


def fit_argv(audio, out):
    argv = ["fit", "--stems", audio / "a.wav", audio / "b.wav", "--target", audio / "mix.wav"]
    argv += ["--steps", "6", "--checkpoint-every", "1", "--crop", "0.3", "--warmup", "0.05"]
    return [str(a) for a in [*argv, "--quiet", "--out", out]]


@pytest.fixture(scope="module")
def reference(audio):
    """An uninterrupted fit and the seconds it took."""
    torch.set_num_threads(1)
    began = time.perf_counter()
    assert run_child(fit_argv(audio, audio / "reference")) == 0
    return audio / "reference", time.perf_counter() - began


def test_killed_fits_restart_to_the_uninterrupted_result(audio, reference, tmp_path):
    folder, seconds = reference
    expected = parameters_of(folder / "graph.json")

    def check(out):
        got = parameters_of(out / "graph.json")
        assert sorted(expected) == sorted(got)
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)
        assert json.loads((out / "metrics.json").read_text())["steps"] == 6
        assert not list(out.glob(".*.tmp"))

    out = tmp_path / "killed"
    kill_and_finish(fit_argv(audio, out), out, seconds, seed=27, check=check)


def test_killed_prunes_restart_to_the_uninterrupted_result(reference, tmp_path):
    folder, _ = reference
    options = ["--rounds", "2", "--finetune-steps", "2", "--quiet"]
    expected_out = tmp_path / "reference"
    argv = ["prune", str(folder), *options, "--out"]
    began = time.perf_counter()
    assert run_child([*argv, str(expected_out)]) == 0
    seconds = time.perf_counter() - began
    expected = json.loads((expected_out / "metrics.json").read_text())
    want = parameters_of(expected_out / "pruned.json")

    def check(out):
        got = json.loads((out / "metrics.json").read_text())
        for key in ("removed", "loss_before", "loss_after", "processors_after"):
            assert got[key] == expected[key], key
        for mine, theirs in zip(got["rounds"], expected["rounds"], strict=True):
            assert {**mine, "seconds": 0} == {**theirs, "seconds": 0}
        have = parameters_of(out / "pruned.json")
        assert sorted(want) == sorted(have)
        for name in want:
            torch.testing.assert_close(have[name], want[name], rtol=0, atol=0)

    out = tmp_path / "killed"
    kill_and_finish([*argv, str(out)], out, seconds, seed=72, check=check)
