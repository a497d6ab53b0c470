"""``fit_many``: fit every song of a manifest into one output folder, resumably."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grafx.errors import ConfigError
from grafx.fit.many.folder import RunFolder
from grafx.fit.many.manifest import Song, read_manifest
from grafx.fit.many.song import Task, check_fit_args

EXECUTORS = ("local", "ray")


@dataclass
class FitManyReport:
    """What :func:`fit_many` did: song ids per outcome and the summary file."""

    done: list[str]
    failed: list[str]
    skipped: list[str]
    summary: Path
    seconds: float


def fit_many(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    fit_args: Sequence[str] = (),
    executor: str = "local",
    jobs: int = 1,
    pack: int = 1,
    threads: int | None = None,
    retries: int = 2,
    address: str | None = None,
    checkpoint_every: int = 10,
    progress: bool = True,
    device: str = "auto",
) -> FitManyReport:
    """Fit every song of ``manifest``; finished songs are skipped, interrupted ones resume.

    Args:
        manifest: the manifest (:func:`~grafx.fit.many.read_manifest`).
        out: the output folder (layout in :mod:`grafx.fit.many.folder`).
        fit_args: ``grafx fit`` options for every song (e.g. ``["--steps", "100"]``).
        executor: ``"local"`` (worker processes on this machine) or ``"ray"``.
        jobs: tasks run at once (worker processes, or Ray CPUs when Ray starts locally).
        pack: songs per task, fitted together in one batched graph when more than 1.
        threads: torch threads per task (default: the CPUs divided among ``jobs``).
        retries: times a task whose worker died is run again (from its checkpoints).
        address: Ray cluster address (``executor="ray"``); ``None`` starts Ray locally.
        checkpoint_every: steps between a song's checkpoints (and its log lines).
        progress: show the overall progress bar.
        device: where each task fits (``grafx fit --device``; ``"auto"``: CUDA when the
            worker has a usable GPU, else the CPU). Not part of the run's identity: a run may
            resume on another device.

    Returns:
        A :class:`FitManyReport`.

    Raises:
        ManifestError: a bad manifest, or an output folder holding another manifest's results.
        ConfigError: a bad option.
    """
    from tqdm.auto import tqdm

    from grafx.fit.many.executors import run_local, run_ray

    began = time.perf_counter()
    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    for name, value in (("jobs", jobs), ("pack", pack), ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise ConfigError(f"fit-many option {name}={value} must be at least 1")
    if retries < 0:
        raise ConfigError(f"fit-many option retries={retries} must be 0 or more")
    fit_args = tuple(fit_args)
    check_fit_args(fit_args)
    songs = read_manifest(manifest)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder")
    folder = RunFolder(root)
    folder.open(manifest, songs, fit_args)
    skipped = [s.song_id for s in songs if folder.is_finished(s.song_id)]
    todo = [s for s in songs if not folder.is_finished(s.song_id)]
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    tasks = [
        Task(str(root), tuple(todo[i : i + pack]), fit_args, checkpoint_every, threads, 1, device)
        for i in range(0, len(todo), pack)
    ]
    for song in todo:
        folder.check_idle(song.song_id)  # a worker that outlived its parent still holds its lock
        folder.clear_running(song.song_id)
    ended: set[str] = set()
    lost: dict[str, str] = {}
    bar = tqdm(
        total=len(songs), initial=len(skipped), desc="fit-many", unit="song", disable=not progress
    )

    def status(song_id: str) -> str | None:
        if folder.is_finished(song_id):
            return "done"
        record = folder.record(song_id)
        return "failed" if record and record.get("status") == "failed" else None

    def unfinished(task: Task) -> tuple[Song, ...]:
        return tuple(s for s in task.songs if status(s.song_id) is None)

    def refresh() -> None:
        now_done = {s.song_id for s in todo if status(s.song_id) is not None}
        new = now_done - ended
        if new:
            ended.update(new)
            bar.update(len(new))
            folder.write_summary(songs)
        live = {p.stem for p in (folder.state / "running").glob("*.json")} - ended
        failed = sum(1 for s in todo if status(s.song_id) == "failed")
        finished = len(skipped) + len(ended) - failed
        bar.set_postfix_str(f"done {finished}, running {len(live)}, failed {failed}")

    def on_event(kind: str, task: Task | None) -> None:
        if task is None:  # a tick
            pass
        elif kind == "retry":
            for song in task.songs:
                message = f"worker died; retrying from its checkpoint (attempt {task.attempt})"
                folder.log(song.song_id, message)
        elif kind == "lost":
            for song in task.songs:
                message = f"the worker died {retries + 1} time(s); giving up"
                folder.write_record(song.song_id, {"status": "failed", "error": message})
                folder.log(song.song_id, f"failed: {message}")
                lost[song.song_id] = message
        refresh()

    for song_id in skipped:
        folder.log(song_id, "already finished; skipped")
    try:
        if executor == "local":
            run_local(tasks, jobs, retries, unfinished, on_event)
        else:
            run_ray(tasks, jobs, retries, unfinished, on_event, address)
        refresh()
    finally:
        bar.close()
    summary = folder.write_summary(songs)
    done = [s.song_id for s in todo if status(s.song_id) == "done"]
    failed = [s.song_id for s in todo if status(s.song_id) == "failed"]
    return FitManyReport(done, failed, skipped, summary, time.perf_counter() - began)
