"""Cold start: a fresh process imports grafx and renders ``console8`` forward once.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/cold_start.py [--length 131072] [--repeats 5]

Each repeat starts a new interpreter (``python -c``) that imports grafx, builds ``console8``
with the processors of ``render_worker.py``, renders it forward once under ``torch.no_grad``
and reports the wall time of the whole process, the time of import + render inside it, and
whether ``sympy``, ``torch.fx`` or ``numba`` were imported. Median over the repeats.
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args()
    code = CHILD.format(here=str(HERE), length=args.length)
    rows = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        row["process"] = time.perf_counter() - start
        rows.append(row)
    med = {k: statistics.median(r[k] for r in rows) for k in ("import", "total", "process")}
    flags = {k: rows[-1][k] for k in ("sympy", "torch.fx", "numba")}
    print(
        f"console8 forward, {args.length} samples, median of {args.repeats} fresh processes: "
        f"process {med['process']:.2f} s, import {med['import']:.2f} s, import + render "
        f"{med['total']:.2f} s; imported: {flags}"
    )


if __name__ == "__main__":
    main()
