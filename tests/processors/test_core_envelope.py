import importlib.util

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.errors import ConfigError, MissingDependencyError, ParameterError
from grafx.processors.core.ballistics import auto_backend, ballistics, resolve_backend
from grafx.processors.core.envelope import (
    Ballistics,
    TruncatedOnePoleIIRFilter,
    alpha_from_z,
    one_pole_fir,
    truncated_one_pole,
    z_from_alpha,
)

HAS_NUMBA = importlib.util.find_spec("numba") is not None
BACKENDS = ["python", "torch"] + (["numba"] if HAS_NUMBA else [])
ONE_POLE_BACKENDS = ["fft", "scan"] + (["recursion"] if HAS_NUMBA else [])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def numpy_ballistics(x, fall, rise, initial):
    """Sample-by-sample reference of y[n] = (1 - c) y[n-1] + c x[n], c by direction."""
    y = np.empty_like(x)
    for b in range(x.shape[0]):
        state = initial[b]
        for n in range(x.shape[1]):
            c = fall[b] if x[b, n] < state else rise[b]
            state = (1 - c) * state + c * x[b, n]
            y[b, n] = state
    return y


def test_alpha_inverse():
    a = torch.tensor([0.01, 0.5, 0.999], dtype=torch.float64)
    torch.testing.assert_close(alpha_from_z(z_from_alpha(a)), a)


@pytest.mark.parametrize("backend", ONE_POLE_BACKENDS)
def test_truncated_one_pole_equals_recursion_when_long_enough(backend):
    x = torch.rand(3, 500, dtype=torch.float64, generator=gen(0))
    z = torch.tensor([[-2.0], [0.5], [4.0]], dtype=torch.float64)
    alpha = torch.sigmoid(z).numpy()[:, 0]
    y = truncated_one_pole(x, z, 16384, backend)  # taps beyond L never reach the output
    for b in range(3):
        want = scipy.signal.lfilter([1 - alpha[b]], [1, -alpha[b]], x[b].numpy())
        np.testing.assert_allclose(y[b].numpy(), want, atol=1e-12)


@pytest.mark.parametrize("backend", ONE_POLE_BACKENDS)
def test_truncated_one_pole_truncates_and_keeps_negative_values(backend):
    x = torch.randn(2, 300, dtype=torch.float64, generator=gen(1))  # negative values too
    z = torch.tensor([[3.0], [1.0]], dtype=torch.float64)
    y = truncated_one_pole(x, z, 50, backend)
    h = one_pole_fir(z, 50).numpy()
    for b in range(2):
        np.testing.assert_allclose(y[b].numpy(), np.convolve(x[b].numpy(), h[b])[:300], atol=1e-12)
    assert (y < 0).any()  # no ReLU: the original's clamp zeroed these


