"""Render engine benchmark: schedule lengths and times, plan growth, render overhead.

Run from the repository root::

    .venv/bin/python benchmarks/bench_render_engine.py [--quick]

Tables:

1. Scheduling: type-sequence length and time of ``greedy``, ``beam`` (width 32) and ``optimal``
   on the benchmark graphs, with whether ``optimal`` proved its length, and the time of
   ``one-by-one`` (the 2,000-node chain is the long-chain case the unit tests check for
   correctness only).
2. Plan building (``prepare_render``) time from 300 to 3,000 nodes, and the growth ratio.
3. Render overhead: time outside processor calls as a fraction of the render, with cheap
   processors (a gain) and with one-parameter FFT filters, against a plain one-node-at-a-time
   loop from the same run (ratio = ours / plain loop).

Times are medians of repeats after a warm-up, with 2 threads, float32, CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graphs import GRAPHS, chain, console, random_dag  # noqa: E402

from grafx.data import convert_to_tensor  # noqa: E402
from grafx.render import (  # noqa: E402
    compute_render_order,
    prepare_render,
    render_grafx,
    reorder_for_fast_render,
)
from grafx.render.order import GraphStructure, optimal_schedule  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def schedule_table(repeats: int) -> None:
    graphs = {**GRAPHS, "chain2000": lambda: chain(2000)}
    print("## Scheduling (length = type-sequence length incl. in/out; time in ms)")
    print(
        "| graph | nodes | greedy | beam | optimal (proven) | greedy ms | beam ms | optimal ms "
        "| one-by-one ms |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, build in graphs.items():
        G_t = convert_to_tensor(build())
        S = GraphStructure(G_t)
        lengths, times = {}, {}
        for method in ("greedy", "beam", "one-by-one"):
            lengths[method] = len(compute_render_order(G_t, method=method)[0])
            times[method] = median_time(
                lambda m=method, g=G_t: compute_render_order(g, method=m), repeats
            )
        result = optimal_schedule(S)
        times["optimal"] = median_time(lambda s=S: optimal_schedule(s), max(1, repeats // 2))
        print(
            f"| {name} | {G_t.num_nodes} | {lengths['greedy']} | {lengths['beam']} | "
            f"{len(result.type_sequence)} ({'yes' if result.proven else 'no'}, bound "
            f"{result.lower_bound}) | {1e3 * times['greedy']:.1f} | {1e3 * times['beam']:.1f} | "
            f"{1e3 * times['optimal']:.1f} | {1e3 * times['one-by-one']:.1f} |"
        )


def plan_table(repeats: int) -> None:
    print("\n## Plan building (prepare_render on a reordered graph; ms)")
    print("| graph family | ~300 nodes | ~3000 nodes | nodes | growth (x10 nodes) |")
    print("| --- | --- | --- | --- | --- |")
    families = {
        "console (7-stage strips)": (lambda: console(36, 4), lambda: console(370, 8)),
        "random DAG": (lambda: random_dag(300), lambda: random_dag(3000, num_inputs=60)),
        "serial chain": (lambda: chain(300), lambda: chain(3000)),
    }
    for name, (small, large) in families.items():
        sizes, times = [], []
        for build in (small, large):
            G_t = reorder_for_fast_render(convert_to_tensor(build()), method="greedy")
            sizes.append(G_t.num_nodes)
            times.append(median_time(lambda g=G_t: prepare_render(g), repeats))
        print(
            f"| {name} | {1e3 * times[0]:.1f} | {1e3 * times[1]:.1f} | {sizes[0]} -> {sizes[1]} | "
            f"{times[1] / times[0]:.1f}x |"
        )


class TimedGain(nn.Module):
    """``y = g x`` (``fft=False``) or a one-parameter FFT filter ``y = F^{-1}[(1 + g) F x]``,
    adding its own wall time to a shared counter."""

    def __init__(self, clock: list[float], fft: bool = False):
        super().__init__()
        self.clock = clock
        self.fft = fft

    def forward(self, x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        started = time.perf_counter()
        if self.fft:
            spectrum = torch.fft.rfft(x) * (1 + gain.unsqueeze(-1))
            y = torch.fft.irfft(spectrum, n=x.shape[-1])
        else:
            y = x * gain.unsqueeze(-1)
        self.clock[0] += time.perf_counter() - started
        return y


def naive_render(G_t, source, processors, parameters) -> torch.Tensor:
    """Plain loop: one node at a time, in a topological order (the baseline)."""
    S = GraphStructure(G_t)
    names = S.config.node_types
    rank, counts = [0] * S.num_nodes, {}
    for v in range(S.num_nodes):
        t = names[S.types[v]]
        rank[v] = counts.get(t, 0)
        counts[t] = rank[v] + 1
    incoming = [[] for _ in range(S.num_nodes)]
    for s, d in zip(S.src.tolist(), S.dst.tolist(), strict=True):
        incoming[d].append(s)
    signal, outs = {}, []
    for v in S.topo.tolist():
        t = names[S.types[v]]
        if t == "in":
            signal[v] = source[rank[v] : rank[v] + 1]
            continue
        x = signal[incoming[v][0]]
        for s in incoming[v][1:]:
            x = x + signal[s]
        if t in processors:
            x = processors[t](x, **{k: p[rank[v] : rank[v] + 1] for k, p in parameters[t].items()})
        signal[v] = x
        if t == "out":
            outs.append(x)
    return torch.cat(outs)


def overhead_table(repeats: int, length: int, fft: bool) -> None:
    kind = "one-parameter FFT filters" if fft else "cheap processors (gain)"
    print(f"\n## Render overhead with {kind}, stereo, {length} samples, forward")
    print("| graph | steps | render ms | in processors ms | overhead | plain loop ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in ("doc3", "console8", "console32", "random300", "chain50"):
        G_t = reorder_for_fast_render(convert_to_tensor(GRAPHS[name]()), method="beam")
        plan = prepare_render(G_t)
        clock = [0.0]
        names = G_t.config.node_types
        types = [t for t in names if t not in ("in", "out", "mix")]
        processors = {t: TimedGain(clock, fft) for t in types}
        counts = torch.bincount(G_t.node_types, minlength=len(names))
        parameters = {t: {"gain": torch.rand(int(counts[names.index(t)]), 1)} for t in types}
        source = torch.randn(plan.num_sources, 2, length)

        def ours(plan=plan, processors=processors, parameters=parameters, source=source):
            return render_grafx(source, processors, parameters, plan)

        def plain(G_t=G_t, processors=processors, parameters=parameters, source=source):
            return naive_render(G_t, source, processors, parameters)

        torch.testing.assert_close(ours()[0], plain(), rtol=1e-4, atol=1e-4)
        ours_t, plain_t, inside = [], [], []
        for _ in range(repeats):  # alternate A B A B
            clock[0] = 0.0
            started = time.perf_counter()
            ours()
            ours_t.append(time.perf_counter() - started)
            inside.append(clock[0])
            started = time.perf_counter()
            plain()
            plain_t.append(time.perf_counter() - started)
        total, proc = statistics.median(ours_t), statistics.median(inside)
        plain_m = statistics.median(plain_t)
        print(
            f"| {name} | {len(plan.steps)} | {1e3 * total:.2f} | {1e3 * proc:.2f} | "
            f"{100 * (total - proc) / total:.0f}% | {1e3 * plain_m:.2f} | "
            f"{total / plain_m:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--length", type=int, default=2**17, help="samples per signal")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--only", choices=["schedule", "plan", "overhead"], default=None, help="one table only"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 7
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    if args.only in (None, "schedule"):
        schedule_table(repeats)
    if args.only in (None, "plan"):
        plan_table(repeats)
    if args.only in (None, "overhead"):
        overhead_table(repeats, args.length, fft=False)
        overhead_table(repeats, args.length, fft=True)


if __name__ == "__main__":
    main()
