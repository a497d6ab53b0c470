"""Where the tasks of a fit-many run execute: local worker processes, or Ray tasks.

Both executors run :func:`~grafx.fit.many.song.run_task` and learn what happened from the output
folder, not from return values, so a worker that dies (killed, out of memory) loses nothing that
was checkpointed: its task is submitted again (up to ``retries`` times) and resumes from the
songs' checkpoints.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterable
from multiprocessing.process import BaseProcess

from grafx.errors import MissingDependencyError
from grafx.fit.many.song import Task, run_task

#: ``on_event(kind, task)`` with kind ``"start"``, ``"end"`` (the worker returned or died) or
#: ``"retry"``; the caller reads the records.
Event = Callable[[str, Task | None], None]


def _task_body(task: Task) -> None:  # a worker process's entry point
    run_task(task)


def run_local(
    tasks: Iterable[Task], workers: int, retries: int, unfinished, on_event: Event
) -> None:
    """Run tasks in up to ``workers`` spawned processes at a time (one process per task).

    A process per task keeps a crash (or a kill) of one task from taking the others with it; a
    task whose process ends with songs still unfinished (``unfinished(task)`` not empty) is
    started again with those songs, up to ``retries`` times.
    """
    context = multiprocessing.get_context("spawn")
    pending = list(tasks)
    running: list[tuple[BaseProcess, Task]] = []
    try:
        while pending or running:
            while pending and len(running) < workers:
                task = pending.pop(0)
                process: BaseProcess = context.Process(target=_task_body, args=(task,), daemon=True)
                process.start()
                running.append((process, task))
                on_event("start", task)
            time.sleep(0.2)
            on_event("tick", None)
            for process, task in list(running):
                if process.is_alive():
                    continue
                process.join()
                running.remove((process, task))
                on_event("end", task)
                left = unfinished(task)
                if left and task.attempt <= retries:
                    again = Task(**{**task.__dict__, "songs": left, "attempt": task.attempt + 1})
                    on_event("retry", again)
                    pending.append(again)
                elif left:
                    on_event("lost", Task(**{**task.__dict__, "songs": left}))
    finally:
        for process, _ in running:
            process.terminate()
            process.join()


def run_ray(
    tasks: Iterable[Task],
    workers: int,
    retries: int,
    unfinished,
    on_event: Event,
    address: str | None = None,
) -> None:
    """Run each task as a Ray task (``max_retries=retries``: Ray resubmits a task whose worker
    died, and it resumes from the checkpoints).

    ``address=None`` starts a local Ray on this machine with ``workers`` CPUs (bound to
    127.0.0.1); otherwise it joins that cluster (``"auto"``, ``"ray://head:10001"``), whose
    workers must see the manifest's files and the output folder at the same paths.
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "--executor ray needs Ray: pip install 'grafx-torch[distributed]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
        else:
            ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=retries)(_ray_body)
    try:
        pending = {}
        for task in tasks:
            pending[remote.remote(task)] = task
            on_event("start", task)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                task = pending.pop(ref)
                with contextlib.suppress(Exception):  # a worker that died after every retry
                    ray.get(ref)
                on_event("end", task)
                left = unfinished(task)
                if left:
                    on_event("lost", Task(**{**task.__dict__, "songs": left}))
            on_event("tick", None)
    finally:
        if started_here:
            ray.shutdown()


def _ray_body(task: Task) -> list[str]:
    return run_task(task)
