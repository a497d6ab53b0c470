"""grafx against the original library (0.6.0), same graphs, same processor types and sizes.

Usage::

    bash benchmarks/setup_original.sh            # once: the original in .venv-original
    .venv/bin/python benchmarks/compare_original.py [--repeats 5] [--json results.json]

Each library runs in its own worker process (its own environment) with 2 threads. Requests
alternate A B A B after a warm-up; the table shows medians and the ours/theirs ratio. The
original's ``one-by-one`` drops fan-in inputs, so its best batched method (``beam``) is used.
Peak memory is measured once per library in a fresh worker (growth of the resident set during
one forward+backward render).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from workers import HERE, OURS, THEIRS
from workers import Worker as BaseWorker


class Worker(BaseWorker):
    def __init__(self, python: Path, original: bool, threads: int):
        super().__init__(python, original, HERE / "render_worker.py", [str(threads)], threads)

    def ask(self, **request) -> dict:
        reply = self.request(**request)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graphs", nargs="+", default=["doc3", "console8", "console32"])
    parser.add_argument("--modes", nargs="+", default=["forward", "backward"])
    parser.add_argument("--length", type=int, default=2**17)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not THEIRS.exists():
        sys.exit("run `bash benchmarks/setup_original.sh` first")

    ours, theirs = Worker(OURS, False, args.threads), Worker(THEIRS, True, args.threads)
    rows = []
    for graph in args.graphs:
        for mode in args.modes:
            request = {"graph": graph, "mode": mode, "length": args.length, "method": "beam"}
            ours.ask(**request), theirs.ask(**request)  # warm-up (and set-up) for both
            a, b = [], []
            for _ in range(args.repeats):
                a.append(ours.ask(**request)["seconds"])
                b.append(theirs.ask(**request)["seconds"])
            row = {
                "graph": graph,
                "mode": mode,
                "ours_s": statistics.median(a),
                "theirs_s": statistics.median(b),
            }
            row["ratio"] = row["ours_s"] / row["theirs_s"]
            rows.append(row)
            print(
                f"{graph:>10} {mode:>9}  ours {row['ours_s']:8.3f} s  theirs {row['theirs_s']:8.3f} s"
                f"  ratio {row['ratio']:.2f}",
                flush=True,
            )
    ours.close(), theirs.close()

    if not args.no_memory:
        for graph in [g for g in args.graphs if g.startswith("console")][-1:]:
            peaks = {}
            for name, python, original in (("ours", OURS, False), ("theirs", THEIRS, True)):
                worker = Worker(python, original, args.threads)
                peaks[name] = worker.ask(graph=graph, mode="memory", length=args.length)["peak_mib"]
                worker.close()
            row = {
                "graph": graph,
                "mode": "peak_memory_mib",
                "ours_s": peaks["ours"],
                "theirs_s": peaks["theirs"],
                "ratio": peaks["ours"] / peaks["theirs"],
            }
            rows.append(row)
            print(
                f"{graph:>10} peak MiB  ours {peaks['ours']:8.0f}    theirs {peaks['theirs']:8.0f}"
                f"    ratio {row['ratio']:.2f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
