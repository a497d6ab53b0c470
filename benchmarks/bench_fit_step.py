"""One fit step of the recipe: the 7-processor console, 5 stems, 3.8 s crops at 30 kHz.

Prints, for each working rate asked (30 kHz by default, and 44.1 kHz with ``--compare``):

- the median wall time and process CPU time of a step of the real loop (``fit_parameters``,
  timed between its per-step callbacks: crop, forward, loss, penalty, backward, update);
- the split of a step into render / loss / penalty / backward / optimizer (a replica of the
  loop's step with the same objects, each part timed on its own, medians);
- the peak resident memory of the process (``ru_maxrss``), and the load average.

Each configuration (working rate, OpenMP wait policy) runs in its own worker process, in
blocks that alternate (A B A B), so ratios are measured in one run. ``OMP_WAIT_POLICY=ACTIVE``
(spinning threads, OpenMP's usual default) against ``PASSIVE`` (what ``grafx``'s command line
sets) shows what a shared machine costs. Issue 10's target: the 30 kHz median at most 0.8 s
and peak memory under 2 GB.

    PYTHONPATH=src python benchmarks/bench_fit_step.py [--steps 50] [--compare 44100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch


def setup(sample_rate: int, seconds: float, num_stems: int = 5):
    """Stems (the demo's four plus filtered noise), a target mix, and the recipe's pieces."""
    from grafx.demo import hidden_node_settings, synthesize_multitrack
    from grafx.fit import GraphRenderer
    from grafx.fit.recipe import recipe_config, recipe_loss, recipe_penalties
    from grafx.presets import build_mixing_console, console_parameters, console_processors

    stems, names = synthesize_multitrack(sample_rate, seconds, seed=0)
    g = torch.Generator().manual_seed(1)
    hiss = torch.randn(1, 2, stems.shape[-1], generator=g)
    hiss = torch.cumsum(hiss, -1) - torch.cumsum(hiss, -1).mean(-1, keepdim=True)  # brown noise
    hiss = 0.5 * hiss / hiss.abs().amax()
    stems = torch.cat([stems, hiss])[:num_stems]
    names = [*names, "noise"][:num_stems]
    G, type_sequence = build_mixing_console(len(names), track_names=names)
    processors = console_processors()
    settings = hidden_node_settings()
    hidden = console_parameters(G, processors, sample_rate, settings)
    with torch.no_grad():
        target = GraphRenderer(G, processors, type_sequence)(stems, hidden)[0]
    start = console_parameters(G, processors, sample_rate)
    config = recipe_config(sample_rate, progress=False)
    return {
        "G": G,
        "type_sequence": type_sequence,
        "processors": processors,
        "parameters": start,
        "stems": stems,
        "target": target,
        "loss": recipe_loss(sample_rate),
        "penalties": recipe_penalties(),
        "config": config,
    }


def loop_steps(case: dict, steps: int, seed: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each step of ``fit_parameters`` (callback to callback)."""
    from grafx.fit import fit_parameters

    marks = [(time.perf_counter(), time.process_time())]

    def tick(step, loss):
        marks.append((time.perf_counter(), time.process_time()))

    fit_parameters(
        case["G"],
        case["processors"],
        case["parameters"],
        case["stems"],
        case["target"],
        case["loss"],
        case["config"],
        type_sequence=case["type_sequence"],
        callback=tick,
        penalties=case["penalties"],
        steps=steps,
        seed=seed,
    )
    # The first interval includes the loop's setup (renderer, plan, optimizer): dropped.
    wall = [b[0] - a[0] for a, b in zip(marks[1:], marks[2:], strict=False)]
    cpu = [b[1] - a[1] for a, b in zip(marks[1:], marks[2:], strict=False)]
    return wall, cpu


def split(case: dict, steps: int) -> dict[str, float]:
    """Median seconds of each part of a replica of the loop's step."""
    from grafx.fit import GraphRenderer, crop_bounds
    from grafx.fit.checkpoint import flatten, unflatten
    from grafx.fit.penalty import PenaltyContext

    config = case["config"]
    processors = case["processors"]
    for penalty in case["penalties"].values():
        processors = penalty.prepare(processors)
    renderer = GraphRenderer(case["G"], processors, case["type_sequence"])
    flat = {k: v.clone().requires_grad_(True) for k, v in flatten(case["parameters"]).items()}
    optimizer = torch.optim.AdamW(list(flat.values()), lr=config.lr, weight_decay=0.0)
    stems, target = case["stems"], case["target"]
    parts: dict[str, list[float]] = {
        k: [] for k in ("render", "loss", "penalty", "backward", "optimizer")
    }
    for step in range(steps + 1):
        render_start, start, stop = crop_bounds(
            stems.shape[-1], config.crop_len, config.warmup_len, 0, step
        )[0]
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        nested = unflatten(flat)
        mix, intermediates = renderer(stems[..., render_start:stop], nested)
        t1 = time.perf_counter()
        loss = case["loss"](mix[..., start - render_start :], target[..., start:stop])
        t2 = time.perf_counter()
        context = PenaltyContext(step, step / steps, nested, intermediates)
        for penalty in case["penalties"].values():
            loss = loss + penalty.weight_at(context.progress) * penalty.value(context)
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        if step == 0:
            continue  # warm-up
        for key, a, b in (
            ("render", t0, t1),
            ("loss", t1, t2),
            ("penalty", t2, t3),
            ("backward", t3, t4),
            ("optimizer", t4, t5),
        ):
            parts[key].append(b - a)
    return {k: statistics.median(v) for k, v in parts.items()}


def worker(args) -> None:
    """One block of steps in this process; prints a JSON line of its timings."""
    torch.set_num_threads(args.threads)
    case = setup(args.rate, args.seconds)
    loop_steps(case, 3, seed=99)  # warm-up: numba compilation, allocator
    wall, cpu = loop_steps(case, args.steps + 1, seed=args.seed)
    parts = split(case, args.split_steps) if args.split_steps else {}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "split": parts, "peak_mb": peak_mb}))


