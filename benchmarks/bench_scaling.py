"""Scaling of the strip console: time, CPU (user and kernel) and peak memory by tracks and length.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scaling.py \\
        [--tracks 4 8 16 32 64] [--lengths 131072] [--modes forward backward] [--repeats 3] \\
        [--compare-src /path/to/other/src] [--heap]

The strip console is ``graphs.console(tracks, 0)``: every track runs the 7-processor strip
(EQ, compressor, noise gate, imager, gain/pan, delay, reverb) into ``out``, with the
processors of ``render_worker.py``; stereo float32 noise, ``torch.set_num_threads(2)``.
``forward`` renders under ``torch.no_grad``; ``backward`` renders and back-propagates a
mean-square loss. Every measurement runs in a fresh child process (peak memory is a
process's high-water mark): a warm-up render, then ``--repeats`` timed ones; reported are
the median wall time, the user and kernel (system) CPU seconds per render, and the peak
resident set of the child in MiB.

Variants, alternated child by child in one run (so machine load hits both alike):

* ``--compare-src DIR``: the same measurement with ``DIR`` (another checkout's ``src``) first
  on the path, e.g. the main branch before a change;
* ``--heap``: the same (for both sources, with ``--compare-src``) with glibc's allocator told (``mallopt`` through ctypes, in the child
  before rendering) never to map blocks with ``mmap`` (``M_MMAP_MAX = 0``) and to keep up to
  1 GiB of freed heap (``M_TRIM_THRESHOLD``), so large blocks are reused instead of being
  mapped, faulted in and unmapped per allocation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

CHILD = r"""
import ctypes, json, resource, statistics, sys, time
args = json.loads(sys.argv[1])
if args["heap"]:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-4, 0)  # M_MMAP_MAX
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
import torch
torch.set_num_threads(args["threads"])
if args["chunk_bytes"] is not None:
    import grafx.render.graph
    grafx.render.graph.STEP_CHUNK_BYTES = args["chunk_bytes"]
sys.path.insert(0, args["here"])
from graphs import console
from render_worker import make_processors
from grafx.data import convert_to_tensor
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render
from grafx.utils import create_empty_parameters
G = console(args["tracks"], 0)
G_t = reorder_for_fast_render(convert_to_tensor(G), method="beam")
plan = prepare_render(G_t)
procs = {k: v for k, v in make_processors().items() if k in set(G_t.type_sequence)}
params = create_empty_parameters(procs, G)
source = torch.randn(args["tracks"], 2, args["length"], generator=torch.Generator().manual_seed(0))
if args["mode"] == "backward":
    for tree in params.values():
        for v in tree.values():
            v.requires_grad_(True)
def once():
    if args["mode"] == "forward":
        with torch.no_grad():
            render_grafx(procs, source, params, plan)
    else:
        out = render_grafx(procs, source, params, plan)[0]
        out.square().mean().backward()
once()
walls, users, systems = [], [], []
for _ in range(args["repeats"]):
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    once()
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    walls.append(t1 - t0); users.append(r1.ru_utime - r0.ru_utime); systems.append(r1.ru_stime - r0.ru_stime)
print(json.dumps({"wall": statistics.median(walls), "user": statistics.median(users),
    "sys": statistics.median(systems),
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(
    src: Path,
    tracks: int,
    length: int,
    mode: str,
    repeats: int,
    heap: bool,
    threads: int = 2,
    chunk_bytes: int | None = None,
) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    request = {
        "here": str(HERE),
        "tracks": tracks,
        "length": length,
        "mode": mode,
        "repeats": repeats,
        "heap": heap,
        "threads": threads,
        "chunk_bytes": chunk_bytes,
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(request)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        # a child killed by a signal (the kernel's OOM killer: SIGKILL) leaves no traceback
        how = (
            f"killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exit status {done.returncode}"
        )
        last = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"{how}: {last}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2**17])
    parser.add_argument("--modes", nargs="+", default=["forward", "backward"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-src", type=Path, default=None)
    parser.add_argument("--heap", action="store_true", help="also run with mmap disabled")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per child")
    parser.add_argument(
        "--chunk-bytes",
        type=int,
        default=None,
        help="set grafx.render.graph.STEP_CHUNK_BYTES in the children (ours only)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    variants = [("ours", SRC, False)]
    if args.compare_src is not None:
        variants.append(("other", args.compare_src.resolve(), False))
    if args.heap:
        variants.append(("ours+heap", SRC, True))
        if args.compare_src is not None:
            variants.append(("other+heap", args.compare_src.resolve(), True))
    load = os.getloadavg()[0]
    print(f"1-min load at start: {load:.1f}; variants: {[v[0] for v in variants]}\n")
    print(
        "| mode | tracks | length | variant | wall s | s/track | user s | sys s | sys share | peak MiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for mode in args.modes:
        for length in args.lengths:
            for tracks in args.tracks:
                for name, src, heap in variants:  # alternated, child by child
                    r = measure(
                        src,
                        tracks,
                        length,
                        mode,
                        args.repeats,
                        heap,
                        args.threads,
                        args.chunk_bytes if src == SRC else None,
                    )
                    if "error" in r:
                        print(f"| {mode} | {tracks} | {length} | {name} | failed: {r['error']} |")
                        rows.append(
                            {"mode": mode, "tracks": tracks, "length": length, "variant": name, **r}
                        )
                        continue
                    cpu = r["user"] + r["sys"]
                    print(
                        f"| {mode} | {tracks} | {length} | {name} | {r['wall']:.3f} | "
                        f"{r['wall'] / tracks:.4f} | {r['user']:.2f} | {r['sys']:.2f} | "
                        f"{r['sys'] / cpu if cpu else 0:.0%} | {r['peak_mib']:.0f} |",
                        flush=True,
                    )
                    rows.append(
                        {"mode": mode, "tracks": tracks, "length": length, "variant": name, **r}
                    )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    failed = sum("error" in row for row in rows)
    print(
        f"\n{len(rows) - failed} measurement(s), {failed} failed; 1-min load at end: "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
