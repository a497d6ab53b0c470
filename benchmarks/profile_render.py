"""Profile one graph render with ``torch.profiler``: processors against engine, and the top ops.

Usage::

    .venv/bin/python benchmarks/profile_render.py [--graph console32] [--length 131072]
                                                  [--backward] [--rows 25]

Each processor call runs inside a ``record_function`` labelled ``proc:<type>``, so the first
table splits the render's CPU time by processor type (and the rest: the engine); the second
lists the ops with the most self CPU time. One warm-up render, then one profiled render.
"""

from __future__ import annotations

import argparse
import sys
import time
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


if __name__ == "__main__":
    main()