@pytest.mark.parametrize("backend", ONE_POLE_BACKENDS)
def test_truncated_one_pole_gradcheck_and_extremes(backend):
    x = torch.randn(2, 30, dtype=torch.float64, generator=gen(7), requires_grad=True)
    z = torch.tensor([[0.7], [-1.2]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: truncated_one_pole(a, b, 12, backend), (x, z))
    z = torch.tensor([[-200.0], [40.0]], dtype=torch.float64, requires_grad=True)
    y = truncated_one_pole(x, z, 12, backend)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(z.grad).all()
    torch.testing.assert_close(y[0], x[0].detach())  # alpha -> 0: identity


def test_one_pole_module():
    x = torch.randn(2, 64, dtype=torch.float64, generator=gen(8))
    z = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(
        TruncatedOnePoleIIRFilter(iir_len=20)(x, z), truncated_one_pole(x, z, 20, "fft")
    )


def test_one_pole_extreme_alpha_finite():
    z = torch.tensor([[-200.0], [-20.0], [20.0], [200.0]], dtype=torch.float64, requires_grad=True)
    h = one_pole_fir(z, 64)
    h.sum().backward()
    assert torch.isfinite(h).all() and torch.isfinite(z.grad).all()
    torch.testing.assert_close(h[0], torch.eye(64, dtype=torch.float64)[0])  # alpha -> 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ballistics_matches_numpy_loop(backend):
    x = torch.rand(4, 400, dtype=torch.float64, generator=gen(2))
    fall = torch.tensor([0.1, 0.5, 0.9, 0.01], dtype=torch.float64)
    rise = torch.tensor([0.3, 0.05, 0.7, 0.2], dtype=torch.float64)
    init = torch.tensor([0.0, 1.0, 0.5, 2.0], dtype=torch.float64)
    y = ballistics(x, fall, rise, init, backend=backend)
    want = numpy_ballistics(x.numpy(), fall.numpy(), rise.numpy(), init.numpy())
    np.testing.assert_allclose(y.numpy(), want, rtol=0, atol=1e-14)
    y32 = ballistics(x.float(), fall.float(), rise.float(), init.float(), backend=backend)
    assert y32.dtype == torch.float32
    np.testing.assert_allclose(y32.numpy(), want, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ballistics_gradcheck(backend):
    x = torch.rand(3, 40, dtype=torch.float64, generator=gen(3), requires_grad=True)
    fall = torch.tensor([0.2, 0.6, 0.05], dtype=torch.float64, requires_grad=True)
    rise = torch.tensor([0.4, 0.1, 0.8], dtype=torch.float64, requires_grad=True)
    init = torch.tensor([0.3, 0.9, 0.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: ballistics(*a, backend=backend), (x, fall, rise, init)
    )


def test_ballistics_backends_agree_on_gradients():
    if len(BACKENDS) < 2:
        pytest.skip("numba not installed: only one backend to compare")
    x = torch.rand(2, 300, generator=gen(4), requires_grad=True)
    z = torch.tensor([[-1.0, 2.0], [3.0, -4.0]], requires_grad=True)
    grads = []
    for backend in BACKENDS:
        y = Ballistics(backend)(x, z)
        grads.append(torch.autograd.grad((y * torch.cos(torch.arange(300.0))).sum(), (x, z)))
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_ballistics_module_starts_at_one_and_sigmoid_coefficients():
    x = torch.zeros(1, 5, dtype=torch.float64)
    z = torch.tensor([[0.0, 5.0]], dtype=torch.float64)  # falling coefficient sigmoid(0) = 1/2
    y = Ballistics("python")(x, z)
    torch.testing.assert_close(y[0], torch.tensor([0.5, 0.25, 0.125, 0.0625, 0.03125]).double())


def test_errors():
    with pytest.raises(ConfigError, match="backend"):
        resolve_backend("fortran")
    if importlib.util.find_spec("torchcomp") is None:
        with pytest.raises(MissingDependencyError, match="torchcomp"):
            resolve_backend("torchcomp")
    with pytest.raises(ParameterError, match="TruncatedOnePoleIIRFilter.*z_alpha"):
        TruncatedOnePoleIIRFilter()(torch.zeros(2, 10), torch.zeros(2, 2))
    with pytest.raises(ParameterError, match="Ballistics.*z_alpha"):
        Ballistics()(torch.zeros(2, 10), torch.zeros(2, 1))


def test_auto_backends_without_numba(monkeypatch):
    """Without numba (or with GRAFX_NUMBA=0) "auto" runs the torch paths."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "numba" else real_find_spec(name)
    )
    assert resolve_backend("auto") == "auto"
    x = torch.rand(2, 200, dtype=torch.float64, generator=gen(9))
    assert auto_backend(x) == "torch"
    z = torch.tensor([[0.3], [-0.4]], dtype=torch.float64)
    want = truncated_one_pole(x, z, 64, "fft")
    torch.testing.assert_close(truncated_one_pole(x, z, 64), want)
    with pytest.raises(MissingDependencyError, match="grafx-torch\\[numba\\].*'scan'"):
        truncated_one_pole(x, z, 64, "recursion")
    monkeypatch.undo()
    monkeypatch.setenv("GRAFX_NUMBA", "0")
    assert auto_backend(x) == "torch"
    monkeypatch.setenv("GRAFX_NUMBA", "1")
    assert auto_backend(x) == ("numba" if HAS_NUMBA else "torch")
    assert auto_backend(x.to("meta")) == "torch"  # not on the CPU: never numba


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed: nothing to compare with")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_paths_equal_numba_kernels(dtype):
    """The default torch paths give numba's numbers (to rounding), outputs and gradients."""
    length = 9000  # several fixed-point chunks and scan levels
    t = torch.arange(length, dtype=dtype)
    # An envelope-like input: bursts of decaying noise, so both directions occur often.
    x = (torch.rand(3, length, generator=gen(11), dtype=dtype) * torch.sin(t / 700).abs()) ** 2
    z = torch.tensor([[-3.0, 1.0], [2.0, -5.0], [0.0, 0.0]], dtype=dtype)
    init = torch.tensor([1.0, 0.0, 0.3], dtype=dtype)
    weights = torch.cos(t / 50)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-11}
    results = {}
    for backend in ("numba", "torch"):
        leaves = [v.clone().requires_grad_(True) for v in (x, z, init)]
        coeffs = torch.sigmoid(leaves[1])
        y = ballistics(leaves[0], coeffs[:, 0], coeffs[:, 1], leaves[2], backend=backend)
        results[backend] = (y, *torch.autograd.grad((y * weights).sum(), leaves))
    for a, b in zip(results["numba"], results["torch"], strict=True):
        torch.testing.assert_close(b, a, **tol)
    z1 = torch.tensor([[-2.0], [1.5], [6.0]], dtype=dtype)
    results = {}
    for backend in ("recursion", "scan", "fft"):
        leaves = [v.clone().requires_grad_(True) for v in (x, z1)]
        y = truncated_one_pole(leaves[0], leaves[1], 4096, backend)
        results[backend] = (y, *torch.autograd.grad((y * weights).sum(), leaves))
    for torch_path in ("scan", "fft"):
        for a, b in zip(results["recursion"], results[torch_path], strict=True):
            torch.testing.assert_close(b, a, **tol)
