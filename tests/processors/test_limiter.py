import math

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.processors import Compressor, Expander, Limiter


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def numpy_limiter(x, threshold, D):
    """Sample by sample: needed gain, its running minimum over D, that averaged over D."""
    C, L = x.shape
    peak = np.abs(x).max(0)
    g = np.minimum(1.0, threshold / np.maximum(peak, 1e-6 * threshold))
    h = np.array([min([g[n - j] if n - j >= 0 else 1.0 for j in range(D)]) for n in range(L)])
    s = np.array([np.mean([h[n - j] if n - j >= 0 else 1.0 for j in range(D)]) for n in range(L)])
    delayed = np.concatenate([np.zeros((C, D - 1)), x], 1)[:, :L]
    return delayed * s


def test_limiter_matches_a_numpy_loop_and_never_exceeds_the_ceiling():
    x = 3 * rand(2, 2, 300)
    T = np.array([0.5, 2.0])
    y = Limiter(lookahead_len=7)(x, log_threshold=torch.tensor(np.log(T))[:, None])
    for b in range(2):
        np.testing.assert_allclose(y[b].numpy(), numpy_limiter(x[b].numpy(), T[b], 7), atol=1e-12)
        assert float(y[b].abs().max()) <= T[b] * (1 + 1e-12)
    # below the ceiling: only the delay of D - 1 samples
    quiet = 0.1 * rand(1, 2, 100)
    out = Limiter(lookahead_len=5)(quiet, log_threshold=torch.zeros(1, 1, dtype=torch.float64))
    torch.testing.assert_close(out[..., 4:], quiet[..., :-4])
    assert torch.equal(out[..., :4], torch.zeros(1, 2, 4, dtype=torch.float64))


def test_limiter_gradcheck_and_extremes():
    lim = Limiter(lookahead_len=4)
    x = rand(2, 2, 40).requires_grad_()
    v = torch.tensor([[-1.0], [0.3]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, v: lim(x, log_threshold=v), (x, v))
    for value in (-20.0, 20.0):
        x32 = rand(2, 2, 64, dtype=torch.float32).requires_grad_()
        v32 = torch.full((2, 1), value, requires_grad=True)
        y = lim(x32, log_threshold=v32)
        (y.square().sum() + y.sum()).backward()
        assert torch.isfinite(x32.grad).all() and torch.isfinite(v32.grad).all()


def test_limiter_fit_recovers_a_ceiling():
    lim = Limiter(lookahead_len=8)
    x = rand(1, 2, 512)
    target = lim(x, log_threshold=torch.full((1, 1), math.log(0.8), dtype=torch.float64))
    v = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)  # neutral: 0 dBFS
    optimizer = torch.optim.Adam([v], lr=2e-2)
    for _ in range(200):
        optimizer.zero_grad()
        (lim(x, log_threshold=v) - target).square().mean().backward()
        optimizer.step()
    assert abs(float(v.detach().exp()) - 0.8) < 0.01


def test_limiter_errors_are_named():
    with pytest.raises(ConfigError, match="Limiter: lookahead_len"):
        Limiter(lookahead_len=0)
    with pytest.raises(ParameterError, match="Limiter: .*'log_threshold'"):
        Limiter()(torch.zeros(2, 2, 8), log_threshold=torch.zeros(2, 2))


def static_level_db(processor, params, level_db):
    """Settled output level (dB RMS) of a constant-amplitude square wave (constant energy)."""
    n = 4000
    amplitude = 10 ** (level_db / 20)
    x = amplitude * torch.sign(torch.sin(torch.arange(n, dtype=torch.float64) * 0.3))[None, None]
    y = processor(x.expand(1, 2, n).clone(), **params)
    return 10 * math.log10(float(y[..., -1000:].square().mean()))


def test_expander_static_curve_is_the_compressor_mirrored():
    exp = Expander(knee="hard", iir_len=256, max_gain_db=12.0)
    params = exp.settings_to_parameters({"threshold_db": -30.0, "ratio": 2.0})
    params = {k: v[None] for k, v in params.items()}
    params["z_alpha_pre"] = torch.full((1, 1), -2.0, dtype=torch.float64)
    for level, expected in [(-40.0, -40.0), (-26.0, -22.0), (-24.0, -18.0), (-10.0, -10.0 + 12.0)]:
        # below: unchanged; above: T + R (G - T); far above: capped at +12 dB
        assert static_level_db(exp, params, level) == pytest.approx(expected, abs=0.05)


def test_expander_gradcheck_extremes_and_errors():
    exp = Expander(iir_len=16)
    params = {
        k: 0.5 * rand(2, v, seed=i + 1) for i, (k, v) in enumerate(exp.parameter_size().items())
    }
    names = list(params)
    x = rand(2, 2, 32).requires_grad_()

    def run(x, *values):
        return exp(x, **dict(zip(names, values, strict=True)))

    assert torch.autograd.gradcheck(run, (x, *(p.requires_grad_() for p in params.values())))
    for value in (-20.0, 20.0):
        x32 = rand(2, 2, 64, dtype=torch.float32).requires_grad_()
        p32 = {
            k: torch.full((2, v), value, requires_grad=True)
            for k, v in exp.parameter_size().items()
        }
        y = exp(x32, **p32)
        assert torch.isfinite(y).all()
        (y.square().sum() + y.sum()).backward()
        assert all(torch.isfinite(p.grad).all() for p in p32.values())
    with pytest.raises(ConfigError, match="Expander: max_gain_db"):
        Expander(max_gain_db=0)
    assert set(Expander().parameter_size()) == set(Compressor().parameter_size())
