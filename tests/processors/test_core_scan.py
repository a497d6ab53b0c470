"""The parallel scan of first-order recurrences and the pure-Python broadcast helper."""

import numpy as np
import pytest
import torch

from grafx.errors import AudioError
from grafx.processors.core.scan import linear_recurrence, reverse_linear_recurrence
from grafx.processors.core.utils import broadcast_shapes


def loop(decay, drive):
    y, state = np.zeros_like(drive), np.zeros(drive.shape[0])
    for n in range(drive.shape[1]):
        state = decay[:, n] * state + drive[:, n]
        y[:, n] = state
    return y


@pytest.mark.parametrize("length", [1, 2, 31, 32, 33, 1000, 5000])
@pytest.mark.parametrize("constant", [False, True])
def test_linear_recurrence_equals_the_loop(length, constant):
    gen = torch.Generator().manual_seed(length)
    decay = torch.rand(3, 1 if constant else length, generator=gen, dtype=torch.float64)
    decay[0] = 0.0  # a zero decay (an instant coefficient) is exact too
    drive = torch.randn(3, length, generator=gen, dtype=torch.float64)
    want = loop(decay.expand(3, length).numpy(), drive.numpy())
    np.testing.assert_allclose(linear_recurrence(decay, drive).numpy(), want, atol=1e-12)
    backward = reverse_linear_recurrence(decay, drive).numpy()
    want_rev = loop(decay.expand(3, length).flip(-1).numpy(), drive.flip(-1).numpy())[:, ::-1]
    np.testing.assert_allclose(backward, want_rev, atol=1e-12)


def test_broadcast_shapes_equals_torch_and_names_the_shapes():
    for shapes in [((4, 1), (2,), (1, 1, 2)), ((), (3,)), ((2, 1, 5), (1, 3, 1)), ((0, 1), (1, 4))]:
        assert broadcast_shapes(*shapes) == tuple(torch.broadcast_shapes(*shapes))
    with pytest.raises(AudioError, match=r"\(2, 3\).*\(4, 3\).*do not broadcast"):
        broadcast_shapes((2, 3), (4, 3))
