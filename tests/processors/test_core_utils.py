import math

import pytest
import torch

from grafx.errors import AudioError
from grafx.processors.core.utils import normalize_impulse, rms_difference


def test_rms_difference_is_summed_log_energy_ratio():
    x = torch.randn(3, 2, 100, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gains = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)[:, None, None]
    # |log E[x^2] - log E[(g x)^2]| = |2 log g| per item (eps negligible here)
    want = sum(abs(2 * math.log(g)) for g in (1.0, 2.0, 0.5))
    assert rms_difference(x, gains * x, eps=0.0).item() == pytest.approx(want, rel=1e-12)
    assert torch.isfinite(rms_difference(torch.zeros(2, 1, 8), torch.zeros(2, 1, 8)))


def test_normalize_impulse_unit_energy():
    ir = torch.randn(4, 2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = normalize_impulse(ir)
    torch.testing.assert_close(out.square().sum(-1).mean(-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(out / out[:, :1, :1], ir / ir[:, :1, :1])  # shape unchanged
    assert torch.equal(normalize_impulse(torch.zeros(1, 2, 8)), torch.zeros(1, 2, 8))
    with pytest.raises(AudioError, match="normalize_impulse"):
        normalize_impulse(torch.zeros(2, 8))
