"""Profile one graph render with ``torch.profiler``: processors against engine, and the top ops.

Usage::

    .venv/bin/python benchmarks/profile_render.py [--graph console32] [--length 131072]
                                                  [--backward] [--rows 25]
                                                  [--allocations FRACTION]

Each processor call runs inside a ``record_function`` labelled ``proc:<type>``, so the first
table splits the render's CPU time by processor type (and the rest: the engine); the second
lists the ops with the most self CPU time. One warm-up render, then one profiled render.

``--allocations F`` counts instead every new tensor of at least ``F`` times the graph's
signal size (sources' bytes) that one render makes: in the forward by the grafx source line
that made it, in the backward by the autograd node that ran, each with the op; then the
tensors autograd saved for the backward (each storage once, by the line that saved it).
Signal-sized temporaries are what a render's time per track grows with when glibc maps
each of them afresh (blocks over 32 MiB).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from graphs import GRAPHS  # noqa: E402
from render_worker import make_processors  # noqa: E402

from grafx.data import convert_to_tensor  # noqa: E402
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render  # noqa: E402
from grafx.utils import create_empty_parameters  # noqa: E402


class Labelled(nn.Module):
    """Run a processor inside a profiler range named after its type."""

    def __init__(self, name: str, inner: nn.Module):
        super().__init__()
        self.name, self.inner = name, inner

    def forward(self, *args, **kwargs):
        with torch.profiler.record_function(f"proc:{self.name}"):
            return self.inner(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="console32", choices=list(GRAPHS))
    parser.add_argument("--method", default="beam")
    parser.add_argument("--length", type=int, default=2**17)
    parser.add_argument("--backward", action="store_true", help="profile forward+backward")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument(
        "--allocations",
        type=float,
        default=None,
        metavar="F",
        help="count new tensors of at least F signal sizes instead of profiling time",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    G = GRAPHS[args.graph]()
    G_t = reorder_for_fast_render(convert_to_tensor(G), method=args.method)
    plan = prepare_render(G_t)
    inner = {k: v for k, v in make_processors().items() if k in set(G_t.type_sequence)}
    parameters = create_empty_parameters(inner, G_t)
    processors = {k: Labelled(k, v) for k, v in inner.items()}
    source = torch.randn(
        plan.num_sources, 2, args.length, generator=torch.Generator().manual_seed(0)
    )

    def render():
        if args.backward:
            render_grafx(source, processors, parameters, plan)[0].square().mean().backward()
        else:
            with torch.no_grad():
                render_grafx(source, processors, parameters, plan)

    render()
    if args.allocations is not None:
        count_allocations(
            render,
            int(args.allocations * source.numel() * source.element_size()),
            source.numel() * source.element_size(),
            args.rows,
        )
        return
    started = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        render()
    wall = time.perf_counter() - started
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    mode = "forward+backward" if args.backward else "forward"
    print(
        f"{args.graph} ({args.method}, {len(plan.steps)} steps), {mode}, {args.length} samples: "
        f"{wall:.2f} s wall under the profiler, {total / 1e6:.2f} s of op self CPU time"
    )
    print("\n| range | CPU s (forward ranges) | share |\n| --- | --- | --- |")
    inside = 0.0
    for e in sorted(events, key=lambda e: -e.cpu_time_total):
        if e.key.startswith("proc:"):
            inside += e.cpu_time_total
            print(
                f"| {e.key} | {e.cpu_time_total / 1e6:.3f} | {100 * e.cpu_time_total / total:.1f}% |"
            )
    print(
        f"| everything else (engine{' + all backward' if args.backward else ''}) | "
        f"{(total - inside) / 1e6:.3f} | {100 * (total - inside) / total:.1f}% |"
    )
    print()
    print(
        events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60)
    )


def _grafx_line() -> str:
    for frame in reversed(traceback.extract_stack()[:-3]):
        if "/grafx/" in frame.filename:
            return f"{frame.filename.split('/grafx/')[-1]}:{frame.lineno}"
    return "?"


def count_allocations(render, threshold: int, signal: int, rows: int) -> None:
    """Print the new tensors of at least ``threshold`` bytes one ``render()`` makes."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    made: dict = collections.defaultdict(lambda: [0, 0])
    saved: dict = collections.defaultdict(lambda: [0, 0])
    seen: set = set()

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            given = {
                t.untyped_storage().data_ptr()
                for t in tree_leaves((args, kwargs))
                if isinstance(t, torch.Tensor)
            }
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if not isinstance(t, torch.Tensor):
                    continue
                size = t.untyped_storage().nbytes()
                if size < threshold or t.untyped_storage().data_ptr() in given:
                    continue
                node = torch._C._current_autograd_node()
                where = ("backward", node.name()) if node else ("forward", _grafx_line())
                entry = made[(*where, str(func))]
                entry[0] += 1
                entry[1] += size
            return out

    def pack(t):
        pointer = t.untyped_storage().data_ptr()
        if t.untyped_storage().nbytes() >= threshold and pointer not in seen:
            seen.add(pointer)
            entry = saved[_grafx_line()]
            entry[0] += 1
            entry[1] += t.untyped_storage().nbytes()
        return t

    with Count(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        render()
    total = sum(b for _, b in made.values())
    print(
        f"new tensors of >= {threshold / 2**20:.1f} MiB (signal: {signal / 2**20:.1f} MiB): "
        f"{sum(n for n, _ in made.values())}, {total / signal:.1f} signals in all"
    )
    print("\n| pass | where | op | count | signals |\n| --- | --- | --- | --- | --- |")
    for (phase, where, op), (n, b) in sorted(made.items(), key=lambda kv: -kv[1][1])[:rows]:
        print(f"| {phase} | {where} | {op} | {n} | {b / signal:.2f} |")
    print("\n| saved for the backward at | count | signals |\n| --- | --- | --- |")
    for where, (n, b) in sorted(saved.items(), key=lambda kv: -kv[1][1])[:rows]:
        print(f"| {where} | {n} | {b / signal:.2f} |")


if __name__ == "__main__":
    main()
