"""What each processor type of the ``grafx fit`` console costs to render (forward).

Run from the repository root::

    PYTHONPATH=src .venv/bin/python benchmarks/console_costs.py [--tracks 4] [--sample-rate 16000]
        [--seconds 3] [--repeats 25]

The console of ``build_mixing_console(tracks)`` with ``console_processors()`` at neutral
settings (``console_parameters``): the whole render (``GraphRenderer``, no autograd), the same
graph with every processor removed (what the engine itself costs), and for each type its
processor called once on all its nodes and once on one node (batch 1), as the render's
type-batched steps call it. A pruned graph's render time is roughly the engine's plus each
surviving type's cost at its surviving count, so this says which removals speed it up.
Float32, stereo noise, ``torch.set_num_threads(2)``, median of ``--repeats`` after a warm-up;
quote the printed ``uptime``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_render_engine import median_time  # noqa: E402

from grafx.fit import GraphRenderer
from grafx.presets import (  # noqa: E402
    build_mixing_console,
    console_parameters,
    console_processors,
)
from grafx.processors.core.drywet import DRYWET_KEY  # noqa: E402
from grafx.prune import remove_nodes  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    return 1e3 * median_time(fn, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(2)
    length = int(args.seconds * args.sample_rate)
    processors = console_processors()
    G, sequence = build_mixing_console(args.tracks)
    parameters = console_parameters(G, processors, args.sample_rate)
    stems = 0.1 * torch.randn(args.tracks, 2, length, generator=torch.Generator().manual_seed(0))

    def render(graph, values):
        renderer = GraphRenderer(graph, processors)

        def run():
            with torch.no_grad():
                renderer(stems, values)

        return run

    full = median_ms(render(G, parameters), args.repeats)
    processors_only = [n for n, t in G.nodes(data="node_type") if t not in ("in", "out", "mix")]
    bare, bare_parameters = remove_nodes(G, parameters, processors_only)
    engine = median_ms(render(bare, bare_parameters), args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"uptime: {load:.2f} (1-min load); {args.tracks} tracks, {args.seconds:g} s at "
        f"{args.sample_rate} Hz, torch {torch.__version__}\n"
    )
    print(f"whole console: {full:.2f} ms; without any processor (the engine): {engine:.2f} ms\n")
    print("| type | nodes | all nodes (ms) | share of the render | one node (ms) |")
    print("| --- | --- | --- | --- | --- |")
    for node_type, values in parameters.items():
        count = next(iter(values.values())).shape[0]
        keys = {k: v for k, v in values.items() if k != DRYWET_KEY}
        for rows, label in ((count, "all"), (1, "one")):
            x = 0.1 * torch.randn(rows, 2, length, generator=torch.Generator().manual_seed(1))
            p = {k: v[:rows] for k, v in keys.items()}

            def call(x=x, p=p, processor=processors[node_type]):
                with torch.no_grad():
                    processor(x, **p)

            if label == "all":
                every = median_ms(call, args.repeats)
            else:
                one = median_ms(call, args.repeats)
        print(f"| {node_type} | {count} | {every:.2f} | {every / full:.0%} | {one:.2f} |")


if __name__ == "__main__":
    main()
