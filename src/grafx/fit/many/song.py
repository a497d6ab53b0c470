"""The work of one task of a fit-many run: fit a pack of songs into their folders.

A task runs in a worker process (local pool or Ray). It prepares each song exactly as
``grafx fit`` does (:func:`grafx.cli.fit.prepare_fit`, from ``grafx fit``'s own options), in the
song's work folder, fits the pack (one song: :func:`grafx.fit.job.fit_job`; several:
:func:`~grafx.fit.many.pack.fit_packed`), writes each song's outputs
(:func:`grafx.fit.job.finish_job`), then records and publishes it.
A song that fails is recorded with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shlex
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grafx.fit.many.folder import RunFolder, SongBusy
from grafx.fit.many.manifest import Song

if TYPE_CHECKING:
    from grafx.fit.loop import FitResult


@dataclass(frozen=True)
class Task:
    """A pack of songs for one worker, with the ``grafx fit`` options they are fitted with."""

    root: str
    songs: tuple[Song, ...]
    fit_args: tuple[str, ...]
    checkpoint_every: int = 10
    threads: int = 1
    attempt: int = 1
    device: str = "auto"


def fit_args_namespace(song: Song, out: str, fit_args: tuple[str, ...]):
    """The ``grafx fit`` arguments of one song, parsed by ``grafx fit``'s own parser."""
    from grafx.cli import build_parser

    argv = ["fit", "--stems", *song.stems, "--target", song.target, "--out", out, "--quiet"]
    if song.groups:
        argv += ["--groups", song.groups]
    return build_parser().parse_args([*argv, *fit_args])


def check_fit_args(fit_args: tuple[str, ...]) -> None:
    """Refuse ``grafx fit`` options that fit-many sets per song, or that ``grafx fit`` refuses,
    once, before any song starts."""
    from grafx.cli import build_parser
    from grafx.cli.common import CLIError

    for taken in ("--stems", "--target", "--out"):
        if taken in fit_args:
            raise CLIError(
                f"--fit {shlex.join(fit_args)!r}: {taken} is set per song by the manifest"
            )
    argv = ["fit", "--stems", "s.wav", "--target", "t.wav", "--out", "o", *fit_args]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser().parse_args(argv)
    except SystemExit:
        reason = errors.getvalue().strip().removeprefix("grafx: error: grafx fit: ")
        raise CLIError(f"--fit {shlex.join(fit_args)!r}: {reason}") from None


def run_task(task: Task) -> list[str]:
    """Fit the task's songs; returns the ids of the songs it finished (done or failed)."""
    import torch

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
                from grafx.fit.job import fit_job

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
    import os

    return os.getpid()


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _prepare(folder: RunFolder, song: Song, task: Task):
    from grafx.cli.fit import prepare_fit

    # The device is the task's, not part of the run's options: a run may resume on another
    # machine. A --device among the fit options wins (it comes last).
    fit_args = ("--device", task.device, *task.fit_args)
    args = fit_args_namespace(song, str(folder.work_dir(song.song_id)), fit_args)
    with _quiet():
        job = prepare_fit(args)
    steps = job.config.steps

    def log_progress(step: int, loss: float) -> None:
        if (step + 1) % task.checkpoint_every == 0 or step + 1 == steps:
            folder.log(song.song_id, f"step {step + 1}/{steps} loss {loss:.4f}")

    job.config = dataclasses.replace(
        job.config, checkpoint_every=task.checkpoint_every, progress=False
    )
    return job, log_progress


def _fit_pack(jobs):
    from grafx.fit.many.pack import PackedSong, fit_packed

    return fit_packed([PackedSong(**job.fit_arguments(callback)) for _, job, callback in jobs])


def _finish(folder: RunFolder, song: Song, job, result, pack_size: int) -> None:
    from grafx.fit.job import finish_job

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
