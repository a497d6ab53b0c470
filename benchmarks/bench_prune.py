"""Gates and pruning benchmark: gate render overhead, and the pruning search on the demo.

Run from the repository root::

    .venv/bin/python benchmarks/bench_prune.py [--quick] [--skip-overhead] [--skip-prune]

Tables:

1. Gate overhead: render time of the mixing console (``console8``: 8 tracks, 2 buses;
   ``console32`` with ``--full``) with every processor gated (the console's default) against
   the same parameters without the ``drywet_weight`` key, forward and forward+backward,
   alternating A B A B after a warm-up, median of repeats (ratio = gated / ungated).
2. Pruning: the demo's four synthetic stems, mixed by a hidden console (``demo``: the demo's
   hidden settings; ``demo-bypass-half``: the same with half of its processors, drawn with a
   fixed seed, bypassed by gates at 0), fitted from neutral with the gate sparsity penalty
   ramped from 0 to 1e-4, then pruned (hybrid) at each tolerance from the same fit: rho,
   MixLoss before/after and its relative change, loss checks, the render-time speed-up of the
   pruned graph against the full console (forward, full length, median of repeats, alternating),
   and for ``demo-bypass-half`` the precision and recall of removed vs truly bypassed.

Float32, CPU, ``torch.set_num_threads(2)``; quote ``uptime`` with any absolute time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from grafx.fit import FitConfig, GraphRenderer, evaluate_loss, fit_parameters
from grafx.gates import set_node_gate
from grafx.losses import MixLoss
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.prune import GateSparsity, PruneConfig, prune_graph

TOLERANCES = (1e-3, 1e-2, 1e-1)


def alternating(a, b, repeats: int) -> tuple[float, float]:
    """Median times of ``a`` and ``b``, run A B A B after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, times in ((a, ta), (b, tb)):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return statistics.median(ta), statistics.median(tb)


