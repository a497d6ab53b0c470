"""The FFT convolution's own backward: autograd's values, float64 gradcheck, double backward."""

from __future__ import annotations

import pytest
import torch

from grafx.processors.core.convolution import _output_range, convolve, fast_fft_len


def _signal(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _plain(x, h, mode):
    """The same convolution through autograd's own FFT and product backwards."""
    n = fast_fft_len(x.shape[-1] + h.shape[-1] - 1)
    start, length = _output_range(x.shape[-1], h.shape[-1], mode)
    y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(h, n=n), n=n)
    return y[..., start : start + length]


SHAPES = [((3, 2, 50), (3, 1, 20)), ((3, 1, 50), (3, 2, 20)), ((2, 50), (20,))]


@pytest.mark.parametrize(("x_shape", "h_shape"), SHAPES)
@pytest.mark.parametrize("mode", ["causal", "zerophase", "full"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_values_and_gradients_equal_autograds(x_shape, h_shape, mode, dtype):
    x = _signal(*x_shape, dtype=dtype).requires_grad_()
    h = _signal(*h_shape, dtype=dtype, seed=1).requires_grad_()
    y = convolve(x, h, mode)
    x_ref = x.detach().clone().requires_grad_()
    h_ref = h.detach().clone().requires_grad_()
    y_ref = _plain(x_ref, h_ref, mode).expand(y.shape)
    assert torch.equal(y, y_ref)  # the forward is the same computation
    g = _signal(*y.shape, dtype=dtype, seed=2)
    grads = torch.autograd.grad(y, (x, h), g)
    grads_ref = torch.autograd.grad(y_ref, (x_ref, h_ref), g)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    for got, want in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize(("x_shape", "h_shape"), [((2, 2, 12), (2, 1, 9)), ((2, 1, 12), (2, 2, 9))])
def test_gradcheck_and_gradgradcheck_float64(x_shape, h_shape):
    x = _signal(*x_shape).requires_grad_()
    h = _signal(*h_shape, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: convolve(a, b, "zerophase"), (x, h))
    assert torch.autograd.gradgradcheck(lambda a, b: convolve(a, b, "full"), (x, h))
    # one operand only
    assert torch.autograd.gradcheck(lambda a: convolve(a, h.detach()), (x,))
    assert torch.autograd.gradcheck(lambda b: convolve(x.detach(), b), (h,))


def test_gradients_finite_at_extreme_values():
    x = torch.full((2, 2, 64), 1e30, dtype=torch.float32).requires_grad_()
    h = torch.full((2, 1, 16), 1e-30, dtype=torch.float32).requires_grad_()
    convolve(x, h, "zerophase").sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(h.grad).all()
