"""Worker processes for the benchmarks: one library per process, JSON lines over stdin/stdout.

Each benchmark script starts itself (or ``render_worker.py``) as a worker under grafx's
``.venv`` or under the original library's ``.venv-original`` and sends it timing requests, so the
two libraries never share a process and can be run alternately.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS = ROOT / ".venv" / "bin" / "python"
THEIRS = ROOT / ".venv-original" / "bin" / "python"


class Worker:
    """``python script *args`` with the benchmarks and one library importable.

    Args:
        python: the interpreter (``OURS`` or ``THEIRS``).
        original: put the original library's torchaudio stand-in on the path instead of
            grafx's ``src``.
        script: the worker script.
        args: its arguments.
        threads: torch/OpenMP threads of the worker.
    """

    def __init__(
        self, python: Path, original: bool, script: Path, args: Sequence[str] = (), threads: int = 2
    ):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        library = HERE / "original_standin" if original else ROOT / "src"
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(library)])
        self.process = subprocess.Popen(
            [str(python), str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(HERE),
        )

    def request(self, **request) -> dict:
        """Send one request and return the worker's reply (it has ``"error"`` on failure)."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def serve(handle: Callable[[dict], dict], threads: int | None = None) -> None:
    """Worker side: answer each JSON request line on stdin with ``handle``'s JSON reply.

    A request that raises is answered with ``{"error": ...}`` and the worker keeps serving.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as error:  # report, keep serving
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


def tensor_leaves(tree: dict) -> list:
    """The tensors of a (nested) parameter dict."""
    leaves = []
    for value in tree.values():
        leaves.extend(tensor_leaves(value) if isinstance(value, dict) else [value])
    return leaves


def time_call(processor, inputs: list, params: dict, backward: bool) -> float:
    """Seconds for one processor call, on the worker side.

    Forward runs under ``no_grad``. With ``backward``, the mean square of the outputs (the signal
    of a ``(signal, extras)`` pair, every outlet of a list) is back-propagated to whatever requires
    grad; callers mark the parameters and inputs beforehand.
    """
    import torch

    start = time.perf_counter()
    if not backward:
        with torch.no_grad():
            processor(*inputs, **params)
        return time.perf_counter() - start
    out = processor(*inputs, **params)
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out = out[0]
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    sum(o.square().mean() for o in outs).backward()
    return time.perf_counter() - start
