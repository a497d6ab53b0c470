"""Scheduling and plan-building times: grafx against the original library (0.6.0).

Usage::

    bash benchmarks/setup_original.sh       # once: the original in .venv-original
    .venv/bin/python benchmarks/compare_scheduling.py [--repeats 7] [--json PATH]

Each library runs in its own worker process (its own environment, 2 threads); requests
alternate A B A B after a warm-up and the tables show medians and the ours/theirs ratio.

* ``beam`` scheduling (``compute_render_order`` with each library's default width: 32 here,
  64 in the original) on every benchmark graph, with the schedule lengths;
* plan building (``prepare_render`` on a reordered tensor graph) for consoles and random DAGs
  of about 300 and 3,000 nodes, and the growth ratio of each library.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

from workers import OURS, THEIRS
from workers import Worker as BaseWorker

PLAN_GRAPHS = {
    "console ~300": ("console", 36, 4),
    "console ~3000": ("console", 370, 8),
    "random 300": ("random", 300, 10),
    "random 3000": ("random", 3000, 60),
}


def _build(name: str):
    import graphs

    if name in graphs.GRAPHS:
        return graphs.GRAPHS[name]()
    kind, a, b = PLAN_GRAPHS[name]
    return graphs.console(a, b) if kind == "console" else graphs.random_dag(a, num_inputs=b)


def _serve() -> None:
    """Worker: answer ``{"kind": "schedule"|"plan", "graph": name}`` with median seconds."""
    import torch

    from grafx.data import convert_to_tensor
    from grafx.render import compute_render_order, prepare_render, reorder_for_fast_render

    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    cache: dict = {}
    for line in sys.stdin:
        try:
            reply = _answer(
                json.loads(line),
                cache,
                convert_to_tensor,
                compute_render_order,
                prepare_render,
                reorder_for_fast_render,
            )
        except Exception as error:  # report, keep serving
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


def _answer(request, cache, convert_to_tensor, compute_render_order, prepare_render, reorder):
    key = (request["kind"], request["graph"])
    if key not in cache:
        G_t = convert_to_tensor(_build(request["graph"]))
        if request["kind"] == "schedule":
            cache[key] = (lambda g=G_t: compute_render_order(g, method="beam"), G_t)
        else:
            try:
                G_r = reorder(G_t, method="greedy")
            except AssertionError:  # the original's greedy (beam of width 1) can fail
                G_r = reorder(convert_to_tensor(_build(request["graph"])), method="beam")
            cache[key] = (lambda g=G_r: prepare_render(g), G_r)
    fn, G_t = cache[key]
    times = []
    for _ in range(request["repeats"]):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    reply = {"seconds": statistics.median(times), "nodes": int(G_t.num_nodes)}
    if request["kind"] == "schedule":
        reply["length"] = len(result[0])
    return reply


class Worker(BaseWorker):
    def __init__(self, python: Path, original: bool):
        super().__init__(python, original, Path(__file__).resolve(), ["--worker"])

    def ask(self, **request) -> dict:
        return self.request(**request)


def _compare(ours: Worker, theirs: Worker, rounds: int, **request) -> tuple[dict, dict]:
    replies = [ours.ask(repeats=1, **request), theirs.ask(repeats=1, **request)]  # warm-up
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for side, worker in enumerate((ours, theirs)):
            if "error" not in replies[side]:
                replies[side] = worker.ask(repeats=1, **request)
                times[side].append(replies[side].get("seconds", float("nan")))
    for side in (0, 1):
        if "error" in replies[side]:
            replies[side] = {
                "seconds": float("nan"),
                "nodes": 0,
                "length": "err",
                "error": replies[side]["error"],
            }
        else:
            replies[side]["seconds"] = statistics.median(times[side])
    return replies[0], replies[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _serve()
        return
    if not THEIRS.exists():
        sys.exit("run `bash benchmarks/setup_original.sh` first")
    ours, theirs = Worker(OURS, False), Worker(THEIRS, True)
    rows = []
    print("## beam scheduling (each library's default width), ms\n")
    print("| graph | nodes | ours length | theirs length | ours ms | theirs ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ["doc3", "console8", "console32", "chain50", "random300"]:
        a, b = _compare(ours, theirs, args.repeats, kind="schedule", graph=name)
        rows.append({"kind": "schedule", "graph": name, "ours": a, "theirs": b})
        print(
            f"| {name} | {a['nodes']} | {a['length']} | {b['length']} | {1e3 * a['seconds']:.2f} | "
            f"{1e3 * b['seconds']:.2f} | {a['seconds'] / b['seconds']:.2f} |",
            flush=True,
        )
    print("\n## plan building (prepare_render), ms\n")
    print("| graph | nodes | ours ms | theirs ms | ratio |")
    print("| --- | --- | --- | --- | --- |")
    plan = {}
    for name in PLAN_GRAPHS:
        a, b = _compare(ours, theirs, args.repeats, kind="plan", graph=name)
        plan[name] = (a["seconds"], b["seconds"])
        rows.append({"kind": "plan", "graph": name, "ours": a, "theirs": b})
        print(
            f"| {name} | {a['nodes']} | {1e3 * a['seconds']:.2f} | {1e3 * b['seconds']:.2f} | "
            f"{a['seconds'] / b['seconds']:.2f} |",
            flush=True,
        )
    for family in ("console", "random"):
        small, large = (
            plan[f"{family} ~300" if family == "console" else "random 300"],
            plan[f"{family} ~3000" if family == "console" else "random 3000"],
        )
        print(
            f"\n{family}: plan growth 300 -> 3000 nodes: ours {large[0] / small[0]:.1f}x, "
            f"theirs {large[1] / small[1]:.1f}x"
        )
    ours.close(), theirs.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
