"""Running a black-box callable on many (audio, settings) jobs at once: threads or processes.

One render step of a black-box node calls the callable once per node (forward) and ``2S`` times
per node (backward). The calls are independent, so they run in a pool:

* ``"thread"`` (default): a shared :class:`~concurrent.futures.ThreadPoolExecutor`. Parallel
  only when the callable releases the GIL (C/C++ extensions such as pedalboard, numpy/scipy on
  long arrays, numba ``nogil``); the callable must be thread-safe (no shared mutable state).
* ``"process"``: a shared :class:`~concurrent.futures.ProcessPoolExecutor` (``spawn``
  context: no fork of a process running torch threads). For pure-Python callables that hold
  the GIL; the callable and its settings must be picklable (module-level functions, classes).
* ``"serial"``: a plain loop in this thread (debugging, or callables that are not thread-safe).
* any :class:`~concurrent.futures.Executor` instance the caller owns (and shuts down, e.g. in a
  ``with`` block).

The shared pools are made on first use, one per kind and size, and live until
:func:`close_shared_executors` or the end of the interpreter (an :mod:`atexit` hook, registered
when the first pool is made, shuts them down). A forked child forgets its parent's pools.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np

from grafx.errors import BlackBoxError, ConfigError

__all__ = [
    "EXECUTORS",
    "close_shared_executors",
    "default_num_workers",
    "describe_callable",
    "run_jobs",
    "shared_executor",
]

EXECUTORS = ("thread", "process", "serial")

_POOLS: dict[tuple[str, int], Executor] = {}
_POOLS_LOCK = threading.Lock()
_HOOKED = False


def close_shared_executors(wait: bool = True) -> None:
    """Shut down every shared pool (their threads or processes end) and forget them.

    A later :func:`shared_executor` call makes a new pool. Registered with :mod:`atexit` once a
    pool exists; call it yourself to release the workers earlier.

    Args:
        wait: wait until the workers have finished their jobs and exited.
    """
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=wait)


def _forget_pools() -> None:
    # A forked child inherits the pool objects but not their workers.
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


def default_num_workers() -> int:
    """The CPUs this process may use (``os.sched_getaffinity`` where available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def shared_executor(kind: str | Executor, num_workers: int | None) -> Executor | None:
    """The pool for ``kind`` (created once per kind and size), ``None`` for ``"serial"``.

    An :class:`~concurrent.futures.Executor` passed as ``kind`` is returned as it is (its owner
    shuts it down); the shared pools last until :func:`close_shared_executors`.
    """
    global _HOOKED
    if isinstance(kind, Executor):
        return kind
    if kind not in EXECUTORS:
        raise ConfigError(
            f"black box: unknown executor {kind!r}; choose from {EXECUTORS} or pass an Executor"
        )
    if kind == "serial":
        return None
    workers = num_workers or default_num_workers()
    with _POOLS_LOCK:
        pool = _POOLS.get((kind, workers))
        if pool is None:
            if kind == "thread":
                pool = ThreadPoolExecutor(workers, thread_name_prefix="grafx-blackbox")
            else:
                context = multiprocessing.get_context("spawn")
                pool = ProcessPoolExecutor(workers, mp_context=context)
            _POOLS[(kind, workers)] = pool
            if not _HOOKED:  # hooks only once a pool exists: importing registers nothing
                atexit.register(close_shared_executors)
                if hasattr(os, "register_at_fork"):
                    os.register_at_fork(after_in_child=_forget_pools)
                _HOOKED = True
    return pool


def describe_callable(fn: Callable) -> str:
    """``module.qualname`` of a function or class, or of an instance's class."""
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    module = getattr(target, "__module__", None)
    name = getattr(target, "__qualname__", repr(target))
    return f"{module}.{name}" if module and module != "builtins" else name


def call_one(fn: Callable, audio: Any, settings: dict[str, Any], where: str) -> np.ndarray:
    """``fn(audio, **settings)`` as a numpy array; any exception becomes a :class:`BlackBoxError`.

    Module-level so that a process pool can pickle it.
    """
    try:
        result = fn(audio, **settings)
    except Exception as error:  # the callable is arbitrary user code
        raise BlackBoxError(
            f"{where}: the callable {describe_callable(fn)} raised {type(error).__name__}: "
            f"{error} (settings {settings})"
        ) from error
    if hasattr(result, "detach"):  # a torch tensor
        result = result.detach().cpu().numpy()
    try:
        return np.asarray(result)
    except Exception as error:
        raise BlackBoxError(
            f"{where}: the callable {describe_callable(fn)} returned a "
            f"{type(result).__name__}, not an array"
        ) from error


_WORKER = threading.local()


def _call_in_worker(fn: Callable, audio: Any, settings: dict[str, Any], where: str) -> np.ndarray:
    """:func:`call_one`, marking this thread as a pool worker while it runs."""
    outer = getattr(_WORKER, "active", False)
    _WORKER.active = True
    try:
        return call_one(fn, audio, settings, where)
    finally:
        _WORKER.active = outer


def run_jobs(
    fn: Callable,
    audios: Sequence[Any],
    settings: Sequence[dict[str, Any]],
    wheres: Sequence[str],
    executor: Executor | None,
) -> list[np.ndarray]:
    """``[fn(a, **s) for a, s in zip(audios, settings)]``, in ``executor`` (``None``: serially).

    Jobs started from inside a pool job (a black box whose callable renders another black box)
    run serially in that worker: queued on the same pool, they could wait for workers that are
    all waiting for them.
    """
    if executor is None or len(audios) == 1 or getattr(_WORKER, "active", False):
        return [call_one(fn, a, s, w) for a, s, w in zip(audios, settings, wheres, strict=True)]
    fns = [fn] * len(audios)
    try:
        return list(executor.map(_call_in_worker, fns, audios, settings, wheres))
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        if isinstance(executor, ProcessPoolExecutor) and "pickle" in str(error).lower():
            raise BlackBoxError(
                f"{wheres[0]}: the callable {describe_callable(fn)} cannot be sent to worker "
                f"processes ({error}); use a module-level function or executor='thread'"
            ) from error
        raise
