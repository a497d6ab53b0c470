"""The filtered-noise reverb's IR synthesis: chunked evaluation, default sizes, extremes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from grafx.processors.core.noise import decay_rate_from_ms
from grafx.processors.functional.reverb import (
    band_decay_rate,
    exponential_envelope,
    filtered_noise_shaping_ir,
)

SR, FAST, SLOW = 44100, 50, 2000
CHUNK = "grafx.processors.functional.reverb._SHAPED_NOISE_CHUNK_ELEMENTS"


def _whole_envelope(noise, log_decay, log_gain, log_fade=None, z_gain=None):
    # The (B, C, K, N) envelope built whole, times the noise, summed over bands; plain autograd.
    rate = band_decay_rate(log_decay, SR, FAST, SLOW)
    envelope = exponential_envelope(rate, log_gain, noise.shape[-1])
    if log_fade is not None:
        fade_rate = rate + torch.sigmoid(log_fade) * (decay_rate_from_ms(FAST, SR) - rate)
        fade_gain = log_gain - F.softplus(-z_gain)
        envelope = envelope - exponential_envelope(fade_rate, fade_gain, noise.shape[-1])
    return (envelope * noise).sum(-2)


def _ir(noise, params):
    return filtered_noise_shaping_ir(noise, params[0], params[1], SR, FAST, SLOW, *params[2:])


def _inputs(batch, bands, length, fade, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    noise = 2 * torch.rand(2, bands, length, generator=gen, dtype=dtype) - 1
    params = [
        torch.randn(batch, 2, bands, generator=gen, dtype=dtype, requires_grad=True)
        for _ in range(4 if fade else 2)
    ]
    return noise, params


@pytest.mark.parametrize("fade", [False, True])
def test_default_size_ir_is_the_whole_envelope_bit_for_bit(fade):
    # FilteredNoiseShapingReverb's defaults: 12 bands, 60000 taps (234 blocks and a 96-sample
    # remainder, several chunks at batch 2).
    noise, params = _inputs(2, 12, 60000, fade)
    got = _ir(noise, params)
    assert torch.equal(got, _whole_envelope(noise, *params))
    # Gradients against float64 truth: float32 rounding of sums over 60000 samples.
    grad_out = torch.randn(got.shape, generator=torch.Generator().manual_seed(1))
    have = torch.autograd.grad(got, params, grad_out)
    params64 = [p.detach().double().requires_grad_() for p in params]
    truth = torch.autograd.grad(
        _whole_envelope(noise.double(), *params64), params64, grad_out.double()
    )
    for h, t in zip(have, truth, strict=True):
        assert ((h.double() - t).abs().max() / t.abs().max()).item() < 1e-5


@pytest.mark.parametrize("chunk", [1, 2 * 4 * 256 * 3, 2**30])
def test_chunk_size_does_not_change_the_result(chunk, monkeypatch):
    # One block per chunk, three blocks per chunk, or everything in one chunk.
    noise, params = _inputs(2, 4, 2000, fade=True, dtype=torch.float64, seed=2)
    grad_out = torch.randn(
        2, 2, 2000, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    reference = _ir(noise, params)
    reference_grads = torch.autograd.grad(reference, params, grad_out)
    monkeypatch.setattr(CHUNK, chunk)
    got = _ir(noise, params)
    assert torch.equal(got, reference)
    for g, r in zip(torch.autograd.grad(got, params, grad_out), reference_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12 * r.abs().max().item())


@pytest.mark.parametrize("length", [100, 600])
def test_gradcheck_float64_short_irs_with_a_partial_block(length, monkeypatch):
    # Shorter than a block; two chunks of one block and a remainder.
    monkeypatch.setattr(CHUNK, 2 * 2 * 256)
    noise, params = _inputs(1, 2, length, fade=True, dtype=torch.float64, seed=length)
    assert torch.autograd.gradcheck(lambda *p: _ir(noise, p), tuple(params))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [-20.0, 20.0])
def test_finite_gradients_at_extreme_parameters(dtype, value):
    noise, params = _inputs(2, 5, 3000, fade=True, dtype=dtype, seed=4)
    extreme = [torch.full_like(p, value).requires_grad_() for p in params]
    ir = _ir(noise, extreme)
    assert torch.isfinite(ir).all()
    for g in torch.autograd.grad(ir.square().mean() + ir.mean(), extreme):
        assert torch.isfinite(g).all()


def test_learnable_noise_is_differentiated_by_autograd():
    # A noise that requires grad takes the whole-envelope path: same values, noise gradient.
    noise, params = _inputs(2, 3, 500, fade=False, dtype=torch.float64, seed=5)
    noise.requires_grad_()
    ir = _ir(noise, params)
    (grad_noise,) = torch.autograd.grad(ir.sum(), noise)
    envelope = exponential_envelope(band_decay_rate(params[0], SR, FAST, SLOW), params[1], 500)
    torch.testing.assert_close(grad_noise, envelope.sum(0), rtol=1e-12, atol=0)
