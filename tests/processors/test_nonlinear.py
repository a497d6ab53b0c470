import math

import numpy as np
import pytest
import torch

from grafx.errors import ConfigError, ParameterError
from grafx.processors import (
    ChebyshevDistortion,
    PiecewiseTanhDistortion,
    PowerDistortion,
    TanhDistortion,
)
from grafx.processors.functional.nonlinear import piecewise_tanh_distortion

B = 3

PROCESSORS = {
    "tanh": TanhDistortion(),
    "tanh_bias_post": TanhDistortion(inverse_post_gain=False, use_bias=True, remove_dc=True),
    "piecewise": PiecewiseTanhDistortion(),
    "piecewise_post": PiecewiseTanhDistortion(inverse_post_gain=False, remove_dc=True),
    "power": PowerDistortion(max_order=4),
    "power_tanh": PowerDistortion(max_order=3, use_tanh=True, remove_dc=True),
    "chebyshev": ChebyshevDistortion(max_order=5),
    "chebyshev_tanh": ChebyshevDistortion(max_order=3, use_tanh=True, pre_gain=False),
}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def make_params(processor, fill=None, seed=1):
    params = {}
    for key, size in processor.parameter_size().items():
        if fill is None:
            params[key] = 0.5 * torch.randn(B, size, dtype=torch.float64, generator=gen(seed))
        else:
            params[key] = torch.full((B, size), fill, dtype=torch.float64)
        seed += 1
    return params


@pytest.fixture(params=list(PROCESSORS))
def processor(request):
    return PROCESSORS[request.param]


