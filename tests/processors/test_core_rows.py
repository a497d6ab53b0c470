"""Row splitting over threads (``run_rows``): the same numbers as one thread, one shared pool."""

import importlib.util
import multiprocessing
import threading

import numpy as np
import pytest
import torch

import grafx.processors.core.ballistics as ballistics_module
from grafx.processors.core.ballistics import ballistics, run_rows
from grafx.processors.core.envelope import truncated_one_pole

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="the threaded path is numba's"
)


@pytest.fixture
def threaded(monkeypatch):
    """Two torch threads and no size threshold, so every call with 2+ rows is split."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(ballistics_module, "_THREADED_MIN_SAMPLES", 0)
    yield
    torch.set_num_threads(before)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ballistics_and_grads(x, fall, rise, init):
    leaves = [t.clone().requires_grad_(True) for t in (x, fall, rise, init)]
    y = ballistics(*leaves, backend="numba")
    weights = torch.cos(torch.arange(x.shape[-1], dtype=x.dtype))
    grads = torch.autograd.grad((y * weights).sum(), leaves)
    return y.detach(), grads


def test_threaded_ballistics_equals_one_thread(threaded, monkeypatch):
    x = torch.rand(5, 300, dtype=torch.float64, generator=gen(0))
    fall = torch.linspace(0.05, 0.9, 5, dtype=torch.float64)
    rise = torch.linspace(0.6, 0.01, 5, dtype=torch.float64)
    init = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    calls = []
    real_submit = ballistics_module.ThreadPoolExecutor.submit
    monkeypatch.setattr(
        ballistics_module.ThreadPoolExecutor,
        "submit",
        lambda pool, *a: calls.append(a) or real_submit(pool, *a),
    )
    y2, grads2 = ballistics_and_grads(x, fall, rise, init)
    assert len(calls) == 2  # forward and backward each sent one block to the pool
    monkeypatch.setattr(ballistics_module, "_THREADED_MIN_SAMPLES", 10**9)
    y1, grads1 = ballistics_and_grads(x, fall, rise, init)
    assert len(calls) == 2
    torch.testing.assert_close(y2, y1, rtol=0, atol=0)
    for a, b in zip(grads2, grads1, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_threaded_one_pole_equals_fft(threaded):
    x = torch.randn(3, 500, dtype=torch.float64, generator=gen(1))
    z = torch.tensor([[-1.0], [0.5], [2.0]], dtype=torch.float64)
    y = truncated_one_pole(x, z, iir_len=200, backend="recursion")
    want = truncated_one_pole(x, z, iir_len=200, backend="fft")
    torch.testing.assert_close(y, want, rtol=0, atol=1e-12)


def test_one_pool_for_all_calls_remade_when_threads_change(threaded):
    arrays = (np.zeros((4, 8)), np.zeros((4, 8)))

    def kernel(x, y):
        y[...] = x + 1

    run_rows(kernel, arrays)
    pool = ballistics_module._pool
    run_rows(kernel, arrays)
    assert ballistics_module._pool is pool
    np.testing.assert_array_equal(arrays[1], 1.0)
    torch.set_num_threads(3)  # 2 blocks for the pool, the caller runs the first
    run_rows(kernel, arrays)
    assert ballistics_module._pool is not pool
    assert ballistics_module._pool_workers == 2


def test_error_in_a_pool_block_reaches_the_caller(threaded):
    def kernel(x):
        if x[0, 0] > 0:
            raise ValueError("block failed")

    x = np.array([[0.0], [1.0]])  # the second block, run by the pool, fails
    with pytest.raises(ValueError, match="block failed"):
        run_rows(kernel, (x,))


def _child_split(queue):
    x = np.arange(8.0).reshape(4, 2)
    y = np.empty_like(x)

    def kernel(a, b):
        b[...] = 2 * a

    run_rows(kernel, (x, y))
    queue.put(y.tolist())


def test_forked_child_gets_its_own_pool(threaded):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    run_rows(lambda x: None, (np.zeros((2, 1)),))  # the parent's pool exists before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_split, args=(queue,))
    child.start()
    result = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert result == (2 * np.arange(8.0).reshape(4, 2)).tolist()


def test_close_worker_pool_ends_the_row_threads(threaded):
    ballistics_module.close_worker_pool()
    x = torch.rand(4, 64, dtype=torch.float64, generator=gen(3))
    coeff = torch.full((4,), 0.3, dtype=torch.float64)
    ballistics(x, coeff, coeff, backend="numba")
    alive = [t for t in threading.enumerate() if t.name.startswith("grafx-rows")]
    assert alive, "the threaded path made no pool"
    ballistics_module.close_worker_pool()
    assert not any(t.is_alive() for t in alive)
    assert ballistics_module._pool is None
