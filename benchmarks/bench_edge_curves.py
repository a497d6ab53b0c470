"""Peak memory and time of a no-grad render whose edges move (issue 31: edge curves).

A console of ``--tracks`` stereo tracks and 4 buses (chain ``gain_pan``), ``--seconds`` seconds
at 44.1 kHz, rendered once without gradients in a fresh process per mode; each line gives the
mode, the peak RSS of the render alone (``VmHWM`` reset before it; Linux) and its wall time:

- ``static``: static edge gates ``(E, 1)`` at the levels of the moving ones' first knot;
- ``gates``: every edge gate a moving curve ``(E, 1, K)``, knots every 0.5 s;
- ``gains``: static gates and every linear edge gain a moving curve ``(E, K)``
  (``render_grafx(..., edge_gains=)``; not in grafx before this change).

Run it with ``PYTHONPATH`` on another checkout to compare (``gains`` needs this one)::

    PYTHONPATH=src python benchmarks/bench_edge_curves.py --seconds 30 --tracks 16
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

MODES = ("static", "gates", "gains")


def render(mode: str, seconds: float, tracks: int) -> str:
    import torch

    from grafx.automation import Timeline, automate_parameters
    from grafx.fit import GraphRenderer
    from grafx.gates import EDGE_GATE_KEY, add_edge_gates
    from grafx.presets import build_mixing_console, console_parameters, console_processors
    from grafx.render import render_grafx

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rate, chain = 44100, ("gain_pan",)
    G, sequence = build_mixing_console(num_tracks=tracks, num_buses=4, chain=chain)
    processors = console_processors(chain, sample_rate=rate)
    params = add_edge_gates(console_parameters(G, processors, rate), G)
    timeline = Timeline.uniform(seconds, 0.5, rate)
    sources = torch.randn(tracks, 2, int(seconds * rate)) * 0.1
    renderer = GraphRenderer(G, processors, sequence)
    gains = None
    if mode == "gates":
        params = automate_parameters(params, processors, [EDGE_GATE_KEY], timeline)
        with torch.no_grad():
            params[EDGE_GATE_KEY][:, 0, 1::2] -= 1.0  # every send moves
    fast = renderer._permute(params)
    if mode == "gains":
        count = renderer.render_data.num_edges
        gains = torch.ones(count, timeline.num_knots)
        gains[:, 1::2] = 0.5
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")
    began = time.perf_counter()
    with torch.no_grad():
        mix, _ = render_grafx(
            sources,
            processors,
            fast,
            renderer.render_data,
            edge_gains=gains,
            timeline=timeline if mode != "static" else None,
        )
    seconds_taken = time.perf_counter() - began
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    before = sources.numel() * 4 / 2**20
    edges = renderer.render_data.num_edges
    return (
        f"{mode:7s} edges {edges}  samples {sources.shape[-1]}  peak RSS {peak / 1024:.0f} MiB "
        f"(sources {before:.0f} MiB)  render {seconds_taken:.2f} s  mix sum {float(mix.sum()):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--mode", choices=MODES, default=None, help="one mode, in this process")
    args = parser.parse_args()
    if args.mode is not None:
        print(render(args.mode, args.seconds, args.tracks), flush=True)
        return
    for mode in MODES:
        argv = [sys.executable, __file__, "--mode", mode]
        argv += ["--seconds", str(args.seconds), "--tracks", str(args.tracks)]
        subprocess.run(argv, check=False)


if __name__ == "__main__":
    main()