def test_tanh_formula():
    x = torch.randn(B, 2, 100, dtype=torch.float64, generator=gen(0))
    g = torch.tensor([[0.0], [1.0], [-2.0]], dtype=torch.float64)
    b = torch.tensor([[0.3], [-0.5], [0.0]], dtype=torch.float64)
    post = torch.tensor([[0.2], [0.0], [1.0]], dtype=torch.float64)
    y = TanhDistortion()(x, log_pre_gain=g)
    expected = np.tanh(x.numpy() * np.exp(g.numpy())[:, :, None]) / np.exp(g.numpy())[:, :, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    proc = TanhDistortion(inverse_post_gain=False, use_bias=True)
    y = proc(x, log_pre_gain=g, log_post_gain=post, bias=b)
    u = x.numpy() * np.exp(g.numpy())[..., None]
    bb = b.numpy()[..., None]
    shaped = np.tanh(u + bb)
    expected = (shaped - shaped.mean(-1, keepdims=True)) * np.exp(post.numpy())[..., None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert proc.parameter_size() == {"log_pre_gain": 1, "log_post_gain": 1, "bias": 1}
    assert TanhDistortion(pre_post_gain=False).parameter_size() == {}


def test_tanh_bias_leaves_no_dc():
    # Audit: tanh(u + b) - tanh(b) left DC; a unit 441 Hz sine at b = 0.5 had mean -0.133
    # (analytic: the mean over whole periods of tanh(sin + 0.5) - tanh(0.5), by quadrature).
    n = np.arange(4410)
    x = torch.from_numpy(np.sin(2 * np.pi * 441 * n / 44100))[None, None]
    bias = torch.full((1, 1), 0.5, dtype=torch.float64)
    theta = np.linspace(0, 2 * np.pi, 200001)[:-1]
    old_dc = np.mean(np.tanh(np.sin(theta) + 0.5)) - np.tanh(0.5)
    assert old_dc == pytest.approx(-0.1334, abs=1e-3)
    y = TanhDistortion(use_bias=True)(x, log_pre_gain=torch.zeros(1, 1, dtype=x.dtype), bias=bias)
    assert abs(y.mean().item()) < 1e-15
    assert y.std().item() == pytest.approx(np.std(np.tanh(np.sin(theta) + 0.5)), rel=1e-3)
    # a zero input stays zero
    silent = torch.zeros(1, 2, 64, dtype=torch.float64)
    zero = torch.zeros(1, 1, dtype=torch.float64)
    assert torch.equal(TanhDistortion(use_bias=True)(silent, log_pre_gain=zero, bias=bias), silent)


def test_piecewise_tanh_join_value_and_slope_continuous():
    hardness = torch.tensor([[3.0, 0.5]], dtype=torch.float64)
    threshold = torch.tensor([[0.4, 0.7]], dtype=torch.float64)
    eps = 1e-7
    for join, side in ((0.4, 0), (-0.7, 1)):
        pts = torch.tensor([join - 2 * eps, join - eps, join + eps, join + 2 * eps])
        x = pts.to(torch.float64).view(1, 1, 4).requires_grad_()
        y = piecewise_tanh_distortion(x, hardness, threshold)
        (slope,) = torch.autograd.grad(y.sum(), x)
        expected_slope = 1 - math.tanh(join) ** 2
        np.testing.assert_allclose(slope.numpy().ravel(), expected_slope, rtol=1e-5)
        np.testing.assert_allclose(y.detach().numpy().ravel(), np.tanh(pts.numpy()), atol=1e-6)
        # beyond the join the shoulder is tanh(k) + a tanh(h (x - k)) with a = (1 - tanh^2 k) / h
        k, h = threshold[0, side].item(), hardness[0, side].item()
        sign = 1 if side == 0 else -1
        far = torch.tensor([[[sign * (k + 0.8)]]], dtype=torch.float64)
        a = (1 - math.tanh(k) ** 2) / h
        want = sign * (math.tanh(k) + a * math.tanh(h * 0.8))
        assert piecewise_tanh_distortion(far, hardness, threshold).item() == pytest.approx(want)


def test_piecewise_middle_is_tanh_and_index_order():
    proc = PiecewiseTanhDistortion(pre_post_gain=False)
    x = torch.linspace(-3, 3, 61, dtype=torch.float64).view(1, 1, -1)
    # positive side (index 0) hard and low, negative side (index 1) soft and high
    log_h = torch.tensor([[math.log(20.0), math.log(0.1)]], dtype=torch.float64)
    z_k = torch.tensor([[-2.0, 2.0]], dtype=torch.float64)
    y = proc(x, log_hardness=log_h, z_threshold=z_k)[0, 0]
    k_pos = torch.sigmoid(torch.tensor(-2.0, dtype=torch.float64))
    middle = (x[0, 0] <= k_pos) & (x[0, 0] >= -torch.sigmoid(torch.tensor(2.0)))
    torch.testing.assert_close(y[middle], torch.tanh(x[0, 0][middle]))
    # the hard positive shoulder saturates just above tanh(k+) + (1 - tanh^2 k+)/h+
    ceiling = torch.tanh(k_pos) + (1 - torch.tanh(k_pos) ** 2) / 20
    assert y.max() <= ceiling + 1e-12 and y.max() > ceiling - 1e-6


def test_power_series_values():
    proc = PowerDistortion(max_order=3)
    x = torch.randn(B, 2, 50, dtype=torch.float64, generator=gen(0))
    w = torch.randn(B, 3, dtype=torch.float64, generator=gen(1))
    g = torch.randn(B, 1, dtype=torch.float64, generator=gen(2))
    u = x * torch.exp(g)[..., None]
    c = torch.tanh(w)[..., None]
    expected = c[:, 0:1] * u + c[:, 1:2] * u**2 + c[:, 2:3] * u**3
    torch.testing.assert_close(proc(x, basis_weights=w, log_pre_gain=g), expected)
    # no DC term: silence in, silence out
    assert proc(torch.zeros(B, 2, 8, dtype=torch.float64), w, g).abs().max() == 0
    y = PowerDistortion(max_order=3, use_tanh=True)(x, basis_weights=w, log_pre_gain=g)
    expected = sum(c[:, k : k + 1] * torch.tanh(u ** (k + 1)) for k in range(3))
    torch.testing.assert_close(y, expected)


def test_chebyshev_gives_harmonics():
    t = torch.linspace(0, 2 * math.pi, 257, dtype=torch.float64)
    x = torch.cos(t).view(1, 1, -1).expand(B, 2, -1)
    proc = ChebyshevDistortion(max_order=6, pre_gain=False)
    w = torch.randn(B, 6, dtype=torch.float64, generator=gen(3))
    y = proc(x, basis_weights=w)
    expected = sum(torch.tanh(w[:, k, None, None]) * torch.cos((k + 1) * t) for k in range(6))
    torch.testing.assert_close(y, expected.expand_as(y), rtol=1e-10, atol=1e-10)


def test_chebyshev_backward_and_dtype_float32():
    proc = ChebyshevDistortion()
    x = torch.rand(2, 2, 64, generator=gen(4), requires_grad=True)
    params = {k: torch.zeros(2, v, requires_grad=True) for k, v in proc.parameter_size().items()}
    y = proc(x, **params)
    assert y.dtype == torch.float32
    (y - x).square().sum().backward()
    assert x.grad is not None and params["basis_weights"].grad.abs().sum() > 0


def test_series_double_backward():
    proc = ChebyshevDistortion(max_order=3, pre_gain=False)
    x = torch.rand(1, 1, 16, dtype=torch.float64, generator=gen(5), requires_grad=True)
    w = torch.randn(1, 3, dtype=torch.float64, generator=gen(6), requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda a, b: proc(a, basis_weights=b), (x, w))


def test_gradcheck_float64(processor):
    params = make_params(processor)
    x = 0.5 * torch.randn(B, 2, 12, dtype=torch.float64, generator=gen(0))
    names = list(params)

    def run(x, *values):
        return processor(x, **dict(zip(names, values, strict=True)))

    inputs = (x.requires_grad_(), *(p.requires_grad_() for p in params.values()))
    assert torch.autograd.gradcheck(run, inputs)


@pytest.mark.parametrize("fill", [-20.0, 20.0])
def test_extreme_parameters_finite(processor, fill):
    params = {k: v.requires_grad_() for k, v in make_params(processor, fill).items()}
    x = torch.randn(B, 2, 64, dtype=torch.float64, generator=gen(0), requires_grad=True)
    y = processor(x, **params)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in params.values())


def test_batched_equals_one_by_one_and_input_untouched(processor):
    params = make_params(processor)
    x = torch.randn(B, 2, 128, dtype=torch.float64, generator=gen(0))
    x0 = x.clone()
    items = [{k: v[i : i + 1] for k, v in params.items()} for i in range(B)]
    one_by_one = torch.cat([processor(x[i : i + 1], **p) for i, p in enumerate(items)])
    y = processor(x, **params)
    torch.testing.assert_close(y, one_by_one)
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    assert y.dtype == torch.float64 and y.shape == x.shape
    # channel-agnostic: a mono input is processed like one channel of a stereo one
    torch.testing.assert_close(processor(x[:, :1], **params), y[:, :1])


def test_bad_order():
    with pytest.raises(ConfigError, match="PowerDistortion"):
        PowerDistortion(max_order=0)


def test_forward_without_a_gain_its_configuration_needs_names_it():
    # Rendering checks the parameters first; calling forward directly reaches this check.
    x = torch.zeros(1, 1, 8)
    with pytest.raises(ParameterError, match=r"^TanhDistortion: missing parameter 'log_pre_gain'"):
        TanhDistortion().forward(x)
    with pytest.raises(ParameterError, match=r"^TanhDistortion: missing parameter 'log_post_gain'"):
        TanhDistortion(inverse_post_gain=False).forward(x, log_pre_gain=torch.zeros(1, 1))
