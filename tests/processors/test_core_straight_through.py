"""Straight-through helpers: exact discrete values forward, the surrogate's gradient backward."""

import numpy as np
import pytest
import torch

from grafx.errors import ParameterError
from grafx.processors.core.straight_through import (
    bit_crush,
    integer_delay,
    quantize,
    round_ste,
    straight_through,
)


def test_straight_through_value_and_gradient():
    x = torch.linspace(-1, 1, 7, dtype=torch.float64, requires_grad=True)
    y = straight_through(torch.sign(x.detach()), 3 * x)
    torch.testing.assert_close(y, torch.sign(x.detach()))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 3.0))


def test_round_and_quantize():
    x = torch.tensor([0.26, -0.74, 1.49, 2.51], dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(round_ste(x), torch.tensor([0.0, -1.0, 1.0, 3.0]).double())
    y = quantize(x, 0.5)
    torch.testing.assert_close(y, torch.tensor([0.5, -0.5, 1.5, 2.5]).double())
    (y * torch.arange(4.0).double()).sum().backward()
    torch.testing.assert_close(x.grad, torch.arange(4.0).double())


def test_bit_crush_per_node_depth():
    x = torch.linspace(-1, 1, 101).reshape(1, 1, 101).expand(2, 2, 101).clone().requires_grad_()
    bits = torch.tensor([3.0, 5.2]).reshape(2, 1, 1)
    y = bit_crush(x, bits)
    for b, levels in ((0, 4), (1, 16)):
        np.testing.assert_allclose(
            y[b].detach().numpy(), np.round(x[b].detach().numpy() * levels) / levels, atol=1e-7
        )
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))
    assert y.dtype == torch.float32


def test_integer_delay_forward_and_gradients():
    x = torch.randn(2, 2, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_()
    delay = torch.tensor([3.3, 6.7], dtype=torch.float64, requires_grad=True)
    y = integer_delay(x, delay)
    xn = x.detach().numpy()
    for b, k in ((0, 3), (1, 7)):
        expected = np.concatenate([np.zeros((2, k)), xn[b, :, :-k]], -1)
        np.testing.assert_allclose(y[b].detach().numpy(), expected)
    g = torch.randn(2, 2, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (y * g).sum().backward()
    for b, k in ((0, 3), (1, 6)):  # floor of the delay, as the surrogate's slope uses
        shifted = [np.concatenate([np.zeros((2, j)), xn[b, :, : 32 - j]], -1) for j in (k, k + 1)]
        np.testing.assert_allclose(
            delay.grad[b].item(), (g[b].numpy() * (shifted[1] - shifted[0])).sum()
        )


def test_bad_input():
    with pytest.raises(ParameterError, match="quantize: step must be > 0"):
        quantize(torch.ones(3), 0.0)
    with pytest.raises(ParameterError, match="bit_crush: bits must be >= 1"):
        bit_crush(torch.ones(3), 0.2)
    with pytest.raises(ParameterError, match=r"integer_delay: x must be \(B, C, L\)"):
        integer_delay(torch.ones(3), torch.ones(1))
    with pytest.raises(ParameterError, match="delay has 2 values for a batch of 1"):
        integer_delay(torch.ones(1, 1, 8), torch.ones(2))
