"""The CLI's allocator settings: applied by the executable only, never on import."""

import os
import platform
import subprocess
import sys

import pytest

import grafx.cli

CODE = (
    "import sys; import grafx, grafx.cli; from grafx.cli.allocator import tune_allocator; "
    "print(tune_allocator())"
)


def run(env_extra):
    env = {k: v for k, v in os.environ.items() if k != "GRAFX_MALLOC"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_allocator_in_a_child_process_and_opt_out():
    assert run({}) == str(platform.libc_ver()[0] == "glibc")  # musl has no mallopt
    assert run({"GRAFX_MALLOC": "default"}) == "False"


def test_console_main_tunes_then_runs_main(monkeypatch):
    calls = []
    monkeypatch.setattr("grafx.cli.allocator.tune_allocator", lambda: calls.append("tune"))
    monkeypatch.setattr(grafx.cli, "main", lambda: calls.append("main") or 0)
    assert grafx.cli.console_main() == 0
    assert calls == ["tune", "main"]
