"""Cold start: a fresh process imports grafx and renders ``console8`` forward once.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/cold_start.py [--length 131072] [--repeats 5] \
        [--compare-src /path/to/other/src] [--original-python /path/to/venv-original/bin/python]

Each repeat starts a new interpreter (``python -c``) that imports grafx, builds ``console8``
with the processors of ``render_worker.py``, renders it forward once under ``torch.no_grad``
and reports the wall time of the whole process, the time of import + render inside it, and
whether ``sympy``, ``torch.fx`` or ``numba`` were imported. Median over the repeats.
Variants, alternated process by process: this checkout as installed (numba used on CPU if
importable, compiled afresh: its disk cache is opt-in), the same with ``GRAFX_NUMBA=0`` (what
an install without the ``numba`` extra runs), with ``GRAFX_NUMBA_CACHE=1`` (after one run has
filled the cache), ``--compare-src`` (another checkout's ``src``, e.g. main before), and
``--original-python`` (an interpreter with the original library, GRAFX 0.6.0, installed, e.g.
the one ``setup_original.sh`` makes; it runs with the ``original_standin`` folder on its path).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(2)
sys.path.insert(0, {here!r})
from graphs import GRAPHS
from render_worker import make_processors
from grafx.data import convert_to_tensor
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render
from grafx.utils import create_empty_parameters
t_import = time.perf_counter() - t0
G = GRAPHS["console8"]()
G_t = reorder_for_fast_render(convert_to_tensor(G), method="beam")
plan = prepare_render(G_t)
procs = {{k: v for k, v in make_processors().items() if k in set(G_t.type_sequence)}}
params = create_empty_parameters(procs, G)
source = torch.randn(8, 2, {length})
with torch.no_grad():
    render_grafx(procs, source, params, plan)
print(json.dumps({{"import": t_import, "total": time.perf_counter() - t0,
    "sympy": "sympy" in sys.modules, "torch.fx": "torch.fx" in sys.modules,
    "numba": "numba" in sys.modules}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2**17)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compare-src", type=Path, default=None)
    parser.add_argument("--original-python", type=Path, default=None)
    args = parser.parse_args()
    code = CHILD.format(here=str(HERE), length=args.length)
    src = str(HERE.parent / "src")
    python: dict[str, str] = {}
    variants = {
        "ours": {"PYTHONPATH": src},
        "ours, GRAFX_NUMBA=0": {"PYTHONPATH": src, "GRAFX_NUMBA": "0"},
        "ours, GRAFX_NUMBA_CACHE=1": {"PYTHONPATH": src, "GRAFX_NUMBA_CACHE": "1"},
    }
    if args.compare_src is not None:
        variants["other"] = {"PYTHONPATH": str(args.compare_src.resolve())}
    if args.original_python is not None:
        variants["original"] = {"PYTHONPATH": str(HERE / "original_standin")}
        python["original"] = str(args.original_python)
    rows: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, extra in variants.items():
            env = {k: v for k, v in os.environ.items() if not k.startswith("GRAFX_NUMBA")}
            start = time.perf_counter()
            out = subprocess.run(
                [python.get(name, sys.executable), "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env={**env, **extra},
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row["process"] = time.perf_counter() - start
            rows[name].append(row)
    print(f"console8 forward, {args.length} samples, median of {args.repeats} fresh processes\n")
    print("| variant | process s | import s | import + render s | sympy | numba |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("import", "total", "process")}
        print(
            f"| {name} | {med['process']:.2f} | {med['import']:.2f} | {med['total']:.2f} | "
            f"{runs[-1]['sympy']} | {runs[-1]['numba']} |"
        )
    if "original" in rows:
        theirs = statistics.median(r["process"] for r in rows["original"])
        for name in rows:
            ours = statistics.median(r["process"] for r in rows[name])
            print(f"{name}: whole process {ours / theirs:.2f}x the original's")


if __name__ == "__main__":
    main()
