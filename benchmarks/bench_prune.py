"""Gates and pruning benchmark: gate render overhead, and the pruning search on fitted mixes.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_prune.py [--quick] [--skip-overhead] [--skip-prune]
        [--targets demo,demo-bypass-half,mix0,mix1] [--costs] [--cache DIR]
        [--order cost|gate] [--recover STEPS] [--tolerances 0.001,0.01,0.1]

Tables:

1. Gate overhead: render time of the mixing console (``console8``: 8 tracks, 2 buses;
   ``console32`` with ``--full``) with every processor gated (the console's default) against
   the same parameters without the ``drywet_weight`` key, forward and forward+backward,
   alternating A B A B after a warm-up, median of repeats (ratio = gated / ungated).
2. Pruning. Targets: ``demo`` (the demo's four synthetic stems mixed by its hidden console),
   ``demo-bypass-half`` (the same with half of its processors, drawn with a fixed seed,
   bypassed by gates at 0) and ``mixN`` (mix ``N`` of ``fit_quality.py``: the demo's stems
   with another seed through pedalboard's JUCE effects, built by its ``make_target``) and
   ``mixN-sparse`` (the same stems and settings, but each stem keeps its fader and each other
   effect only with probability 0.4: precision and recall against the console processors
   with no counterpart in their stem's chain). Each is
   fitted from a neutral console with the ``grafx fit`` recipe (MixLoss, AdamW 1e-2 cosine,
   gain staging 1e-3, 3.8 s crops or the whole audio when shorter) plus the gate sparsity
   penalty ramped from 0 to 1e-4 (the paper), the fit cached with ``--cache``; then pruned
   (hybrid by default) at each tolerance from the same fit: rho, MixLoss before/after and its
   relative change, the change of an independent metric (the STFT distance of
   :func:`grafx.metrics.mix_metrics`), loss checks, the render-time speed-up of the pruned
   graph against the full console (forward, full length, median of repeats, the two run
   alternately in one process), removals per type, and for ``demo-bypass-half`` and
   ``mixN-sparse`` the precision and recall of removed vs truly bypassed (unused).
   ``--costs`` adds each processor's cost removed alone (and, for the demo targets, the
   hidden console's own cost of losing it).

Float32, CPU, ``torch.set_num_threads(2)``; quote ``uptime`` with any absolute time.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from grafx.fit import FitConfig, GraphRenderer, evaluate_loss, fit_parameters
from grafx.fit.recipe import (
    CROP_SECONDS,
    WARMUP_SECONDS,
    recipe_config,
    recipe_loss,
    recipe_penalties,
)
from grafx.gates import set_node_gate
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors.core.drywet import DRYWET_KEY
from grafx.prune import SPARSITY_WEIGHT, GateSparsity, PruneConfig, prune_graph

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fit_quality's targets

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


# The console's processor types and the pedalboard effects that are their counterparts.
COUNTERPARTS = {
    "eq": ("eq",),
    "compressor": ("compressor",),
    "gain_pan": ("gain", "pan"),
    "delay": ("delay",),
    "reverb": ("reverb",),
}
SPARSE_KEEP = 0.4


def _unused_processors(G, names, settings) -> list[int]:
    """The console's processors with no counterpart in their track's pedalboard chain
    (``settings[k]["effects"]`` of ``make_target``; every noise gate and imager)."""
    unused = []
    for node, data in sorted(G.nodes(data=True)):
        if data["node_type"] in ("in", "out"):
            continue
        chain = settings[names.index(data["name"].split("/")[0])]["effects"]
        if not set(COUNTERPARTS.get(data["node_type"], ())) & set(chain):
            unused.append(node)
    return unused


def make_case(name: str, rate: int, seconds: float):
    """``(G, sequence, processors, stems, target, bypassed, hidden)`` of one benchmark target.

    ``demo`` / ``demo-bypass-half``: the demo's stems mixed by its hidden console (with half of
    its processors bypassed); ``mixN``: mix ``N`` of ``fit_quality.py`` (pedalboard effects);
    ``mixN-sparse``: the same with each stem's effects but its fader kept with probability
    ``SPARSE_KEEP``, ``bypassed`` then the processors without a counterpart in their chain.
    """
    processors = console_processors()
    if name.startswith("mix"):
        index, _, variant = name[3:].partition("-")
        if variant not in ("", "sparse"):
            sys.exit(f"bench_prune: unknown target {name!r} (mixN or mixN-sparse)")
        from fit_quality import make_target

        keep = SPARSE_KEEP if variant else 1.0
        stems, names, target, settings = make_target(int(index), rate, seconds, keep=keep)
        G, sequence = build_mixing_console(len(names), track_names=names)
        unused = _unused_processors(G, names, settings) if variant else []
        return G, sequence, processors, stems, target, unused, None
    from grafx.demo import HIDDEN_SETTINGS, synthesize_multitrack

    stems, names = synthesize_multitrack(rate, seconds, seed=0)
    G, sequence = build_mixing_console(len(names), track_names=names)
    settings = {
        f"{name}/{t}": values for name in names for t, values in HIDDEN_SETTINGS[name].items()
    }
    hidden = console_parameters(G, processors, rate, settings)
    bypassed = _bypassed_half(G) if name == "demo-bypass-half" else []
    for node in bypassed:
        set_node_gate(hidden, G, node, 0.0)
    with torch.no_grad():
        target = GraphRenderer(G, processors, sequence)(stems, hidden)[0]
    return G, sequence, processors, stems, target, bypassed, hidden


def fit_config(rate: int, num_samples: int, steps: int) -> FitConfig:
    """The ``grafx fit`` recipe at ``rate``: 3.8 s crops (1 s warm-up), or all if shorter."""
    crop = CROP_SECONDS if num_samples / rate >= CROP_SECONDS else None
    return recipe_config(
        rate, crop_seconds=crop, warmup_seconds=WARMUP_SECONDS if crop else 0.0, steps=steps,
        progress=False, seed=0,
    )  # fmt: skip


def fitted_case(name: str, args):
    """The case and its fit (cached in ``args.cache`` as a graph file): the ``grafx fit``
    recipe (gain staging 1e-3) plus the gate sparsity penalty ramped 0 -> 1e-4 (the paper)."""
    from grafx.io import load_graph, save_graph

    G, sequence, processors, stems, target, bypassed, hidden = make_case(
        name, args.sample_rate, args.seconds
    )
    loss_fn = recipe_loss(args.sample_rate)
    config = fit_config(args.sample_rate, stems.shape[-1], args.fit_steps)
    cache = None
    if args.cache:
        tag = f"{name}-{args.sample_rate}-{args.seconds:g}s-{args.fit_steps}"
        cache = Path(args.cache) / f"{tag}.json"
    info = {"fit_seconds": 0.0, "cached": False}
    if cache is not None and cache.exists():
        _, fitted = load_graph(cache)
        info["cached"] = True
    else:
        start = console_parameters(G, processors, args.sample_rate)
        penalties = {
            **recipe_penalties(),
            "sparsity": GateSparsity(SPARSITY_WEIGHT, ramp=1.0),
        }
        began = time.perf_counter()
        fitted = fit_parameters(
            G, processors, start, stems, target, loss_fn, config, type_sequence=sequence,
            penalties=penalties,
        ).parameters  # fmt: skip
        info["fit_seconds"] = time.perf_counter() - began
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_graph(G, cache, fitted, processors=processors)
    info["hidden"] = hidden
    return G, sequence, processors, stems, target, bypassed, fitted, loss_fn, config, info


def single_costs(
    G, sequence, processors, parameters, stems, target, loss_fn, relative=True
) -> dict:
    """``{node: L(node's gate closed) / L - 1}``: each processor's removal alone (``relative``
    False: the loss itself)."""
    from grafx.data.rows import node_rows

    renderer = GraphRenderer(G, processors, sequence)
    rows = node_rows(G)
    base = evaluate_loss(renderer, loss_fn, parameters, stems, target) if relative else None
    costs = {}
    for node, node_type in sorted(G.nodes(data="node_type")):
        if node_type in ("in", "out", "mix"):
            continue
        closed = {t: dict(p.items()) for t, p in parameters.items()}
        gate = closed[node_type][DRYWET_KEY].clone()
        gate[rows[node]] = -math.inf
        closed[node_type][DRYWET_KEY] = gate
        loss = evaluate_loss(renderer, loss_fn, closed, stems, target)
        costs[node] = loss / base - 1 if relative else loss
    return costs


def costs_table(name, G, costs, gates, bypassed, fitted_loss, oracle=None) -> None:
    """Each processor's removal alone from the fit, cheapest first; with ``oracle`` (demo
    targets), the loss of the hidden console itself with that processor removed, in units of
    the fitted loss (above 0.01: removing it costs more than tau = 0.01 of even a perfect fit)."""
    ordered = sorted(costs, key=costs.get)
    print(f"\n### Removing one processor alone ({name}; relative loss change, cheapest first)")
    print("| node | gate w | cost | hidden console without it / fitted loss | truly bypassed |")
    print("| --- | --- | --- | --- | --- |")
    for node in ordered:
        flag = "yes" if node in bypassed else ""
        hidden = f"{oracle[node] / fitted_loss:.3f}" if oracle else "-"
        print(
            f"| {G.nodes[node]['name']} | {gates.get(node, float('nan')):.3f} | "
            f"{100 * costs[node]:+.2f}% | {hidden} | {flag} |"
        )
    counts = " / ".join(f"{sum(c <= tau for c in costs.values())} <= {tau:g}" for tau in TOLERANCES)
    need = math.ceil(0.6 * len(costs))
    print(
        f"<!-- {name}: processors whose removal alone costs at most tau: {counts}; the "
        f"{need}th cheapest (rho 0.6) costs {100 * costs[ordered[need - 1]]:+.2f}% -->"
    )


def type_times_table(name, G, processors, parameters, stems, repeats) -> None:
    """Speed-up of the console with every node of one type removed (what each type costs)."""
    from grafx.prune import remove_nodes

    full = GraphRenderer(G, processors)
    print(f"\n### Render speed-up without one type ({name}; forward, median of {repeats})")
    print("| type removed | nodes | speed-up |")
    print("| --- | --- | --- |")
    types = sorted({t for _, t in G.nodes(data="node_type")} - {"in", "out", "mix"})
    for node_type in types:
        nodes = [n for n, t in G.nodes(data="node_type") if t == node_type]
        small_G, small_p = remove_nodes(G, parameters, nodes)
        small = GraphRenderer(small_G, processors)

        def a(full=full):
            with torch.no_grad():
                full(stems, parameters)

        def b(small=small, small_p=small_p):
            with torch.no_grad():
                small(stems, small_p)

        t_full, t_small = alternating(a, b, repeats)
        print(f"| {node_type} | {len(nodes)} | {t_full / t_small:.2f}x |")


def prune_table(args) -> None:
    from grafx.gates import gated_nodes
    from grafx.metrics import mix_metrics

    rate, seconds = args.sample_rate, args.seconds
    print(
        f"\n## Pruning ({seconds:g} s at {rate} Hz; fit {args.fit_steps} steps, the grafx fit "
        f"recipe + gate sparsity 0 -> 1e-4; {args.method} ({args.order} order, recover "
        f"{args.recover}, {'absolute' if args.absolute else 'relative'} tau, reference "
        f"{args.reference}), {args.rounds} "
        f"round(s) of "
        f"{args.finetune} fine-tuning steps)"
    )
    rows = []
    for target_name in args.targets:
        G, sequence, processors, stems, target, bypassed, fitted, loss_fn, fit, info = fitted_case(
            target_name, args
        )
        renderer = GraphRenderer(G, processors, sequence)
        fitted_loss = evaluate_loss(renderer, loss_fn, fitted, stems, target)
        with torch.no_grad():
            full_mix = renderer(stems, fitted)[0]
        stft_full = mix_metrics(full_mix, target, rate)["stft_distance"]
        print(
            f"<!-- {target_name}: fitted in {info['fit_seconds']:.0f} s"
            f"{' (cached)' if info['cached'] else ''}, loss {fitted_loss:.4f}, STFT distance "
            f"{stft_full:.4f}; load {os.getloadavg()[0]:.1f} -->",
            flush=True,
        )
        if args.costs:
            costs = single_costs(G, sequence, processors, fitted, stems, target, loss_fn)
            oracle = None
            if info["hidden"] is not None:
                oracle = single_costs(
                    G, sequence, processors, info["hidden"], stems, target, loss_fn, False
                )
            gates = gated_nodes(fitted, G)
            costs_table(target_name, G, costs, gates, bypassed, fitted_loss, oracle)
        if args.type_times:
            type_times_table(target_name, G, processors, fitted, stems, args.repeats)
        for tau in args.tolerances:
            began = time.perf_counter()
            result = prune_graph(
                G, processors, fitted, stems, target, PruneConfig(
                    tolerance=tau, method=args.method, rounds=args.rounds,
                    finetune_steps=args.finetune, order=args.order,
                    recover_steps=args.recover,
                    tolerance_mode="absolute" if args.absolute else "relative",
                    reference=args.reference,
                ), loss_fn=loss_fn, fit_config=fit, type_sequence=sequence,
            )  # fmt: skip
            seconds_taken = time.perf_counter() - began
            pruned = GraphRenderer(result.graph, processors)

            def full(renderer=renderer, fitted=fitted, stems=stems):
                with torch.no_grad():
                    renderer(stems, fitted)

            def small(pruned=pruned, result=result, stems=stems):
                with torch.no_grad():
                    return pruned(stems, result.parameters)[0]

            t_full, t_pruned = alternating(full, small, args.repeats)
            stft_pruned = mix_metrics(small(), target, rate)["stft_distance"]
            precision = recall = "-"
            if bypassed:
                hits = len(set(result.removed) & set(bypassed))
                precision = f"{hits / len(result.removed):.2f}" if result.removed else "-"
                recall = f"{hits / len(bypassed):.2f}"
            per_type = " ".join(
                f"{t}:{r}/{n}" for t, (r, n) in sorted(result.removed_per_type.items())
            )
            rows.append(
                f"| {target_name} | {tau:g} | {result.num_processors} | {len(result.removed)} | "
                f"{result.rho:.2f} | {result.loss_before:.4f} | {result.loss_after:.4f} | "
                f"{100 * (result.loss_after / result.loss_before - 1):+.2f}% | "
                f"{100 * (stft_pruned / stft_full - 1):+.2f}% | {result.evaluations} | "
                f"{t_full / t_pruned:.2f}x | {precision} | {recall} | {per_type} | "
                f"{seconds_taken:.0f} |"
            )
            per_round = ", ".join(
                f"{len(r['removed'])}{' recovered' if r.get('recovered') else ''} ({r['loss']:.4f})"
                for r in result.rounds
            )
            print(
                f"<!-- {rows[-1]} rounds removed (loss): {per_round}; load "
                f"{os.getloadavg()[0]:.1f} -->",
                flush=True,
            )
    print(
        "\n| target | tau | processors | removed | rho | loss fitted | loss pruned | change | "
        "STFT dist. change | checks | speed-up | precision | recall | removed per type | s |"
    )
    print("| --- " * 15 + "|")
    print("\n".join(rows))


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
    parser.add_argument("--method", default="hybrid", help="brute, drywet or hybrid")
    parser.add_argument("--order", default="cost", help="hybrid's ranking: cost or gate")
    parser.add_argument(
        "--recover", type=int, default=0, help="PruneConfig.recover_steps (default: 0, off)"
    )
    parser.add_argument(
        "--targets",
        type=lambda t: t.split(","),
        default=["demo", "demo-bypass-half", "mix0", "mix1"],
        help="comma-separated: demo, demo-bypass-half, mixN (fit_quality.py's mix N), mixN-sparse",
    )
    parser.add_argument(
        "--tolerances", type=lambda t: [float(x) for x in t.split(",")], default=TOLERANCES
    )
    parser.add_argument("--cache", default=None, help="folder to keep the fits in (reused)")
    parser.add_argument("--costs", action="store_true", help="each processor's removal alone")
    parser.add_argument("--absolute", action="store_true", help="absolute tolerance (L0 + tau)")
    parser.add_argument(
        "--reference", default="given", help="PruneConfig.reference: given (default) or best"
    )
    parser.add_argument("--type-times", action="store_true", help="speed-up without each type")
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