def overhead_table(graphs, length: int, repeats: int) -> None:
    print(f"## Gate overhead (stereo, {length} samples; ms, median of {repeats})")
    print("| graph | nodes | mode | gated ms | ungated ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (tracks, buses) in graphs.items():
        G, sequence = build_mixing_console(tracks, buses)
        processors = console_processors()
        gated = console_parameters(G, processors)
        plain = {t: {k: v for k, v in p.items() if k != DRYWET_KEY} for t, p in gated.items()}
        renderer = GraphRenderer(G, processors, sequence)
        x = torch.randn(tracks, 2, length, generator=torch.Generator().manual_seed(0)) * 0.1
        for mode in ("forward", "forward+backward"):

            def run(parameters, mode=mode, renderer=renderer, x=x):
                if mode == "forward":
                    with torch.no_grad():
                        renderer(x, parameters)
                    return
                leaves = {
                    t: {k: v.clone().requires_grad_() for k, v in p.items()}
                    for t, p in parameters.items()
                }
                mix, _ = renderer(x, leaves)
                mix.square().mean().backward()

            t_gated, t_plain = alternating(lambda g=gated: run(g), lambda p=plain: run(p), repeats)
            print(
                f"| {name} | {G.number_of_nodes()} | {mode} | {1e3 * t_gated:.0f} | "
                f"{1e3 * t_plain:.0f} | {t_gated / t_plain:.3f} |"
            )


def _bypassed_half(G, seed: int = 0) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    processors = [n for n, t in sorted(G.nodes(data="node_type")) if t not in ("in", "out")]
    order = torch.randperm(len(processors), generator=generator).tolist()
    return sorted(processors[i] for i in order[: len(processors) // 2])


def prune_table(args) -> None:
    from grafx.demo import HIDDEN_SETTINGS, synthesize_multitrack

    rate, seconds = args.sample_rate, args.seconds
    stems, names = synthesize_multitrack(rate, seconds, seed=0)
    G, sequence = build_mixing_console(len(names), track_names=names)
    processors = console_processors()
    settings = {
        f"{name}/{t}": values for name in names for t, values in HIDDEN_SETTINGS[name].items()
    }
    loss_fn = MixLoss(rate)
    crop = min(int(3.8 * rate), stems.shape[-1])
    warmup = int(1.0 * rate) if crop < stems.shape[-1] else 0
    fit = FitConfig(
        lr=1e-2, optimizer="adamw", crop_len=None if crop == stems.shape[-1] else crop - warmup,
        warmup_len=warmup, progress=False, lr_scale={"gain_pan/log_gain": 3.0},
    )  # fmt: skip
    print(
        f"\n## Pruning (demo stems, {seconds:g} s at {rate} Hz; fit {args.fit_steps} steps with "
        f"gate sparsity 0 -> 1e-4; hybrid, {args.rounds} round(s) of {args.finetune} steps)"
    )
    print(
        "| target | tau | processors | removed | rho | loss fitted | loss pruned | change | "
        "checks | render full ms | render pruned ms | speed-up | precision | recall | s |"
    )
    print("| --- " * 15 + "|")
    for target_name in ("demo", "demo-bypass-half"):
        hidden = console_parameters(G, processors, rate, settings)
        bypassed = _bypassed_half(G) if target_name == "demo-bypass-half" else []
        for node in bypassed:
            set_node_gate(hidden, G, node, 0.0)
        renderer = GraphRenderer(G, processors, sequence)
        with torch.no_grad():
            target = renderer(stems, hidden)[0]
        start = console_parameters(G, processors, rate)
        began = time.perf_counter()
        fitted = fit_parameters(
            G, processors, start, stems, target, loss_fn, fit, type_sequence=sequence,
            steps=args.fit_steps, penalties={"sparsity": GateSparsity(1e-4, ramp=1.0)},
        ).parameters  # fmt: skip
        fit_seconds = time.perf_counter() - began
        fitted_loss = evaluate_loss(renderer, loss_fn, fitted, stems, target)
        print(f"<!-- {target_name}: fitted in {fit_seconds:.0f} s, loss {fitted_loss:.4f} -->")
        for tau in TOLERANCES:
            began = time.perf_counter()
            result = prune_graph(
                G, processors, fitted, stems, target, PruneConfig(
                    tolerance=tau, rounds=args.rounds, finetune_steps=args.finetune
                ), loss_fn=loss_fn, fit_config=fit, type_sequence=sequence,
            )  # fmt: skip
            seconds_taken = time.perf_counter() - began
            pruned = GraphRenderer(result.graph, processors)

            def full(renderer=renderer, fitted=fitted):
                with torch.no_grad():
                    renderer(stems, fitted)

            def small(pruned=pruned, result=result):
                with torch.no_grad():
                    pruned(stems, result.parameters)

            t_full, t_pruned = alternating(full, small, args.repeats)
            precision = recall = "-"
            if bypassed:
                hits = len(set(result.removed) & set(bypassed))
                precision = f"{hits / len(result.removed):.2f}" if result.removed else "-"
                recall = f"{hits / len(bypassed):.2f}"
            change = result.loss_after / result.loss_before - 1
            print(
                f"| {target_name} | {tau:g} | {result.num_processors} | {len(result.removed)} | "
                f"{result.rho:.2f} | {result.loss_before:.4f} | {result.loss_after:.4f} | "
                f"{100 * change:+.2f}% | {result.evaluations} | {1e3 * t_full:.0f} | "
                f"{1e3 * t_pruned:.0f} | {t_full / t_pruned:.2f}x | {precision} | {recall} | "
                f"{seconds_taken:.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short audio and fits (smoke run)")
    parser.add_argument("--full", action="store_true", help="also console32 in table 1")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-prune", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fit-steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--finetune", type=int, default=50)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.fit_steps, args.rounds, args.finetune = 2.0, 30, 2, 5
        args.repeats = 3
    torch.set_num_threads(2)
    print(f"uptime: {os.getloadavg()[0]:.2f} (1-min load), torch {torch.__version__}")
    if not args.skip_overhead:
        graphs = {"console8": (8, 2)}
        if args.full:
            graphs["console32"] = (32, 4)
        overhead_table(graphs, 2**15 if args.quick else 2**17, args.repeats)
    if not args.skip_prune:
        prune_table(args)


if __name__ == "__main__":
    main()
