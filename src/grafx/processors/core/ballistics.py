r"""Attack/release ballistics: a one-pole smoother whose coefficient depends on the direction.

.. math::
    y[n] = (1 - c_n)\, y[n-1] + c_n\, x[n], \qquad
    c_n = \begin{cases} c_\downarrow & x[n] < y[n-1] \\ c_\uparrow & \text{otherwise} \end{cases}

with :math:`y[-1] = y_0`. This is torchcomp's ``compressor_core`` recursion (its ``at`` is our
``fall_coeff``, its ``rt`` our ``rise_coeff``). The forward pass is inherently sequential; the
backward pass is the adjoint linear recursion run backwards in time with the directions frozen:

.. math::
    \lambda[n] = \bar y[n] + (1 - c_{n+1})\,\lambda[n+1], \quad
    \bar x[n] = c_n \lambda[n], \quad
    \bar c_n = \lambda[n]\,(x[n] - y[n-1]), \quad
    \bar y_0 = (1 - c_0)\lambda[0].

Backends (``backend=``):

* ``"torch"``: pure torch on the signals' own device. The directions are found by a fixed
  point: guess them, solve the then linear recursion by a parallel scan
  (:func:`~grafx.processors.core.scan.linear_recurrence`), re-read the directions from the
  result, repeat until they no longer change. Each round fixes at least the first wrong
  direction of every row (the samples before it are exact), so it ends; time is cut into
  chunks of :data:`TORCH_CHUNK` samples, each solved this way from the previous chunk's state,
  which keeps the rounds few. The same numbers as the loops, to rounding.
* ``"numba"``: our own compiled loops, rows split over threads (needs the optional ``numba``
  extra, ``pip install 'grafx-torch[numba]'``); CPU only, other devices go through host copies.
* ``"python"``: the loops in plain Python over each row (exact and slow; the reference the
  others are tested against).
* ``"torchcomp"``: torchcomp's ``compressor_core`` (needs ``torchcomp`` and ``torchlpc``).
* ``"auto"`` (default): chosen per call: ``"numba"`` for CPU tensors when numba is installed,
  else ``"torch"``.

The compiled loops are cached on disk only when the environment variable
``GRAFX_NUMBA_CACHE=1`` is set (the cache is written beside the installed package);
``GRAFX_NUMBA=0`` makes ``"auto"`` ignore numba.
"""

from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from grafx.errors import ConfigError, MissingDependencyError
from grafx.processors.core.scan import linear_recurrence, reverse_linear_recurrence

BALLISTICS_BACKENDS = ("auto", "torch", "numba", "python", "torchcomp")

#: Samples per time chunk of the ``"torch"`` backend's fixed point.
TORCH_CHUNK = 16384


def _forward_python(x, zi, fall, rise, y, falling) -> None:
    # Plain Python floats per row: far less per-sample overhead than numpy calls on tiny rows.
    for b, row in enumerate(x.tolist()):
        state, c_fall, c_rise = float(zi[b]), float(fall[b]), float(rise[b])
        k_fall, k_rise = 1.0 - c_fall, 1.0 - c_rise
        out, down = [0.0] * len(row), [False] * len(row)
        for t, value in enumerate(row):
            if value < state:
                state = k_fall * state + c_fall * value
                down[t] = True
            else:
                state = k_rise * state + c_rise * value
            out[t] = state
        y[b] = out
        falling[b] = down


def _backward_python(
    grad_y, x, y, zi, fall, rise, falling, grad_x, grad_zi, grad_fall, grad_rise
) -> None:
    coeff = np.where(falling, fall[:, None], rise[:, None])
    decay_next = np.zeros_like(coeff)
    decay_next[:, :-1] = 1 - coeff[:, 1:]
    lam = np.empty_like(grad_y)
    for b, (g_row, d_row) in enumerate(zip(grad_y.tolist(), decay_next.tolist(), strict=True)):
        acc, out = 0.0, [0.0] * len(g_row)
        for t in range(len(g_row) - 1, -1, -1):
            acc = g_row[t] + d_row[t] * acc
            out[t] = acc
        lam[b] = out
    y_prev = np.concatenate([zi[:, None], y[:, :-1]], axis=1)
    pull = lam * (x - y_prev)
    grad_x[...] = coeff * lam
    grad_zi[...] = (1 - coeff[:, 0]) * lam[:, 0]
    grad_fall[...] = np.where(falling, pull, 0).sum(1)
    grad_rise[...] = np.where(falling, 0, pull).sum(1)


