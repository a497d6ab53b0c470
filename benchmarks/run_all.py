"""The whole benchmark suite: graph renders per method, processors, and the original library.

Usage (from the repository root; ``benchmarks/run.sh`` sets the environments up first)::

    .venv/bin/python benchmarks/run_all.py [--quick] [--only graphs processors original]
                                            [--graphs doc3 console8 ...] [--repeats N]

Three parts, each printing Markdown tables and writing JSON under ``benchmarks/results/``:

``graphs``
    For each benchmark graph (``graphs.py``) and each render method (``one-by-one``,
    ``greedy``, ``beam``, ``optimal``, and ``fixed`` where a fixed type sequence is known):
    schedule length (steps, ``in`` and ``out`` included), scheduling time, plan time
    (``prepare_render``), forward time (no autograd), forward+backward time (backward of the
    mean square output), peak memory, and the engine overhead. Each graph runs in a fresh worker
    process; peak memory is the growth of the resident set (sampled every millisecond) during
    one forward+backward render of each method, after a warm-up render and a heap trim. Engine overhead = render time minus the time spent inside
    processor calls, both in process CPU time (robust to a busy machine): for the forward,
    each processor is wrapped in a module that clocks its calls; for forward+backward, every processor call of the render is recorded (inputs and
    parameters, detached) and replayed on its own, forward then backward of its output sum,
    and the replay's total is subtracted. Renders and replays alternate; medians of repeats.
``processors``
    The per-family scripts (``bench_filters.py``, ``bench_dynamics.py``,
    ``bench_reverb_delay.py``, ``bench_stereo_nonlinear.py``): batch 8, stereo, 2**17
    samples, forward and fwd+bwd, next to the original's same class, ``scipy.signal`` and the
    alternative backends. Their output is passed through; their JSON lands in results/.
``original``
    ``compare_original.py``: ours against the original 0.6.0 (its best batched method,
    ``beam``; its ``one-by-one`` drops fan-in), alternating runs, medians, 2 threads, plus the
    peak memory of one ``console32`` forward+backward render in each library; then
    ``compare_scheduling.py``: ``beam`` scheduling and ``prepare_render`` times in both
    libraries, and the plan-time growth from 300 to 3,000 nodes.

``--quick`` is a smoke run: 2**14 samples, one repeat, shorter ``optimal`` budget, family
scripts on a few classes. Its figures are not meant to be quoted.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
OURS = ROOT / ".venv" / "bin" / "python"
METHODS = ["one-by-one", "greedy", "beam", "optimal", "fixed"]
#: family -> (script, arguments of its --quick smoke run)
FAMILY_SCRIPTS = {
    "filters": ("bench_filters.py", ["--only", "PeakingFilter", "ZeroPhaseFIREqualizer"]),
    "dynamics": (
        "bench_dynamics.py",
        ["--specs", "Compressor(iir, -, quadratic)", "--length", "16384", "--no-backends"],
    ),
    "reverb_delay": ("bench_reverb_delay.py", ["--classes", "MultitapDelay", "--length", "16384"]),
    "stereo_nonlinear": (
        "bench_stereo_nonlinear.py",
        ["--specs", "StereoGain", "--length", "16384"],
    ),
}


def fixed_order(name: str) -> list[str] | None:
    """The type sequence that renders a benchmark graph in its shortest schedule, if known."""
    from graphs import CHAIN_TYPES, STRIP

    if name == "doc3":
        return ["eq", "compressor", "reverb"]
    if name.startswith("console"):
        return [*STRIP, "mix", *STRIP]
    if name.startswith("chain"):
        return [CHAIN_TYPES[i % len(CHAIN_TYPES)] for i in range(int(name[5:]))]
    return None


# ----------------------------------------------------------------------------------------------
# Worker side: one (graph, method) in a fresh process.


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _tensors(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []  # extras dicts are not part of the signal path


def _detach(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    return value


def _with_grad(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.clone().requires_grad_(value.is_floating_point())
    if isinstance(value, dict):
        return {k: _with_grad(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_with_grad(v) for v in value)
    return value


class PeakRSS:
    """Peak resident-set growth over a ``with`` block, sampled every millisecond or so."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _trim_heap() -> None:
    """Give freed heap pages back to the system (glibc), so that RSS growth measures a peak."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def graph_worker(name: str, method: str, length: int, repeats: int, optimal_limit: float) -> dict:
    """Measure one graph under one render method; returns a JSON-able row."""
    import torch
    from graphs import GRAPHS
    from render_worker import make_processors
    from torch import nn

    from grafx.data import convert_to_tensor
    from grafx.render import compute_render_order, prepare_render, render_grafx
    from grafx.render.reorder import permute_grafx_tensor, render_order_permutation
    from grafx.utils import create_empty_parameters

    kwargs = {}
    if method == "fixed":
        kwargs["fixed_order"] = fixed_order(name)
    elif method == "optimal":
        kwargs["time_limit"] = optimal_limit
    G = GRAPHS[name]()
    G_t = convert_to_tensor(G)
    row: dict = {"graph": name, "method": method, "nodes": int(G_t.num_nodes)}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        sequence, order = compute_render_order(G_t, method=method, **kwargs)
        first = time.perf_counter() - started
    row["proven"] = not any("prove" in str(w.message).lower() for w in caught)
    schedule_repeats = 1 if method == "optimal" else max(3, repeats)
    row["schedule_len"] = len(sequence)
    row["schedule_ms"] = 1e3 * (
        first
        if method == "optimal"
        else _median_time(
            lambda: compute_render_order(G_t, method=method, **kwargs), schedule_repeats
        )
    )
    G_r = permute_grafx_tensor(G_t, render_order_permutation(order), rendering_orders=order)
    G_r.type_sequence = list(sequence)
    G_r.rendering_order_method = method
    plan = prepare_render(G_r)
    row["plan_ms"] = 1e3 * _median_time(lambda: prepare_render(G_r), max(3, repeats))

    clock = [0.0]
    calls: list | None = None

    class Timed(nn.Module):
        """Clock (and optionally record) every call of one processor."""

        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kw):
            if calls is not None:
                calls.append((self.inner, _detach(args), _detach(kw)))
            started = time.process_time()
            result = self.inner(*args, **kw)
            clock[0] += time.process_time() - started
            return result

    inner = make_processors()
    used = {t for t in sequence if t not in ("in", "out", "mix")}
    inner = {k: v for k, v in inner.items() if k in used}
    parameters = create_empty_parameters(inner, G_r)
    processors = {k: Timed(v) for k, v in inner.items()}
    source = torch.randn(plan.num_sources, 2, length, generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            return render_grafx(source, processors, parameters, plan)[0]

    def forward_backward():
        output = render_grafx(source, processors, parameters, plan)[0]
        output.square().mean().backward()

    forward_backward()  # warm-up: caches, compiled kernels
    _trim_heap()
    calls = []
    with PeakRSS() as peak:
        forward_backward()  # also records the processor calls for the replay
    row["peak_mib"] = peak.mib
    recorded, calls = calls, None
    replays = [(proc, _with_grad(args), _with_grad(kw)) for proc, args, kw in recorded]
    del recorded

    def replay():
        for proc, args, kw in replays:
            out = proc(*args, **kw)
            sum(t.sum() for t in _tensors(out) if t.requires_grad).backward()

    # Wall times are reported; overheads come from process CPU time (both torch threads), which
    # a busy shared machine inflates far less than wall time.
    forward()
    walls, totals, inside = [], [], []
    for _ in range(repeats):
        clock[0] = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        forward()
        walls.append(time.perf_counter() - wall)
        totals.append(time.process_time() - cpu)
        inside.append(clock[0])
    row["forward_s"] = statistics.median(walls)
    row["forward_cpu_s"] = statistics.median(totals)
    row["forward_in_processors_cpu_s"] = statistics.median(inside)
    row["forward_overhead"] = statistics.median(
        [(t - i) / t for t, i in zip(totals, inside, strict=True)]
    )
    replay()
    walls, totals, inside = [], [], []
    for _ in range(repeats):  # render and replay alternate
        wall, cpu = time.perf_counter(), time.process_time()
        forward_backward()
        walls.append(time.perf_counter() - wall)
        totals.append(time.process_time() - cpu)
        cpu = time.process_time()
        replay()
        inside.append(time.process_time() - cpu)
    row["fwd_bwd_s"] = statistics.median(walls)
    row["fwd_bwd_cpu_s"] = statistics.median(totals)
    row["fwd_bwd_in_processors_cpu_s"] = statistics.median(inside)
    row["fwd_bwd_overhead"] = statistics.median(
        [(t - i) / t for t, i in zip(totals, inside, strict=True)]
    )
    row["steps"] = len(plan.steps)
    return row


# ----------------------------------------------------------------------------------------------
# Driver side.


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT / "src")])
    return env


def run_graphs(args) -> list[dict]:
    rows = []
    print(
        f"\n## Graph renders (stereo, {args.length} samples, float32, {args.threads} threads, "
        f"median of {args.repeats})\n"
    )
    header = (
        "| graph | method | steps | sched ms | plan ms | fwd s | fwd overhead | fwd+bwd s | "
        "fwd+bwd overhead | peak MiB |"
    )
    print(header)
    print("|" + " --- |" * 10)
    for name in args.graphs:
        methods = [m for m in args.methods if m != "fixed" or fixed_order(name) is not None]
        command = [
            str(OURS),
            __file__,
            "--graph-worker",
            name,
            ",".join(methods),
            str(args.length),
            str(args.repeats),
            str(args.optimal_limit),
            "--threads",
            str(args.threads),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
        for line in process.stdout:
            row = json.loads(line)
            rows.append(row)
            proven = "" if row["proven"] else " (not proven)"
            print(
                f"| {name} | {row['method']} | {row['schedule_len']}{proven} | {row['schedule_ms']:.1f} | "
                f"{row['plan_ms']:.1f} | {row['forward_s']:.3f} | {100 * row['forward_overhead']:.0f}% | "
                f"{row['fwd_bwd_s']:.3f} | {100 * row['fwd_bwd_overhead']:.0f}% | "
                f"{row['peak_mib']:.0f} |",
                flush=True,
            )
        if process.wait() != 0:
            print(f"| {name} | worker failed (exit {process.returncode}) |")
    return rows


def run_script(script: str, extra: list[str], json_path: Path) -> int:
    command = [str(OURS), str(HERE / script), *extra, "--json", str(json_path)]
    print(f"\n## {script}\n\n$ {' '.join(command[1:])}", flush=True)
    return subprocess.run(command, env=_env(), cwd=ROOT).returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: short audio, one repeat")
    parser.add_argument(
        "--only",
        nargs="+",
        default=["graphs", "processors", "original"],
        choices=["graphs", "processors", "original"],
    )
    parser.add_argument(
        "--graphs", nargs="+", default=["doc3", "console8", "console32", "chain50", "random300"]
    )
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument(
        "--length", type=int, default=None, help="samples (default 2**17; quick 2**14)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="default 5; quick 1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--optimal-limit", type=float, default=None, help="seconds (default 10; quick 2)"
    )
    parser.add_argument("--graph-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.graph_worker:
        import torch

        torch.set_num_threads(args.threads)
        name, methods, length, repeats, limit = args.graph_worker
        for method in methods.split(","):
            row = graph_worker(name, method, int(length), int(repeats), float(limit))
            print(json.dumps(row), flush=True)
        return

    args.length = args.length or (2**14 if args.quick else 2**17)
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.optimal_limit = args.optimal_limit or (2.0 if args.quick else 10.0)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tag = "quick" if args.quick else "full"
    print(
        f"grafx benchmark suite ({tag}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
    )
    failures = 0
    if "graphs" in args.only:
        rows = run_graphs(args)
        (RESULTS / f"graphs-{tag}-{stamp}.json").write_text(json.dumps(rows, indent=2))
    if "processors" in args.only:
        repeats = ["--repeats", str(args.repeats)]
        for family, (script, subset) in FAMILY_SCRIPTS.items():
            extra = repeats + (subset if args.quick else [])
            failures += run_script(script, extra, RESULTS / f"{family}-{tag}-{stamp}.json") != 0
    if "original" in args.only:
        extra = ["--repeats", str(args.repeats), "--length", str(args.length)]
        if args.quick:
            extra += ["--graphs", "doc3", "console8", "--no-memory"]
        failures += (
            run_script("compare_original.py", extra, RESULTS / f"original-{tag}-{stamp}.json") != 0
        )
        failures += (
            run_script(
                "compare_scheduling.py",
                ["--repeats", str(max(args.repeats, 3))],
                RESULTS / f"scheduling-{tag}-{stamp}.json",
            )
            != 0
        )
    print(f"\nJSON written under {RESULTS.relative_to(ROOT)}/ (suffix {tag}-{stamp})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
