"""Pruning a long song: the cost ranking on an excerpt (``rank_samples``) against the whole song.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_prune_excerpt.py [--seconds 30] [--repeats 2]

The demo's 4-track console (7 processors a track, every node gated) with the demo's hidden
settings, half of the tracks' processors bypassed (gates closed) in the hidden console; the
"fitted" graph is the hidden one with every gate reopened a little and the faders 0.5 dB off,
so that the search has work to do without a fit. One round of the hybrid search with cost
ranking (no fine-tuning), whole-song ranking and excerpt ranking alternating (after one
warm-up of each), at 16 kHz. Prints the median seconds of the round, its full-length and
excerpt renders, what each removed, and the loss after (full length, both).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def case(seconds: float, rate: int):
    from grafx.demo import hidden_node_settings, synthesize_multitrack
    from grafx.fit import render_mix
    from grafx.gates import add_node_gates, set_node_gate
    from grafx.presets import build_mixing_console, console_parameters, console_processors

    stems, names = synthesize_multitrack(rate, seconds, seed=0)
    G, sequence = build_mixing_console(len(names), track_names=names)
    processors = console_processors()
    settings = hidden_node_settings()
    hidden = add_node_gates(console_parameters(G, processors, rate, settings), G, mix=1.0)
    nodes = [n for n in sorted(G.nodes) if G.nodes[n]["node_type"] not in ("in", "out")]
    bypassed = nodes[::2]
    for node in bypassed:
        set_node_gate(hidden, G, G.nodes[node]["name"], 0.0)
    with torch.no_grad():
        target = render_mix(G, processors, hidden, stems, sequence)
    fitted = {t: {k: v.clone() for k, v in p.items()} for t, p in hidden.items()}
    for node in bypassed:
        set_node_gate(fitted, G, G.nodes[node]["name"], 0.02)
    fitted["gain_pan"]["log_gain"] += 0.06  # about 0.5 dB
    return G, sequence, processors, fitted, stems, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rank-seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from grafx.losses import MixLoss
    from grafx.prune import prune_graph

    G, sequence, processors, fitted, stems, target = case(args.seconds, args.rate)
    runs = {
        "whole song": 0,
        f"excerpt {args.rank_seconds:g} s": round(args.rank_seconds * args.rate),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    results = {}
    for repeat in range(args.repeats + 1):
        for name, rank_samples in runs.items():
            start = time.perf_counter()
            results[name] = prune_graph(
                G, processors, fitted, stems, target, loss_fn=MixLoss(args.rate),
                type_sequence=sequence, tolerance=args.tolerance, rounds=1, finetune_steps=0,
                method="hybrid", order="cost", rank_samples=rank_samples,
            )  # fmt: skip
            if repeat:
                seconds[name].append(time.perf_counter() - start)
    print(
        f"{args.seconds:g} s at {args.rate} Hz, {G.number_of_nodes()} nodes, tau {args.tolerance:g}"
    )
    base = statistics.median(seconds["whole song"])
    for name, result in results.items():
        first = result.rounds[0]
        median = statistics.median(seconds[name])
        print(
            f"{name:>16}: {median:6.1f} s ({median / base:4.2f}), full renders {first['renders']}, "
            f"excerpt renders {first.get('excerpt_renders', 0)}, removed {len(result.removed)}, "
            f"loss {result.loss_before:.5f} -> {result.loss_after:.5f}"
        )
    sets = [set(r.removed) for r in results.values()]
    print(
        f"same removals: {sets[0] == sets[1]} (only whole: {sorted(sets[0] - sets[1])}, "
        f"only excerpt: {sorted(sets[1] - sets[0])})"
    )


if __name__ == "__main__":
    main()
