"""Fuzz driver: hostile graph files, processor-spec arguments and CLI arguments.

Each case runs ``grafx`` in a forked child with a time limit and an address-space limit and is
classified: ``ok`` (ran), ``error`` (one ``grafx: error:`` line, status 1 or 2), ``traceback``
(a raw Python traceback), ``hang`` (over the time limit) or ``memory`` (killed or a
``MemoryError`` under the limit). Prints one line per case that is not ``ok``/``error`` and the
counts per class.

Usage: ``PYTHONPATH=src python benchmarks/fuzz_inputs.py [--timeout 20] [--only spec] [--src DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

MEMORY_LIMIT = 3 * 2**30


def _child(argv: list[str], log: str) -> None:
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = open(fd, "w", buffering=1)  # noqa: SIM115
    try:
        from grafx.cli import main

        status = main(argv)
    except SystemExit as error:
        status = error.code if isinstance(error.code, int) else 1
    except BaseException:  # noqa: BLE001 - what the case is looking for
        traceback.print_exc()
        status = 3
    sys.stdout.flush()
    os._exit(status)


def run(argv: list[str], timeout: float, cwd: str) -> tuple[str, str]:
    """Run ``grafx ARGV`` in a forked child (grafx already imported) and classify the outcome."""
    import multiprocessing

    log = os.path.join(cwd, "case.log")
    process = multiprocessing.get_context("fork").Process(target=_child, args=(argv, log))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        return "hang", ""
    with open(log) as file:
        err = file.read()
    if "MemoryError" in err or process.exitcode < 0:
        return "memory", err.strip().splitlines()[-1][:200] if err.strip() else ""
    if "Traceback" in err:
        return "traceback", err.strip().splitlines()[-1][:200]
    if process.exitcode == 0:
        return "ok", ""
    return "error", err.strip().splitlines()[-1][:200] if err.strip() else ""


def base_document(tmp: Path) -> dict:
    from grafx.io import save_graph
    from grafx.presets import build_mixing_console, console_processors

    G, _ = build_mixing_console(2)
    path = tmp / "base.json"
    save_graph(G, path, None, processors=console_processors())
    return json.loads(path.read_text())


def graph_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    base = base_document(tmp)
    cases = []

    def add(name: str, document) -> None:
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(document) if not isinstance(document, str) else document)
        cases.append((f"graph:{name}", ["info", str(path)]))

    add("counter-1e8", {**base, "counter": 100_000_000})
    add("counter-2e15", {**base, "counter": 2 * 10**15})
    nodes = [dict(n) for n in base["nodes"]]
    big = max(n["id"] for n in nodes)
    for n in nodes:
        if n["id"] == big:
            n["id"] = 10**9
    edges = [
        {
            **e,
            "source": 10**9 if e["source"] == big else e["source"],
            "dest": 10**9 if e["dest"] == big else e["dest"],
        }
        for e in base["edges"]
    ]
    doc = {**base, "nodes": nodes, "edges": edges}
    doc.pop("counter", None)
    add("node-id-1e9", doc)
    add(
        "type-surrogate",
        json.dumps(
            {**base, "nodes": base["nodes"] + [{"id": 999, "type": "\udc80", "name": None}]}
        ).replace("\\\\udc80", "\\udc80"),
    )
    for value in ("string", 7):
        doc = json.loads(json.dumps(base))
        doc["processors"]["delay"] = {"processor": "DryWet", "args": {"processor": value}}
        add(f"drywet-{value}", doc)
    doc = json.loads(json.dumps(base))
    doc["processors"]["delay"] = {
        "processor": "BlackBox",
        "args": {"fn": "x", "settings": {}, "executor": "process", "num_workers": 10**6},
    }
    add("blackbox-workers", doc)
    return cases


EXTREMES = [0, -1, 10**9, 1e30]


def spec_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    import inspect

    from grafx.data import GRAFX
    from grafx.io import save_graph
    from grafx.processors import registry

    cases = []
    for name in registry.processor_names():
        cls = registry.get_processor_class(name)
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.default is p.empty:
                continue
            numeric = isinstance(p.default, (int, float)) and not isinstance(p.default, bool)
            if not numeric and p.name not in ("num_workers", "f_max", "sr", "seed"):
                continue
            for value in EXTREMES:
                if (
                    p.annotation in ("int", int)
                    and isinstance(value, float)
                    and not value.is_integer()
                ):
                    continue
                G = GRAFX()
                i = G.add("in")
                x = G.add("x")
                o = G.add("out")
                G.connect(i, x)
                G.connect(x, o)
                path = tmp / "spec.json"
                save_graph(G, path, None)
                document = json.loads(path.read_text())
                document["processors"] = {"x": {"processor": name, "args": {p.name: value}}}
                case = tmp / f"spec-{name}-{p.name}-{value}.json"
                case.write_text(json.dumps(document))
                cases.append(
                    (
                        f"spec:{name}.{p.name}={value}",
                        [
                            "render",
                            str(case),
                            "--sources",
                            str(tmp / "tone.wav"),
                            "-o",
                            str(tmp / "o.wav"),
                        ],
                    )
                )
    return cases


def cli_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    graph = str(tmp / "base.json")
    tone, tone2 = str(tmp / "tone.wav"), str(tmp / "tone2.wav")
    fifo = tmp / "fifo.json"
    if not fifo.exists():
        os.mkfifo(fifo)
    link = tmp / "zero.json"
    if not link.exists():
        link.symlink_to("/dev/zero")
    fit = ["fit", "--stems", tone, tone2, "--target", tone, "--steps", "1", "--quiet"]
    return [
        ("cli:draw-dpi-0", ["draw", graph, "-o", str(tmp / "d.png"), "--dpi", "0"]),
        ("cli:draw-dpi--1", ["draw", graph, "-o", str(tmp / "d.png"), "--dpi", "-1"]),
        ("cli:draw-dpi-1e5", ["draw", graph, "-o", str(tmp / "d.png"), "--dpi", "100000"]),
        ("cli:seed--1", [*fit, "--out", str(tmp / "f1"), "--seed", "-1"]),
        ("cli:seed-2**64", [*fit, "--out", str(tmp / "f2"), "--seed", str(2**64)]),
        ("cli:sample-rate-1e9", [*fit, "--out", str(tmp / "f3"), "--sample-rate", "1000000000"]),
        ("cli:lr-1e300", [*fit, "--out", str(tmp / "f4"), "--lr", "1e300"]),
        ("cli:buses-1e9", [*fit, "--out", str(tmp / "f5"), "--buses", "1000000000"]),
        ("cli:buses-3", [*fit, "--out", str(tmp / "f6"), "--buses", "3"]),
        ("cli:threads-4096", ["--threads", "4096", "info", graph]),
        ("cli:threads-0", ["--threads", "0", "info", graph]),
        ("cli:fifo-graph", ["info", str(fifo)]),
        ("cli:dev-zero-graph", ["info", "/dev/zero"]),
        ("cli:symlink-zero", ["info", str(link)]),
        (
            "cli:fifo-stem",
            ["fit", "--stems", str(fifo), "--target", tone, "--out", str(tmp / "f7")],
        ),
        ("cli:out-empty", [*fit, "--out", ""]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--only", choices=("graph", "spec", "cli"), default=None)
    parser.add_argument("--src", default="src", help="the grafx source tree to run")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.src))
    import torch

    torch.set_num_threads(1)
    import soundfile as sf

    import grafx.cli  # noqa: F401 - imported once, before the children fork

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        t = np.arange(8000) / 8000
        sf.write(tmp / "tone.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 8000)
        sf.write(tmp / "tone2.wav", 0.2 * np.sin(2 * np.pi * 330 * t), 8000)
        os.chdir(folder)
        kinds = {"graph": graph_cases, "spec": spec_cases, "cli": cli_cases}
        cases = []
        for kind, make in kinds.items():
            if args.only in (None, kind):
                cases += make(tmp)
        counts: dict[str, int] = {}
        for name, argv in cases:
            verdict, detail = run(argv, args.timeout, folder)
            counts[verdict] = counts.get(verdict, 0) + 1
            if verdict not in ("ok", "error"):
                print(f"{verdict:9s} {name}: {detail}", flush=True)
        print(f"{len(cases)} cases: {counts}")


if __name__ == "__main__":
    main()
