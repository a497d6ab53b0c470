"""Gate overhead: the console rendered plain, with node gates, and with node and edge gates.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_gates.py [--full] [--repeats 11]

One table row per graph and mode (forward without autograd; forward+backward of a mean-square
loss with every parameter a leaf): the median time of each variant and its ratio to the plain
render, all measured in one run, alternating A B C A B C after a warm-up. Two clocks: wall time
and process CPU time (both torch threads; less sensitive to other processes on a shared
machine). Variants:

- ``plain``: the console's parameters without their ``drywet_weight`` keys;
- ``node``: the console as built (every processor gated, the ``grafx fit`` default);
- ``node+edge``: also a gate on every edge (``grafx.gates.add_edge_gates``).

Float32, CPU, stereo, ``--seconds`` of audio at 44.1 kHz (default 2**17 samples); quote the
printed ``uptime`` with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from grafx.fit import GraphRenderer
from grafx.gates import add_edge_gates
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors.core.drywet import DRYWET_KEY


def _leaves(parameters):
    return {
        t: (
            {k: v.clone().requires_grad_() for k, v in p.items()}
            if isinstance(p, dict)
            else p.clone().requires_grad_()
        )
        for t, p in parameters.items()
    }


def measure(tracks: int, buses: int, length: int, repeats: int) -> list[str]:
    G, sequence = build_mixing_console(tracks, buses)
    processors = console_processors()
    node = console_parameters(G, processors)
    variants = {
        "plain": {t: {k: v for k, v in p.items() if k != DRYWET_KEY} for t, p in node.items()},
        "node": node,
        "node+edge": add_edge_gates(node, G),
    }
    renderer = GraphRenderer(G, processors, sequence)
    x = torch.randn(tracks, 2, length, generator=torch.Generator().manual_seed(0)) * 0.1

    def forward(parameters):
        with torch.no_grad():
            renderer(x, parameters)

    def forward_backward(parameters):
        mix, _ = renderer(x, _leaves(parameters))
        mix.square().mean().backward()

    rows = []
    for mode, run in (("forward", forward), ("forward+backward", forward_backward)):
        for parameters in variants.values():
            run(parameters)
        wall = {name: [] for name in variants}
        cpu = {name: [] for name in variants}
        for _ in range(repeats):
            for name, parameters in variants.items():
                w0, c0 = time.perf_counter(), time.process_time()
                run(parameters)
                wall[name].append(time.perf_counter() - w0)
                cpu[name].append(time.process_time() - c0)
        for clock, times in (("wall", wall), ("cpu", cpu)):
            med = {name: statistics.median(t) for name, t in times.items()}
            rows.append(
                f"| console{tracks} | {G.number_of_nodes()} | {G.number_of_edges()} | {mode} | "
                f"{clock} | {1e3 * med['plain']:.0f} | {1e3 * med['node']:.0f} | "
                f"{1e3 * med['node+edge']:.0f} | {med['node'] / med['plain']:.3f} | "
                f"{med['node+edge'] / med['plain']:.3f} |"
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also console32 (32 tracks, 4 buses)")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--samples", type=int, default=2**17)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"uptime: {os.getloadavg()[0]:.2f} (1-min load), torch {torch.__version__}")
    print(f"## Gate overhead (stereo, {args.samples} samples; ms, median of {args.repeats})")
    print(
        "| graph | nodes | edges | mode | clock | plain ms | node-gated ms | node+edge ms | "
        "node / plain | node+edge / plain |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    graphs = [(8, 2)] + ([(32, 4)] if args.full else [])
    for tracks, buses in graphs:
        for row in measure(tracks, buses, args.samples, args.repeats):
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
