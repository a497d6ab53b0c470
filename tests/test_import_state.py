"""Importing the library leaves the process as it was: no environment variable, no exit hook."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, os
import numpy, scipy.signal, torch  # their own hooks are not ours

environment, hooks = dict(os.environ), atexit._ncallbacks()
import grafx, grafx.automation, grafx.draw, grafx.io, grafx.losses, grafx.nn, grafx.processors
import grafx.processors.core.ballistics, grafx.processors.core.blackbox_pool
changed = sorted(k for k in set(environment) | set(os.environ) if environment.get(k) != os.environ.get(k))
print(changed, atexit._ncallbacks() - hooks)
"""


def test_importing_grafx_sets_no_environment_variable_and_no_exit_hook():
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[] 0"