def numba_enabled() -> bool:
    """Whether ``"auto"`` backends may use numba: installed and not disabled (``GRAFX_NUMBA=0``)."""
    if os.environ.get("GRAFX_NUMBA", "1").strip() in ("0", "false", "no", "off"):
        return False
    return importlib.util.find_spec("numba") is not None


def auto_backend(x: Tensor) -> str:
    """The backend ``"auto"`` runs for signals ``x``: numba's loops on CPU if enabled, else torch."""
    return "numba" if x.device.type == "cpu" and numba_enabled() else "torch"


def resolve_backend(backend: str) -> str:
    """Check a backend name and that what it needs is installed.

    ``"auto"`` is returned as is: it is chosen per call, by the signals' device
    (:func:`auto_backend`).
    """
    if backend not in BALLISTICS_BACKENDS:
        raise ConfigError(
            f"ballistics: unknown backend {backend!r}; use one of {BALLISTICS_BACKENDS}"
        )
    if backend == "auto":
        return backend
    needs = {"numba": ("numba",), "torchcomp": ("torchcomp", "torchlpc")}.get(backend, ())
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"ballistics backend {backend!r} needs {', '.join(missing)}; install it "
            f"(pip install {' '.join(missing)}) or use backend='torch'"
        )
    return backend


#: Signals with fewer samples than this in total run on one thread: below it, waking the
#: workers costs more than the split saves.
_THREADED_MIN_SAMPLES = 2**17

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()
_hooked = False


def _worker_pool(workers: int) -> ThreadPoolExecutor:
    """The process-wide pool of row threads, made on first use and remade when torch's thread
    count changes; :func:`close_worker_pool` (also run at exit) ends its threads.

    Starting threads on every call would cost more than the kernels themselves on short signals.
    """
    global _pool, _pool_workers, _hooked
    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="grafx-rows")
            _pool_workers = workers
            if not _hooked:  # hooks only once a pool exists: importing registers nothing
                atexit.register(close_worker_pool)
                if hasattr(os, "register_at_fork"):
                    os.register_at_fork(after_in_child=_forget_pool)
                _hooked = True
        return _pool


def close_worker_pool(wait: bool = True) -> None:
    """Shut down the threads of :func:`run_rows` (the numba loops of ballistics and envelopes).

    The next threaded call makes a new pool. Registered with :mod:`atexit` once the pool exists.

    Args:
        wait: wait until the threads have exited.
    """
    global _pool, _pool_workers
    with _pool_lock:
        pool, _pool, _pool_workers = _pool, None, 0
    if pool is not None:
        pool.shutdown(wait=wait)


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads.
    global _pool, _pool_workers, _pool_lock
    _pool, _pool_workers, _pool_lock = None, 0, threading.Lock()


def run_rows(kernel: Any, arrays: tuple[np.ndarray, ...]) -> None:
    """Call a row-wise kernel, splitting the rows over torch's thread count for big inputs.

    The calling thread runs the first block itself (waking it again after a wait costs about
    as much as a block of a short signal); the process-wide pool runs the others.
    """
    rows = arrays[0].shape[0]
    workers = min(torch.get_num_threads(), rows)
    if workers < 2 or arrays[0].size < _THREADED_MIN_SAMPLES:
        kernel(*arrays)
        return
    bounds = np.linspace(0, rows, workers + 1).astype(int)
    blocks = [tuple(a[lo:hi] for a in arrays) for lo, hi in itertools.pairwise(bounds)]
    pool = _worker_pool(torch.get_num_threads() - 1)
    futures = [pool.submit(kernel, *block) for block in blocks[1:]]
    try:
        kernel(*blocks[0])
    finally:
        for future in futures:
            future.result()


def _run_forward(backend: str, x: np.ndarray, zi, fall, rise) -> tuple[np.ndarray, np.ndarray]:
    y = np.empty_like(x)
    falling = np.empty(x.shape, dtype=bool)
    if backend == "numba":
        # deferred: numba is an optional dependency, imported (and compiling) on first use
        from grafx.processors.core.ballistics_numba import forward_kernel

        run_rows(forward_kernel, (x, zi, fall, rise, y, falling))
    else:
        _forward_python(x, zi, fall, rise, y, falling)
    return y, falling