def run_worker(args, rate: int, policy: str, steps: int, seed: int, split_steps: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--rate",
        str(rate),
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--split-steps",
        str(split_steps),
        "--seconds",
        str(args.seconds),
        "--threads",
        str(args.threads),
    ]
    env = {**os.environ, "OMP_WAIT_POLICY": policy.upper()}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="steps per configuration")
    parser.add_argument("--rate", type=int, default=30000, help="working rate in Hz")
    parser.add_argument("--compare", type=int, nargs="*", default=[], help="other rates")
    parser.add_argument(
        "--policies",
        nargs="+",
        default=["passive", "active"],
        choices=["passive", "active"],
        help="OMP_WAIT_POLICY of the workers (grafx's command line sets passive)",
    )
    parser.add_argument("--seconds", type=float, default=13.0, help="length of the stems")
    parser.add_argument("--blocks", type=int, default=5, help="alternating blocks")
    parser.add_argument("--split-steps", type=int, default=10, help="steps of the split")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    configs = [(rate, policy) for rate in [args.rate, *args.compare] for policy in args.policies]
    print(
        f"fit step: console of 7 processors x 5 stems, {args.seconds:g} s stems, crops of "
        f"3.8 s (1 s warm-up), MixLoss + gain staging, AdamW; {args.threads} threads; "
        f"{args.steps} steps per configuration in {args.blocks} alternating blocks (one "
        f"process each); load average before {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    per_block = max(2, -(-args.steps // args.blocks))
    results: dict[tuple, dict] = {c: {"wall": [], "cpu": [], "peak_mb": 0.0} for c in configs}
    loads = []
    for block in range(args.blocks):  # A B A B: the load changes alike for every configuration
        for config in configs:
            last = block == args.blocks - 1
            out = run_worker(
                args, *config, per_block, seed=block, split_steps=args.split_steps if last else 0
            )
            r = results[config]
            r["wall"] += out["wall"]
            r["cpu"] += out["cpu"]
            r["peak_mb"] = max(r["peak_mb"], out["peak_mb"])
            if last:
                r["split"] = out["split"]
            loads.append(os.getloadavg()[0])
    print()
    print(
        "| rate Hz | OMP wait | steps | median s/step (wall) | steps/s | median CPU s/step | "
        "peak MB | render | loss | penalty | backward | optimizer |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for config in configs:
        r = results[config]
        med = statistics.median(r["wall"])
        parts = " | ".join(
            f"{r['split'][k]:.3f}" for k in ("render", "loss", "penalty", "backward", "optimizer")
        )
        print(
            f"| {config[0]} | {config[1]} | {len(r['wall'])} | **{med:.3f}** | {1 / med:.2f} | "
            f"{statistics.median(r['cpu']):.3f} | {r['peak_mb']:.0f} | {parts} |"
        )
    base = statistics.median(results[configs[0]]["wall"])
    for config in configs[1:]:
        ratio = base / statistics.median(results[config]["wall"])
        print(f"\nratio {configs[0]} / {config} (median wall per step): {ratio:.2f}")
    print(
        "\nsplit: medians of a replica of the step, in the last block, wall seconds; peak MB: "
        "ru_maxrss of the worker process"
    )
    print(f"load average during the blocks: {min(loads):.2f} to {max(loads):.2f}")


if __name__ == "__main__":
    main()
