"""The work of one task of a fit-many run: fit a pack of songs into their folders.

A task runs in a worker process (local pool or Ray). It prepares each song exactly as
``grafx fit`` does (:func:`grafx.fit.run.prepare_fit`, with the run's shared
:class:`~grafx.fit.options.FitOptions` and the song's files), in the song's work folder, fits
the pack (one song: :func:`grafx.fit.job.fit_job`; several:
:func:`~grafx.fit.many.pack.fit_packed`), writes each song's outputs
(:func:`grafx.fit.job.finish_job`), then records and publishes it.
A song that fails is recorded with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import torch

from grafx.fit.job import FitJob, finish_job, fit_job
from grafx.fit.loop import FitResult
from grafx.fit.many.folder import RunFolder, SongBusy
from grafx.fit.many.manifest import Song
from grafx.fit.many.pack import PackedSong, fit_packed
from grafx.fit.options import FitOptions
from grafx.fit.run import Initializer, prepare_fit
from grafx.nn.prediction import predictor_initializer


@dataclass(frozen=True)
class Task:
    """A pack of songs for one worker, with the fit options they share (their ``stems``,
    ``target`` and ``out`` are each song's; see :func:`song_options`)."""

    root: str
    songs: tuple[Song, ...]
    options: FitOptions
    checkpoint_every: int = 10
    threads: int = 1
    attempt: int = 1


def song_options(song: Song, out: str, shared: FitOptions) -> FitOptions:
    """The fit options of one song: ``shared`` with the song's stems, target and groups file
    (the shared groups file when the manifest gives none), ``out`` as its folder, no progress."""
    return dataclasses.replace(
        shared,
        stems=list(song.stems),
        target=song.target,
        out=out,
        groups=song.groups or shared.groups,
        progress=False,
    )


def run_task(task: Task) -> list[str]:
    """Fit the task's songs; returns the ids of the songs it finished (done or failed)."""
    torch.set_num_threads(max(1, task.threads))
    folder = RunFolder(task.root)
    jobs, ended = [], []
    for song in task.songs:
        try:
            folder.mark_running(song.song_id, task.attempt)
        except SongBusy as error:  # another live process fits it; leave it to that one
            folder.log(song.song_id, f"skipped: {error}")
            continue
        folder.log(song.song_id, f"started (attempt {task.attempt}, pid {folder_pid()})")
        try:
            job, callback = _prepare(folder, song, task)
            jobs.append((song, job, callback))
        except Exception as error:  # noqa: BLE001 - one song's failure is recorded, others go on
            _record_failure(folder, song, error)
            ended.append(song.song_id)
    if len(jobs) == 1:
        song, job, callback = jobs[0]
        try:
            with _quiet():
                results: list[FitResult | Exception] = [fit_job(job, callback)]
        except Exception as error:  # noqa: BLE001
            _record_failure(folder, song, error)
            return [*ended, song.song_id]
    elif jobs:
        try:
            results = _fit_pack(jobs)
        except Exception as error:  # noqa: BLE001 - e.g. options that cannot be packed
            results = [error] * len(jobs)
    else:
        results = []
    for (song, job, _), result in zip(jobs, results, strict=True):
        if isinstance(result, Exception):
            _record_failure(folder, song, result)
        else:
            _finish(folder, song, job, result, len(jobs))
        ended.append(song.song_id)
    return ended


def folder_pid() -> int:
    return os.getpid()


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _prepare(folder: RunFolder, song: Song, task: Task) -> tuple[FitJob, Callable]:
    options = song_options(song, str(folder.work_dir(song.song_id)), task.options)
    with _quiet():
        job = prepare_fit(options, _initializer(options))
    steps = job.config.steps

    def log_progress(step: int, loss: float) -> None:
        if (step + 1) % task.checkpoint_every == 0 or step + 1 == steps:
            folder.log(song.song_id, f"step {step + 1}/{steps} loss {loss:.4f}")

    job.config = dataclasses.replace(
        job.config, checkpoint_every=task.checkpoint_every, progress=False
    )
    return job, log_progress


def _initializer(options: FitOptions) -> Initializer | None:
    return None if options.init is None else predictor_initializer(options.init)


def _fit_pack(jobs: list) -> list:
    return fit_packed([PackedSong(**job.fit_arguments(callback)) for _, job, callback in jobs])


def _finish(folder: RunFolder, song: Song, job: FitJob, result: FitResult, pack_size: int) -> None:
    try:
        metrics = finish_job(job, result, log=None).summary
    except Exception as error:  # noqa: BLE001
        _record_failure(folder, song, error)
        return
    record = {"status": "done", **metrics, "packed_with": pack_size, "finished_at": time.time()}
    folder.write_record(song.song_id, record)
    folder.publish(song.song_id)
    folder.clear_running(song.song_id)
    folder.log(
        song.song_id,
        f"done: {metrics['steps']} steps, loss {metrics['loss_before']:.4f} -> "
        f"{metrics['loss_after']:.4f}, {metrics['seconds']:.1f} s",
    )


def _record_failure(folder: RunFolder, song: Song, error: BaseException) -> None:
    message = " ".join(f"{type(error).__name__}: {error}".split())
    folder.write_record(song.song_id, {"status": "failed", "error": message})
    folder.clear_running(song.song_id)
    folder.log(song.song_id, f"failed: {message}")
    detail = "".join(traceback.format_exception(error)).rstrip().replace("\n", "\n    ")
    folder.log(song.song_id, f"traceback:\n    {detail}")
