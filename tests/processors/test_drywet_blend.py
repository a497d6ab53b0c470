"""drywet_blend's own backward: every branch against finite differences and autograd's lerp."""

from __future__ import annotations

import pytest
import torch

from grafx.processors.core.drywet import drywet_blend, mix_from_drywet_weight


def _inputs(rows, wet_channels, dry_channels, weights, length=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    wet = torch.randn(rows, wet_channels, length, generator=g, dtype=torch.float64)
    dry = torch.randn(rows, dry_channels, length, generator=g, dtype=torch.float64)
    omega = torch.randn(weights, 1, generator=g, dtype=torch.float64)
    return wet.requires_grad_(), dry.requires_grad_(), omega.requires_grad_()


CASES = [
    (3, 2, 2, 3),  # one weight per row, equal shapes: the dot-product branch
    (3, 2, 1, 3),  # mono dry broadcast to stereo
    (3, 2, 2, 1),  # one weight for every row
    (70, 1, 1, 70),  # more rows than the per-row loop takes
]


@pytest.mark.parametrize("case", CASES)
def test_blend_gradients_match_finite_differences(case):
    assert torch.autograd.gradcheck(drywet_blend, _inputs(*case))


@pytest.mark.parametrize("case", CASES)
def test_blend_matches_autograds_lerp(case):
    wet, dry, omega = _inputs(*case)
    out = drywet_blend(wet, dry, omega)
    reference = torch.lerp(dry, wet, mix_from_drywet_weight(omega).reshape(-1, 1, 1))
    assert torch.equal(out, reference)  # the same forward, bit for bit
    grad = torch.randn_like(out)
    ours = torch.autograd.grad(out, (wet, dry, omega), grad)
    theirs = torch.autograd.grad(reference, (wet, dry, omega), grad)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_blend_without_grad_is_plain_lerp_and_keeps_float32():
    wet, dry = torch.randn(2, 2, 8), torch.randn(2, 2, 8)
    omega = torch.zeros(2, 1, dtype=torch.float64)
    out = drywet_blend(wet, dry, omega)
    assert out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, (wet + dry) / 2)


def test_blend_at_extreme_weights_keeps_finite_gradients():
    wet, dry, _ = _inputs(2, 2, 2, 2)
    omega = torch.tensor([[60.0], [-60.0]], dtype=torch.float64, requires_grad=True)
    drywet_blend(wet, dry, omega).square().sum().backward()
    for t in (wet, dry, omega):
        assert bool(t.grad.isfinite().all())


@pytest.mark.parametrize("rows", [3, 80])  # per-row dots, and the batched fallback
def test_blend_of_a_strided_wet_signal_matches_autograds_lerp(rows):
    # Processor outputs are often slices of a longer buffer (an FFT convolution's tail cut off).
    g = torch.Generator().manual_seed(1)
    longer = torch.randn(rows, 2, 40, generator=g, dtype=torch.float64, requires_grad=True)
    wet = longer[..., :24]
    dry = torch.randn(rows, 2, 24, generator=g, dtype=torch.float64, requires_grad=True)
    omega = torch.randn(rows, 1, generator=g, dtype=torch.float64, requires_grad=True)
    assert not wet.is_contiguous()
    out = drywet_blend(wet, dry, omega)
    reference = torch.lerp(dry, wet, mix_from_drywet_weight(omega).reshape(-1, 1, 1))
    grad = torch.randn_like(out)
    ours = torch.autograd.grad(out, (longer, dry, omega), grad)
    theirs = torch.autograd.grad(reference, (longer, dry, omega), grad)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_mix_is_the_logistic_with_exact_ends_and_size_independent_values():
    omega = torch.linspace(-30, 30, 1001, dtype=torch.float64)
    mix = mix_from_drywet_weight(omega)
    torch.testing.assert_close(mix, torch.sigmoid(omega), rtol=1e-15, atol=1e-16)
    one_by_one = torch.cat([mix_from_drywet_weight(omega[i : i + 1]) for i in range(1001)])
    assert torch.equal(mix, one_by_one)
    ends = mix_from_drywet_weight(torch.tensor([-float("inf"), float("inf")]))
    assert ends.tolist() == [0.0, 1.0]
    x = torch.tensor([-200.0, -3.0, 0.5, 200.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mix_from_drywet_weight, (x,))
    mix_from_drywet_weight(x.detach().float().requires_grad_()).sum().backward()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_per_sample_mix_is_one_over_one_plus_exp_and_leaves_its_input(dtype):
    omega = torch.randn(3, 1, 5000, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 4
    kept = omega.clone()
    mix = mix_from_drywet_weight(omega)
    assert torch.equal(omega, kept)  # the steps are written into a new tensor, not the input
    assert torch.equal(mix, torch.reciprocal(1 + torch.exp(-omega)))
    reference = 1 / (1 + torch.exp(-omega.double()))
    torch.testing.assert_close(mix.double(), reference, rtol=2e-7, atol=0)
    # a per-sample weight blends with the values of the static weight it holds
    wet, dry = torch.randn(3, 2, 5000, dtype=dtype), torch.randn(3, 2, 5000, dtype=dtype)
    static = torch.tensor([[0.7], [-1.3], [2.2]], dtype=dtype)
    held = drywet_blend(wet, dry, static[..., None].expand(3, 1, 5000).contiguous())
    assert torch.equal(held, drywet_blend(wet, dry, static))