def _run_backward(backend: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    x = arrays[1]
    grads = (np.empty_like(x), *(np.empty(x.shape[0], dtype=x.dtype) for _ in range(3)))
    if backend == "numba":
        # deferred: numba is an optional dependency, imported (and compiling) on first use
        from grafx.processors.core.ballistics_numba import backward_kernel

        run_rows(backward_kernel, (*arrays, *grads))
    else:
        _backward_python(*arrays, *grads)
    return grads


def to_numpy(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


class _BallisticsFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, zi: Tensor, fall: Tensor, rise: Tensor, backend: str
    ) -> Tensor:
        y_np, falling_np = _run_forward(
            backend, to_numpy(x), to_numpy(zi), to_numpy(fall), to_numpy(rise)
        )
        y = torch.from_numpy(y_np).to(x.device)
        falling = torch.from_numpy(falling_np).to(x.device)
        ctx.backend = backend
        ctx.save_for_backward(x, y, zi, fall, rise, falling)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        saved = [to_numpy(t) for t in (grad_y, *ctx.saved_tensors)]
        grads = [torch.from_numpy(g).to(grad_y.device) for g in _run_backward(ctx.backend, *saved)]
        return (
            *(g if need else None for g, need in zip(grads, ctx.needs_input_grad, strict=False)),
            None,
        )


def _directions_fixed_point(
    x: Tensor, zi: Tensor, fall: Tensor, rise: Tensor
) -> tuple[Tensor, Tensor]:
    """Outputs and directions of one chunk ``x (N, T)`` from states ``zi (N,)`` (see module)."""
    falling = torch.zeros_like(x, dtype=torch.bool)
    for _ in range(x.shape[-1] + 1):  # each round fixes at least one more sample
        coeff = torch.where(falling, fall[:, None], rise[:, None])
        drive = coeff * x
        drive[:, 0] += (1 - coeff[:, 0]) * zi
        y = linear_recurrence(1 - coeff, drive)
        now = x < torch.cat([zi[:, None], y[:, :-1]], -1)
        if torch.equal(now, falling):
            break
        falling = now
    return y, falling


class _TorchBallisticsFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, zi: Tensor, fall: Tensor, rise: Tensor) -> Tensor:
        x, zi, fall, rise = (t.detach() for t in (x, zi, fall, rise))
        ys, directions, state = [], [], zi
        for start in range(0, x.shape[-1], TORCH_CHUNK):
            y, falling = _directions_fixed_point(
                x[:, start : start + TORCH_CHUNK], state, fall, rise
            )
            ys.append(y)
            directions.append(falling)
            state = y[:, -1]
        y, falling = torch.cat(ys, -1), torch.cat(directions, -1)
        ctx.save_for_backward(x, y, zi, fall, rise, falling)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        x, y, zi, fall, rise, falling = ctx.saved_tensors
        coeff = torch.where(falling, fall[:, None], rise[:, None])
        decay_next = F.pad(1 - coeff[:, 1:], (0, 1))
        lam = reverse_linear_recurrence(decay_next, grad_y)
        pull = lam * (x - torch.cat([zi[:, None], y[:, :-1]], -1))
        grad_fall = torch.where(falling, pull, 0).sum(1)
        grad_rise = pull.sum(1) - grad_fall
        return coeff * lam, (1 - coeff[:, 0]) * lam[:, 0], grad_fall, grad_rise


def ballistics(
    x: Tensor,
    fall_coeff: Tensor,
    rise_coeff: Tensor,
    initial: Tensor | float = 1.0,
    backend: str = "auto",
) -> Tensor:
    r"""Smooth ``x`` with attack/release ballistics (see the module docstring).

    Args:
        x: signals, ``(N, L)``.
        fall_coeff: :math:`c_\downarrow \in [0, 1]`, the weight of the new sample while the
            input is below the state (torchcomp's ``at``), ``(N,)``.
        rise_coeff: :math:`c_\uparrow \in [0, 1]`, the weight while the input is at or above
            the state (torchcomp's ``rt``), ``(N,)``.
        initial: the state before the first sample, :math:`y_0`, a float or ``(N,)``.
        backend: ``"auto"``, ``"torch"``, ``"numba"``, ``"python"`` or ``"torchcomp"``.

    Returns:
        The smoothed signals, ``(N, L)``, differentiable in every tensor argument.
    """
    backend = resolve_backend(backend)
    if backend == "auto":
        backend = auto_backend(x)
    zi = torch.as_tensor(initial, dtype=x.dtype, device=x.device).expand(x.shape[0])
    fall = fall_coeff.to(x.dtype)
    rise = rise_coeff.to(x.dtype)
    if backend == "torchcomp":
        import torchcomp

        return torchcomp.compressor_core(x, zi.contiguous(), fall, rise)
    if backend == "torch":
        return _TorchBallisticsFunction.apply(x, zi.contiguous(), fall, rise)
    return _BallisticsFunction.apply(x, zi, fall, rise, backend)
