"""One prepared check of grafx on a GPU: the ``cuda`` tests, then a benchmark table against the CPU.

Run from the repository root, after the README set-up (``bash scripts/bootstrap.sh``)::

    .venv/bin/python benchmarks/gpu_check.py                      # on a machine with a GPU
    .venv/bin/python benchmarks/gpu_check.py --cpu-only --quick   # a dry run without one

It writes ``OUT/gpu_check.json`` (everything: machine, test counts, every timing) and
``OUT/gpu_check.md`` (the table to quote), ``OUT`` being ``--out`` (default ``gpu-check``).

1. **Tests**: ``pytest -m cuda tests/test_cuda.py``: every registered processor's forward and
   backward against the CPU (relative error at most 1e-4 for outputs, 1e-3 for gradients, in
   float32), a console render, a fit and a packed fit of a few steps, ``grafx render`` of a
   saved graph file, ``grafx fit`` and ``grafx prune`` with ``--device``.
2. **Table**, the device against the CPU (``--threads``, default 2, as in BENCHMARKS.md), each
   measured alternating device and CPU, median of ``--repeats`` after a warm-up, float32,
   stereo noise of ``--samples`` samples (default 2**17) at 44.1 kHz:

   * render forward (no autograd) and forward+backward (a mean-square loss, gradients for every
     parameter) of ``console8`` (8 tracks, 2 buses), ``console32`` (32 tracks, 4 buses) and
     ``strip32`` (32 channel strips straight into ``out``), the consoles of
     :func:`grafx.presets.build_mixing_console` with :func:`~grafx.presets.console_processors`
     at neutral settings;
   * one fit step (:func:`grafx.fit.fit_parameters` with the recipe: MixLoss, gain staging,
     AdamW, a 3.8 s crop with 1 s of warm-up at 30 kHz) on ``console8``;
   * ``console8`` pruned to half its processors (a seeded choice, as
     ``benchmarks/bench_prune.py``) against the full ``console8``, forward+backward, on each
     device: the speed-up of pruning.

   The goals (issue "GPU"): every processor within 1e-4 of the CPU (the tests), the fit step at
   least 5x faster than on 2 CPU threads, the pruned graph at least 2x faster than its full
   graph on the GPU.

``--cpu-only`` runs everything with the CPU as the "device" too (the tests with
``GRAFX_TEST_DEVICE=cpu``, CPU against CPU), so the script itself is checked end to end on any
machine; its ratios are then about 1 and mean nothing. ``--budget`` (seconds for the whole
check, default 400; the tests get at most 60% of it) bounds the run: table rows left when it
is spent are recorded as skipped (the goals' rows come first), so a run ends within 8 minutes
on one GPU. ``--only fit,prune,render`` picks parts of the table.

If this torch has no CUDA but the machine has an NVIDIA GPU, the script says so and stops: see
the README ("Running on a GPU") for installing a CUDA build of torch into ``.venv`` or making a
venv that uses the machine's own torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from grafx.device import describe_device, move_processors, move_tree  # noqa: E402
from grafx.fit import GraphRenderer, fit_parameters  # noqa: E402
from grafx.presets import (  # noqa: E402
    build_mixing_console,
    console_parameters,
    console_processors,
)

RATE = 44100
FIT_RATE = 30000
GRAPHS = {"console8": (8, 2), "console32": (32, 4), "strip32": (32, 0)}
GOALS = {"fit_step_speedup": 5.0, "pruned_speedup": 2.0, "processor_rtol": 1e-4}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu-check", help="output folder (default: gpu-check)")
    parser.add_argument("--cpu-only", action="store_true", help="dry run: the CPU as the device")
    parser.add_argument("--device", default="cuda", help="the device to check (default: cuda)")
    parser.add_argument("--quick", action="store_true", help="short audio, few repeats")
    parser.add_argument("--samples", type=int, default=2**17, help="render length (2**17)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per case (5)")
    parser.add_argument("--fit-steps", type=int, default=8, help="timed fit steps (8)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (2)")
    parser.add_argument(
        "--budget", type=float, default=400.0, help="seconds for the whole check (400)"
    )
    parser.add_argument("--skip-tests", action="store_true", help="only the table")
    parser.add_argument(
        "--only",
        default="fit,prune,render",
        help="parts of the table, comma-separated (default: fit,prune,render)",
    )
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    unknown = args.only - {"fit", "prune", "render"}
    if unknown:
        parser.error(f"--only: unknown part(s) {sorted(unknown)}; use fit, prune, render")
    if args.quick:
        args.samples, args.repeats, args.fit_steps = 2**14, 2, 3
    return args


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine(device: torch.device) -> dict:
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": describe_device(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info["gpu"] = properties.name
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
    return info


def check_cuda_or_explain(device: torch.device) -> None:
    if device.type != "cuda" or torch.cuda.is_available():
        return
    has_gpu = shutil.which("nvidia-smi") is not None
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU build)"
    lines = [f"gpu_check: torch {torch.__version__} in {sys.executable} has {build}"]
    if has_gpu:
        lines += [
            "but this machine has an NVIDIA GPU (nvidia-smi). Either install a CUDA build of",
            "torch into this venv:",
            f"  {sys.executable} -m pip install --force-reinstall 'torch==2.13.0' "
            "--index-url https://download.pytorch.org/whl/cu126",
            "or make a venv that uses the machine's own CUDA torch (README 'Running on a GPU'):",
            "  python3 -m venv --system-site-packages .venv-gpu && "
            ".venv-gpu/bin/python -m pip install -e '.[test]'",
            "and run this script with that python.",
        ]
    else:
        lines.append("and no GPU is visible here; use --cpu-only for a dry run")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.exit(2)


def run_tests(out: Path, cpu_only: bool, device: torch.device, timeout: float) -> dict:
    """``pytest -m cuda tests/test_cuda.py``; counts and failures from its JUnit XML."""
    report = out / "cuda-tests.xml"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env["GRAFX_TEST_DEVICE"] = "cpu" if cpu_only else str(device)
    command = [
        sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q",
        "-p", "no:cacheprovider", f"--junitxml={report}",
    ]  # fmt: skip
    began = time.perf_counter()
    try:
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        status, tail = result.returncode, (result.stdout + result.stderr)[-3000:]
    except subprocess.TimeoutExpired as error:
        status, tail = "timeout", str(error)
    seconds = time.perf_counter() - began
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed = []
    if report.exists():
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        for key in counts:
            counts[key] = int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(case.get("name"))
    return {
        "status": status,
        "seconds": round(seconds, 1),
        **counts,
        "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
        "failed": failed,
        "output_tail": tail if status != 0 else "",
    }


class Clock:
    """Alternating timings of a device case and its CPU twin, within a time budget."""

    def __init__(self, device: torch.device, repeats: int, deadline: float):
        self.device, self.repeats, self.deadline = device, repeats, deadline

    @property
    def spent(self) -> bool:
        return time.perf_counter() > self.deadline

    def time_once(self, fn, device: torch.device) -> float:
        synchronize(device)
        began = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - began

    def pair(self, on_device, on_cpu, warmup: int = 2) -> tuple[float, float]:
        """Median seconds of ``on_device`` and ``on_cpu``, run alternately."""
        for _ in range(warmup):
            self.time_once(on_device, self.device)
            self.time_once(on_cpu, torch.device("cpu"))
        times_device, times_cpu = [], []
        for _ in range(self.repeats):
            times_device.append(self.time_once(on_device, self.device))
            times_cpu.append(self.time_once(on_cpu, torch.device("cpu")))
        return statistics.median(times_device), statistics.median(times_cpu)


def render_case(num_tracks: int, num_buses: int, samples: int, device, backward: bool, nodes=()):
    """A function rendering a console (minus ``nodes``) on ``device``, and its node count."""
    from grafx.prune import remove_nodes

    G, sequence = build_mixing_console(num_tracks, num_buses)
    processors = console_processors()
    parameters = console_parameters(G, processors, RATE)
    if nodes:
        G, parameters = remove_nodes(G, parameters, nodes)
        sequence = None
    renderer = GraphRenderer(G, move_processors(processors, device), sequence).to(device)
    generator = torch.Generator().manual_seed(0)
    stems = 0.1 * torch.randn(num_tracks, 2, samples, generator=generator)
    stems = stems.to(device)
    parameters = move_tree(parameters, device)
    leaves = [v for tree in parameters.values() for v in tree.values()]
    for leaf in leaves:
        leaf.requires_grad_(backward)

    def run():
        if backward:
            for leaf in leaves:
                leaf.grad = None
            mix, _ = renderer(stems, parameters)
            mix.square().mean().backward()
        else:
            with torch.no_grad():
                renderer(stems, parameters)

    return run, G.number_of_nodes()


def pruned_nodes(num_tracks: int, num_buses: int, seed: int = 0) -> list[int]:
    """Half of a console's processor nodes, chosen by a seeded permutation."""
    G, _ = build_mixing_console(num_tracks, num_buses)
    processors = [n for n, t in sorted(G.nodes(data="node_type")) if t not in ("in", "out", "mix")]
    order = torch.randperm(len(processors), generator=torch.Generator().manual_seed(seed))
    return sorted(processors[i] for i in order[: len(processors) // 2].tolist())


def fit_step_time(device: torch.device, steps: int, seconds: float = 6.0) -> float:
    """Median seconds of a recipe fit step on ``console8`` (after two warm-up steps)."""
    from grafx.fit.recipe import recipe_config, recipe_loss, recipe_penalties

    G, sequence = build_mixing_console(8, 2)
    processors = move_processors(console_processors(), device)
    parameters = move_tree(console_parameters(G, processors, FIT_RATE), device)
    generator = torch.Generator().manual_seed(0)
    length = int(seconds * FIT_RATE)
    stems = (0.1 * torch.randn(8, 2, length, generator=generator)).to(device)
    target = (0.3 * stems.sum(0)).to(device)
    used = {t for _, t in G.nodes(data="node_type")}
    config = recipe_config(FIT_RATE, steps=steps + 2, progress=False)
    stamps: list[float] = []

    def tick(step: int, loss: float) -> None:  # the loss was read: the step has ended
        stamps.append(time.perf_counter())

    began = time.perf_counter()
    fit_parameters(
        G, processors, parameters, stems, target, recipe_loss(FIT_RATE), config, sequence,
        callback=tick, penalties=recipe_penalties(node_types=used),
    )  # fmt: skip
    ends = [began, *stamps]
    durations = [b - a for a, b in zip(ends, ends[1:], strict=False)][2:]
    return statistics.median(durations)


def table(args, device: torch.device, deadline: float) -> list[dict]:
    """The rows, goals first (fit step, pruned against full), then the renders."""
    torch.set_num_threads(args.threads)
    clock = Clock(device, args.repeats, deadline)
    cpu = torch.device("cpu")
    rows: list[dict] = []

    def skipped(case: str, mode: str) -> None:
        rows.append({"case": case, "mode": mode, "skipped": "over the time budget"})

    def add(case: str, mode: str, t_device: float, t_cpu: float, nodes: int | None = None):
        rows.append(
            {"case": case, "nodes": nodes, "mode": mode, "device_s": t_device, "cpu_s": t_cpu}
        )
        print(f"{case} {mode}: {t_device * 1e3:.1f} ms vs {t_cpu * 1e3:.1f} ms", flush=True)

    if "fit" in args.only:
        if clock.spent:
            skipped("fit step console8", "recipe")
        else:
            seconds = 4.0 if args.quick else 6.0  # the recipe crops 3.8 s
            t_device = fit_step_time(device, args.fit_steps, seconds)
            add(
                "fit step console8", "recipe", t_device, fit_step_time(cpu, args.fit_steps, seconds)
            )
    if "prune" in args.only:
        nodes = pruned_nodes(8, 2)
        for label, removed in (("console8 full", ()), ("console8 pruned", nodes)):
            if clock.spent:
                skipped(label, "forward+backward")
                continue
            on_device, count = render_case(8, 2, args.samples, device, True, removed)
            on_cpu, _ = render_case(8, 2, args.samples, cpu, True, removed)
            add(label, "forward+backward", *clock.pair(on_device, on_cpu), count)
    if "render" in args.only:
        for name, (tracks, buses) in GRAPHS.items():
            for backward in (False, True):
                mode = "forward+backward" if backward else "forward"
                if clock.spent:
                    skipped(name, mode)
                    continue
                on_device, count = render_case(tracks, buses, args.samples, device, backward)
                on_cpu, _ = render_case(tracks, buses, args.samples, cpu, backward)
                add(name, mode, *clock.pair(on_device, on_cpu), count)
    for row in rows:
        if "device_s" in row:
            row["speedup"] = row["cpu_s"] / row["device_s"]
    return rows


def goals(rows: list[dict], tests: dict | None) -> dict:
    by_case = {r["case"]: r for r in rows if "device_s" in r}
    result: dict = {}
    if tests is not None:
        result["processors_within_1e-4"] = tests["status"] == 0 and not tests["failed"]
    fit = by_case.get("fit step console8")
    if fit:
        result["fit_step_speedup"] = round(fit["speedup"], 2)
        result["fit_step_goal_met"] = fit["speedup"] >= GOALS["fit_step_speedup"]
    full, pruned = by_case.get("console8 full"), by_case.get("console8 pruned")
    if full and pruned:
        result["pruned_speedup_device"] = round(full["device_s"] / pruned["device_s"], 2)
        result["pruned_speedup_cpu"] = round(full["cpu_s"] / pruned["cpu_s"], 2)
        result["pruned_goal_met"] = result["pruned_speedup_device"] >= GOALS["pruned_speedup"]
    return result


def markdown(report: dict) -> str:
    info, args = report["machine"], report["settings"]
    lines = [
        f"## grafx GPU check ({info['date']})",
        "",
        f"Device: {info['device']}; CPU reference: {args['threads']} threads "
        f"({info['cpu_count']} cores, load {info['load_average']}); torch {info['torch']} "
        f"(CUDA {info['torch_cuda']}); float32; {args['samples']} samples at {RATE} Hz, "
        f"median of {args['repeats']} alternating repeats.",
        "",
    ]
    if report["cpu_only"]:
        lines += ["**Dry run (`--cpu-only`): the device is the CPU; the ratios mean nothing.**", ""]
    tests = report.get("tests")
    if tests is not None:
        failed = f"; failed: {', '.join(tests['failed'])}" if tests["failed"] else ""
        lines += [
            f"Tests (`pytest -m cuda tests/test_cuda.py`): {tests['passed']} passed, "
            f"{tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped in "
            f"{tests['seconds']} s{failed}",
            "",
        ]
    lines += [
        "| case | nodes | mode | device (ms) | CPU (ms) | speed-up |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        if "skipped" in row:
            lines.append(f"| {row['case']} | | {row['mode']} | skipped | | |")
            continue
        lines.append(
            f"| {row['case']} | {row.get('nodes') or ''} | {row['mode']} | "
            f"{row['device_s'] * 1e3:.1f} | {row['cpu_s'] * 1e3:.1f} | {row['speedup']:.1f}x |"
        )
    lines += ["", "Goals: " + json.dumps(report["goals"]), ""]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    device = torch.device("cpu") if args.cpu_only else torch.device(args.device)
    check_cuda_or_explain(device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    deadline = began + args.budget
    tests = None
    if not args.skip_tests:
        print("running the cuda tests ...", flush=True)
        tests = run_tests(out.resolve(), args.cpu_only, device, 0.6 * args.budget)
        print(
            f"tests: {tests['passed']} passed, {tests['failures'] + tests['errors']} failed, "
            f"{tests['skipped']} skipped in {tests['seconds']} s",
            flush=True,
        )
    rows = table(args, device, deadline)
    report = {
        "cpu_only": args.cpu_only,
        "machine": machine(device),
        "settings": {
            **{k: getattr(args, k) for k in ("samples", "repeats", "fit_steps", "threads")},
            "budget": args.budget,
            "only": sorted(args.only),
        },
        "tests": tests,
        "rows": rows,
        "goals": goals(rows, tests),
        "seconds": round(time.perf_counter() - began, 1),
    }
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (out / "gpu_check.md").write_text(text)
    print(text)
    print(f"wrote {out}/gpu_check.json and {out}/gpu_check.md in {report['seconds']} s")
    failed = tests is not None and (tests["status"] != 0 or tests["failed"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
