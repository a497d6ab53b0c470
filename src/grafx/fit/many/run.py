"""``fit_many``: fit every song of a manifest into one output folder, resumably."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grafx.errors import ConfigError
from grafx.fit.many.executors import run_local, run_ray
from grafx.fit.many.folder import RunFolder
from grafx.fit.many.manifest import Song, read_manifest
from grafx.fit.many.song import Task
from grafx.fit.options import FitOptions
from grafx.progress import Progress

EXECUTORS = ("local", "ray")
LOGGER = logging.getLogger(__name__)


@dataclass
class FitManyReport:
    """What :func:`fit_many` did: song ids per outcome and the summary file."""

    done: list[str]
    failed: list[str]
    skipped: list[str]
    summary: Path
    seconds: float


#: Settings of the shared :class:`~grafx.fit.options.FitOptions` that are not part of a run's
#: identity: the songs' files, and where and how visibly each task fits (a run may resume on
#: another device).
NOT_IDENTITY = ("stems", "target", "out", "device", "progress")


def fit_many(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    options: FitOptions | None = None,
    executor: str = "local",
    jobs: int = 1,
    pack: int = 1,
    threads: int | None = None,
    retries: int = 2,
    address: str | None = None,
    checkpoint_every: int = 10,
    progress: bool = True,
) -> FitManyReport:
    """Fit every song of ``manifest``; finished songs are skipped, interrupted ones resume.

    Args:
        manifest: the manifest (:func:`~grafx.fit.many.read_manifest`).
        out: the output folder (layout in :mod:`grafx.fit.many.folder`).
        options: the fit options every song shares (``None``: the defaults); their ``stems``,
            ``target`` and ``out`` must be left empty (each song's come from the manifest), and
            a song's groups file replaces theirs. ``options.device`` is where each task fits
            (``"auto"``: CUDA when the worker has a usable GPU, else the CPU); it is not part of
            the run's identity, so a run may resume on another device.
        executor: ``"local"`` (worker processes on this machine) or ``"ray"``.
        jobs: tasks run at once (worker processes, or Ray CPUs when Ray starts locally).
        pack: songs per task, fitted together in one batched graph when more than 1.
        threads: torch threads per task (default: the CPUs divided among ``jobs``).
        retries: times a task whose worker died is run again (from its checkpoints).
        address: Ray cluster address (``executor="ray"``); ``None`` starts Ray locally.
        checkpoint_every: steps between a song's checkpoints (and its log lines).
        progress: show the overall progress (:class:`grafx.progress.Progress`: a bar on a
            terminal, a log line every few seconds elsewhere).

    Returns:
        A :class:`FitManyReport`.

    Raises:
        ManifestError: a bad manifest, or an output folder holding another manifest's results.
        ConfigError: a bad option (checked before any song starts).
    """
    began = time.perf_counter()
    options = FitOptions() if options is None else options
    _check(options, executor, jobs, pack, checkpoint_every, retries)
    songs = read_manifest(manifest)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder")
    folder = RunFolder(root)
    identity = {k: v for k, v in options.as_record().items() if k not in NOT_IDENTITY}
    folder.open(manifest, songs, identity)
    skipped = [s.song_id for s in songs if folder.is_finished(s.song_id)]
    todo = [s for s in songs if not folder.is_finished(s.song_id)]
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    tasks = [
        Task(str(root), tuple(todo[i : i + pack]), options, checkpoint_every, threads, 1)
        for i in range(0, len(todo), pack)
    ]
    LOGGER.info(
        f"grafx fit-many: {len(songs)} songs ({len(skipped)} finished before); fitting "
        f"{len(todo)} in {len(tasks)} task(s) of up to {pack}, {jobs} at a time ({executor})"
    )
    for song in todo:
        folder.check_idle(song.song_id)  # a worker that outlived its parent still holds its lock
        folder.clear_running(song.song_id)
    for song_id in skipped:
        folder.log(song_id, "already finished; skipped")
    watch = _Watch(folder, songs, todo, skipped, retries, progress)
    try:
        if executor == "local":
            run_local(tasks, jobs, retries, watch.unfinished, watch.on_event)
        else:
            run_ray(tasks, jobs, retries, watch.unfinished, watch.on_event, address)
        watch.refresh()
    finally:
        watch.progress.close()
    summary = folder.write_summary(songs)
    done = [s.song_id for s in todo if watch.status(s.song_id) == "done"]
    failed = [s.song_id for s in todo if watch.status(s.song_id) == "failed"]
    return FitManyReport(done, failed, skipped, summary, time.perf_counter() - began)


def _check(
    options: FitOptions, executor: str, jobs: int, pack: int, checkpoint_every: int, retries: int
) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    for name, value in (("jobs", jobs), ("pack", pack), ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise ConfigError(f"fit-many option {name}={value} must be at least 1")
    if retries < 0:
        raise ConfigError(f"fit-many option retries={retries} must be 0 or more")
    if not isinstance(options, FitOptions):
        raise ConfigError(
            f"fit_many: options must be a grafx.fit.options.FitOptions, got "
            f"{type(options).__name__} (grafx fit-many parses its --fit words into one)"
        )
    for name in ("stems", "target", "out"):
        if getattr(options, name):
            raise ConfigError(f"fit-many: the fit options' {name} is set per song by the manifest")
    options.validate(files=False)


class _Watch:
    """What the run learns from the folder as its tasks end: each song's status, the progress
    display, the records of songs whose worker died for good."""

    def __init__(
        self,
        folder: RunFolder,
        songs: Sequence[Song],
        todo: Sequence[Song],
        skipped: Sequence[str],
        retries: int,
        progress: bool,
    ):
        self.folder, self.songs, self.todo, self.skipped = folder, songs, todo, skipped
        self.retries = retries
        self.ended: set[str] = set()
        self.progress = Progress(
            "fit-many", len(songs), initial=len(skipped), unit="song", enabled=progress
        )

    def status(self, song_id: str) -> str | None:
        if self.folder.is_finished(song_id):
            return "done"
        record = self.folder.record(song_id)
        return "failed" if record and record.get("status") == "failed" else None

    def unfinished(self, task: Task) -> tuple[Song, ...]:
        return tuple(s for s in task.songs if self.status(s.song_id) is None)

    def refresh(self) -> None:
        now_done = {s.song_id for s in self.todo if self.status(s.song_id) is not None}
        new = now_done - self.ended
        if new:
            self.ended.update(new)
            self.folder.write_summary(self.songs)
        live = {p.stem for p in (self.folder.state / "running").glob("*.json")} - self.ended
        failed = sum(1 for s in self.todo if self.status(s.song_id) == "failed")
        finished = len(self.skipped) + len(self.ended) - failed
        self.progress.update(
            len(self.skipped) + len(self.ended),
            finished=finished,
            running=len(live),
            failed=failed,
        )

    def on_event(self, kind: str, task: Task | None) -> None:
        if task is not None and kind == "retry":
            for song in task.songs:
                message = f"worker died; retrying from its checkpoint (attempt {task.attempt})"
                self.folder.log(song.song_id, message)
        elif task is not None and kind == "lost":
            for song in task.songs:
                message = f"the worker died {self.retries + 1} time(s); giving up"
                self.folder.write_record(song.song_id, {"status": "failed", "error": message})
                self.folder.log(song.song_id, f"failed: {message}")
        self.refresh()
