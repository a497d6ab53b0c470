"""Songs per hour: packed fitting (one batched graph) vs one by one, and Ray vs local executor.

Packing: 4 synthetic songs (grafx.fit.many.write_demo_songs) are fitted with grafx fit's recipe,
once one by one (grafx.cli.fit.fit_job per song) and once packed (grafx.fit.many.fit_packed),
alternating A B, after a warm-up, median of --repeats, torch.set_num_threads(2), in this
process. Executors (--executors): grafx fit-many on the same songs with the local executor and
with Ray started locally on 2 CPUs (--jobs 2, 1 thread each), alternating, median of --repeats;
Ray's start-up is included, as a user would pay it.

    PYTHONPATH=src python benchmarks/bench_fit_many.py [--steps 20] [--repeats 5] [--executors]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch


def jobs_for(songs, folder: Path, fit_args: tuple[str, ...]):
    from grafx.cli.fit import prepare_fit
    from grafx.fit.many.song import fit_args_namespace

    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.redirect_stdout(io.StringIO()):
        return [
            prepare_fit(fit_args_namespace(s, str(folder / s.song_id), fit_args)) for s in songs
        ]


def one_by_one(songs, folder, fit_args) -> float:
    from grafx.cli.fit import fit_job

    jobs = jobs_for(songs, folder, fit_args)
    began = time.perf_counter()
    for job in jobs:
        fit_job(job)
    return time.perf_counter() - began


def packed(songs, folder, fit_args) -> float:
    from grafx.fit.many.pack import PackedSong, fit_packed

    jobs = jobs_for(songs, folder, fit_args)
    items = [
        PackedSong(
            j.G,
            j.processors,
            j.parameters,
            j.stems,
            j.target,
            j.loss_fn,
            j.config,
            j.type_sequence,
            None,
            j.penalties,
        )
        for j in jobs
    ]
    began = time.perf_counter()
    results = fit_packed(items)
    elapsed = time.perf_counter() - began
    bad = [r for r in results if isinstance(r, Exception)]
    if bad:
        raise bad[0]
    return elapsed


def executor_run(manifest, folder: Path, fit_args, executor: str) -> float:
    from grafx.fit.many import fit_many

    shutil.rmtree(folder, ignore_errors=True)
    began = time.perf_counter()
    report = fit_many(
        manifest, folder, fit_args, executor=executor, jobs=2, threads=1, progress=False
    )
    if report.failed:
        raise RuntimeError(f"{executor}: songs failed: {report.failed}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each song")
    parser.add_argument("--executors", action="store_true", help="also compare Ray with local")
    args = parser.parse_args()
    torch.set_num_threads(2)
    from grafx.fit.many import read_manifest, write_demo_songs

    root = Path(tempfile.mkdtemp(prefix="bench-fit-many-"))
    manifest = write_demo_songs(
        root / "songs", args.songs, sample_rate=16000, duration=args.seconds
    )
    songs = read_manifest(manifest)
    fit_args = ("--steps", str(args.steps), "--crop", "1.0", "--warmup", "0.2")
    print(
        f"{args.songs} songs of {args.seconds:g} s at 16 kHz, {args.steps} steps, 2 threads; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    one_by_one(songs[:1], root / "w", fit_args)  # warm-up
    packed(songs[:2], root / "w", fit_args)
    times = {"one by one": [], "packed": []}
    for _ in range(args.repeats):
        times["one by one"].append(one_by_one(songs, root / "a", fit_args))
        times["packed"].append(packed(songs, root / "b", fit_args))
    rows = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'method':<14}{'median s':>10}{'songs/hour':>12}")
    for name, seconds in rows.items():
        print(f"{name:<14}{seconds:>10.2f}{3600 * args.songs / seconds:>12.0f}")
    print(f"packed / one by one songs per hour: {rows['one by one'] / rows['packed']:.2f}x")
    if args.executors:
        runs = {"local": [], "ray": []}
        for _ in range(args.repeats):
            for name, seconds in runs.items():
                seconds.append(executor_run(manifest, root / name, fit_args, name))
        local, ray = (statistics.median(runs[k]) for k in ("local", "ray"))
        print(
            f"fit-many --jobs 2: local {local:.1f} s, ray {ray:.1f} s (medians); "
            f"ray / local songs per hour: {local / ray:.2f}x"
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
