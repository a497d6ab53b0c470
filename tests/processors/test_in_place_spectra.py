"""Spectra and blends computed in place: the same values and gradients as the new-tensor forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grafx.processors.core.convolution import convolve
from grafx.processors.core.drywet import drywet_blend
from grafx.processors.core.fft import rfft
from grafx.processors.functional.delay import _zero_phase_filter


def _signal(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _fft_convolution(x, h, n_fft, overwrite):
    X = rfft(x, n=n_fft, overwrite_grad=overwrite)
    H = rfft(h, n=n_fft, overwrite_grad=overwrite)
    return torch.fft.irfft(X * H, n=n_fft)[..., : x.shape[-1]]


@pytest.mark.parametrize("n_fft", [96, 97])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_overwritten_gradient_equals_the_new_tensor_form_bit_for_bit(n_fft, dtype):
    grads = []
    for overwrite in (False, True):
        x = _signal(3, 2, 60, dtype=dtype).requires_grad_()
        h = _signal(3, 1, 30, dtype=dtype, seed=1).requires_grad_()
        y = _fft_convolution(x, h, n_fft, overwrite)
        y.backward(_signal(3, 2, 60, dtype=dtype, seed=2))
        grads.append((x.grad, h.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_overwrite_grad_gradcheck_float64():
    x = _signal(2, 2, 24).requires_grad_()
    h = _signal(2, 1, 9, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: _fft_convolution(a, b, 40, True), (x, h))
    assert torch.autograd.gradgradcheck(lambda a, b: _fft_convolution(a, b, 40, True), (x, h))


def test_expanded_gradient_is_not_written_into():
    # the sum's backward hands over an expanded tensor: weighted into a new one
    x = _signal(2, 50).requires_grad_()
    rfft(x, n=64, overwrite_grad=True).real.sum().backward()
    y = x.detach().clone().requires_grad_()
    torch.fft.rfft(y, n=64).real.sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-12, atol=1e-12)


def test_convolution_gradients_match_numpy_reference():
    x = _signal(2, 2, 300).requires_grad_()
    h = _signal(2, 2, 40, seed=1).requires_grad_()
    g = _signal(2, 2, 300, seed=2)
    convolve(x, h).backward(g)
    # d/dx of sum(g * (x * h)[:L]) is the correlation of g with h, d/dh that of g with x
    gn, hn, xn = g.numpy(), h.detach().numpy(), x.detach().numpy()
    for b in range(2):
        for c in range(2):
            ref_x = np.correlate(np.pad(gn[b, c], (0, 39)), hn[b, c], "valid")
            ref_h = np.correlate(gn[b, c], xn[b, c], "full")[299 : 299 + 40]
            np.testing.assert_allclose(x.grad[b, c].numpy(), ref_x, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(h.grad[b, c].numpy(), ref_h, rtol=1e-10, atol=1e-10)


def test_zero_phase_filter_in_place_equals_the_recorded_product():
    signals = _signal(2, 6, 100, dtype=torch.float32)
    firs = _signal(2, 6, 9, dtype=torch.float32, seed=1)
    with torch.no_grad():
        fast = _zero_phase_filter(signals, firs)
    recorded = _zero_phase_filter(signals, firs.clone().requires_grad_()).detach()
    assert torch.equal(fast, recorded)
    ref = np.stack(
        [
            np.convolve(s, f)[4 : 4 + 100]
            for s, f in zip(
                signals.double().reshape(-1, 100), firs.double().reshape(-1, 9), strict=True
            )
        ]
    ).reshape(2, 6, 100)
    np.testing.assert_allclose(fast.numpy(), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dry_channels", [1, 2])
@pytest.mark.parametrize("weight_shape", [(3, 1), (3, 1, 40)])
def test_blend_written_into_wet_equals_the_new_tensor(dry_channels, weight_shape):
    wet = _signal(3, 2, 40, dtype=torch.float32)
    dry = _signal(3, dry_channels, 40, dtype=torch.float32, seed=1)
    omega = _signal(*weight_shape, dtype=torch.float32, seed=2)
    expected = drywet_blend(wet, dry, omega)
    own = wet.clone()
    out = drywet_blend(own, dry, omega, overwrite_wet=True)
    assert out.data_ptr() == own.data_ptr() and torch.equal(out, expected)


def test_blend_not_written_into_shared_expanded_or_recorded_wet():
    dry = _signal(2, 2, 16)
    omega = torch.tensor([[0.3], [-0.4]], dtype=torch.float64)
    cases = {
        "aliases dry": dry[:, :],
        "expanded": _signal(2, 1, 16).expand(2, 2, 16),
        "mono wet, stereo dry": _signal(2, 1, 16),
    }
    for name, wet in cases.items():
        before = wet.clone()
        out = drywet_blend(wet, dry, omega, overwrite_wet=True)
        assert torch.equal(wet, before), name
        assert out.data_ptr() != wet.data_ptr(), name
    wet = _signal(2, 2, 16).requires_grad_()
    out = drywet_blend(wet, dry, omega, overwrite_wet=True)
    out.sum().backward()  # a recorded blend keeps its operands
    torch.testing.assert_close(
        wet.grad, torch.sigmoid(omega).expand(2, 2).unsqueeze(-1).expand(2, 2, 16)
    )
