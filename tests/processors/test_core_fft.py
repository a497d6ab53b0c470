import pytest
import torch

from grafx.processors.core.fft import rfft


@pytest.mark.parametrize("length", [1, 2, 37, 64])
@pytest.mark.parametrize("n", [None, 1, 37, 64, 81, 100])
def test_rfft_forward_and_gradient_match_torch(length, n):
    gen = torch.Generator().manual_seed(length * 1000 + (n or 0))
    x = torch.randn(3, 2, length, dtype=torch.float64, generator=gen, requires_grad=True)
    ours, reference = rfft(x, n=n), torch.fft.rfft(x, n=n)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    grad = torch.randn(reference.shape, dtype=torch.complex128, generator=gen)
    (ours_grad,) = torch.autograd.grad(ours, x, grad)
    (reference_grad,) = torch.autograd.grad(reference, x, grad)
    torch.testing.assert_close(ours_grad, reference_grad, rtol=1e-12, atol=1e-12)


def test_rfft_gradcheck_and_second_order():
    x = torch.randn(2, 19, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: torch.view_as_real(rfft(t, n=32)), (x,))
    assert torch.autograd.gradgradcheck(lambda t: torch.view_as_real(rfft(t, n=27)), (x,))


def test_rfft_float32_dtype_and_no_grad_path():
    x = torch.randn(4, 50)
    assert rfft(x, n=64).dtype == torch.complex64
    torch.testing.assert_close(rfft(x), torch.fft.rfft(x))
