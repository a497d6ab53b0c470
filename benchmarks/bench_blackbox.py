"""Black-box processors: how well the estimated gradients point, and what a step costs.

Usage::

    .venv/bin/python benchmarks/bench_blackbox.py [--length 32768] [--repeats 5] [--json out.json]

Table 1, estimator quality: grafx's own differentiable processors wrapped as black boxes
(``grafx.testing.blackbox.reference_cases``), 8 nodes, stereo noise, random parameters
and a random incoming gradient; the cosine similarity between the estimated and the analytic
gradient of each node (mean and worst over nodes; "all": the cosine of all nodes' gradients as
one vector) for central finite differences and SPSA with 8 (the default) and 32 samples, over
``--seeds`` draws.

Table 2, time per step (forward + backward, batch 8, stereo, ``--length`` samples, float32, 2
torch threads, alternating, warm-up, median of ``--repeats``): the analytic processor, its black
box with each estimator in a thread pool, and SPSA called serially; then pedalboard plugins
(``PedalboardEffect``) with SPSA in threads against serial calls. Ratios: box / analytic and
serial / threads (the pool's speed-up), and for the plugins the process CPU time over the wall
time of the threaded step (above 1 when calls ran at the same time; on a machine whose cores are
taken by other work a speed-up cannot show, but the overlap does).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from bench_filters import alternate

from grafx.processors.blackbox_pedalboard import PedalboardEffect
from grafx.testing.blackbox import gradient_cosine, reference_cases, wrap_processor

BATCH = 8
ESTIMATORS = {
    "finite_difference": {"estimator": "finite_difference"},
    "spsa(8)": {"estimator": "spsa"},
    "spsa(32)": {"estimator": "spsa", "num_samples": 32},
}
PLUGINS = {
    "Compressor": {"threshold_db": (-60.0, 0.0), "ratio": (1.0, 20.0)},
    "Reverb": {"room_size": (0.0, 1.0), "wet_level": (0.0, 1.0)},
    "Distortion": {"drive_db": (0.0, 40.0)},
}


def random_inputs(box, length: int, seed: int, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(BATCH, 2, length, generator=gen, dtype=dtype)
    params = {
        k: 0.8 * torch.randn(BATCH, n, generator=gen, dtype=dtype)
        for k, n in box.parameter_size().items()
    }
    return x, params, torch.randn(BATCH, 2, length, generator=gen, dtype=dtype)


def cosine_table(length: int, seeds: int) -> list[dict]:
    rows = []
    for name, (processor, ranges) in reference_cases().items():
        for label, options in ESTIMATORS.items():
            box = wrap_processor(processor, ranges, **options)
            cosines = []
            for seed in range(seeds):
                x, params, g = random_inputs(box, length, seed)
                cosine, est, ana = gradient_cosine(processor, box, x, params, g)
                whole = torch.nn.functional.cosine_similarity(est.flatten(), ana.flatten(), 0)
                cosines.append((cosine, whole))
            per_node = torch.cat([c for c, _ in cosines])
            rows.append(
                {
                    "processor": name,
                    "settings": sum(box.parameter_size().values()),
                    "estimator": label,
                    "mean": per_node.mean().item(),
                    "min": per_node.min().item(),
                    "all": torch.stack([w for _, w in cosines]).mean().item(),
                }
            )
            print(
                f"| {name} | {rows[-1]['settings']} | {label} | {rows[-1]['mean']:.3f} | "
                f"{rows[-1]['min']:.3f} | {rows[-1]['all']:.3f} |",
                flush=True,
            )
    return rows


def step(processor, x, params):
    def run():
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        xg = x.detach().requires_grad_()
        processor(xg, **leaves).square().mean().backward()

    return run


def time_table(length: int, repeats: int) -> list[dict]:
    rows = []
    for name, (processor, ranges) in reference_cases().items():
        boxes = {
            "analytic": processor,
            "fd threads": wrap_processor(processor, ranges, estimator="finite_difference"),
            "spsa threads": wrap_processor(processor, ranges),
            "spsa serial": wrap_processor(processor, ranges, executor="serial"),
        }
        box = boxes["spsa threads"]
        x, z, _ = random_inputs(box, length, 0, torch.float32)
        params = dict(
            zip(
                processor.parameter_size(),
                box.values_from_units(torch.sigmoid(torch.cat(list(z.values()), -1))),
                strict=True,
            )
        )
        shapes = processor.parameter_size()
        params = {
            k: v.reshape(BATCH, *((s,) if isinstance(s, int) else s))
            for (k, s), v in zip(shapes.items(), params.values(), strict=True)
        }
        fns = {"analytic": step(processor, x, params)}
        fns.update({label: step(b, x, z) for label, b in boxes.items() if label != "analytic"})
        times = alternate(fns, repeats)
        rows.append({"processor": name, **times})
        print(
            f"| {name} | {times['analytic'] * 1e3:.1f} | {times['fd threads'] * 1e3:.1f} | "
            f"{times['spsa threads'] * 1e3:.1f} | {times['spsa serial'] * 1e3:.1f} | "
            f"{times['spsa threads'] / times['analytic']:.1f} | "
            f"{times['spsa serial'] / times['spsa threads']:.2f} |",
            flush=True,
        )
    return rows


def cpu_per_wall(fn, repeats: int) -> float:
    """Process CPU time over wall time of ``fn`` (above 1: calls ran at the same time)."""
    fn()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def plugin_table(length: int, repeats: int) -> list[dict]:
    rows = []
    for name, settings in PLUGINS.items():
        threaded = PedalboardEffect(name, settings, 44100)
        serial = PedalboardEffect(name, settings, 44100, executor="serial")
        gen = torch.Generator().manual_seed(0)
        x = 0.3 * torch.randn(BATCH, 2, length, generator=gen)
        z = {k: torch.randn(BATCH, 1, generator=gen) for k in threaded.parameter_size()}
        times = alternate({"threads": step(threaded, x, z), "serial": step(serial, x, z)}, repeats)
        overlap = cpu_per_wall(step(threaded, x, z), repeats)
        rows.append({"plugin": name, **times, "cpu_per_wall": overlap})
        print(
            f"| {name} | {len(settings)} | {times['threads'] * 1e3:.1f} | "
            f"{times['serial'] * 1e3:.1f} | {times['serial'] / times['threads']:.2f} | "
            f"{overlap:.2f} |",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--length", type=int, default=2**15)
    parser.add_argument("--cosine-length", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=["cosine", "time", "plugins"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs\n")
    print(
        f"Estimated vs analytic gradient, cosine ({BATCH} nodes x {args.seeds} draws, "
        f"stereo, {args.cosine_length} samples, float64)\n"
    )
    print("| processor | settings | estimator | mean | worst node | all nodes |")
    print("| --- | --- | --- | --- | --- | --- |")
    cosines = cosine_table(args.cosine_length, args.seeds) if "cosine" in args.parts else []
    print(
        f"\nTime per step, ms (fwd+bwd, batch {BATCH}, stereo, {args.length} samples, "
        f"float32, 2 threads, median of {args.repeats})\n"
    )
    print(
        "| processor | analytic | fd threads | spsa(8) threads | spsa(8) serial | "
        "spsa / analytic | serial / threads |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    times = time_table(args.length, args.repeats) if "time" in args.parts else []
    print("\npedalboard plugins, SPSA(8), ms per step (same shapes)\n")
    print("| plugin | settings | threads | serial | serial / threads | CPU / wall, threads |")
    print("| --- | --- | --- | --- | --- | --- |")
    plugins = plugin_table(args.length, args.repeats) if "plugins" in args.parts else []
    if args.json:
        args.json.write_text(json.dumps({"cosine": cosines, "time": times, "plugins": plugins}))


if __name__ == "__main__":
    main()
