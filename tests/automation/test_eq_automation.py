"""Automated parametric EQ: block-rate curves, time-varying biquads against scipy, crops, grads."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.automation import Timeline
from grafx.automation.expand import expand_curves
from grafx.automation.parameters import automate_parameters, curve_keys
from grafx.errors import ConfigError, ParameterError
from grafx.fit import GraphRenderer
from grafx.presets import build_mixing_console, console_parameters
from grafx.processors import ParametricEqualizer
from grafx.processors.functional.eq import parametric_eq_biquads
from grafx.processors.functional.filter import w0_from_omega

SR = 8000
BLOCK = 64
LN10 = math.log(10.0)


def _eq(**kwargs):
    return ParametricEqualizer(num_filters=3, control_block=BLOCK, **kwargs)


def _static(num_nodes=1, channels=1, dtype=torch.float64):
    freqs = torch.tensor([200.0, 1000.0, 3000.0], dtype=dtype)
    shape = (num_nodes, channels, 3)
    return {
        "w0": w0_from_omega(2 * math.pi * freqs / SR).to(dtype).expand(shape).clone(),
        "q_inv": torch.full(shape, -math.log(2.0), dtype=dtype),
        "log_gain": torch.full(shape, 6.0 * LN10 / 40, dtype=dtype),
    }


def _reference(x, params, block):
    """scipy lfilter block by block, the direct form I state carried with lfiltic.

    ``x (L,)``; ``params`` of one node and channel, each ``(K, M)`` per block."""
    num_blocks = -(-len(x) // block)
    per_block = {k: torch.as_tensor(v).T[None] for k, v in params.items()}  # (1, M, K)
    Bs, As = parametric_eq_biquads(per_block["w0"], per_block["q_inv"], per_block["log_gain"])
    Bs, As = Bs[0].numpy(), As[0].numpy()  # (M, K, 3)
    y = np.asarray(x, dtype=np.float64)
    for k in range(Bs.shape[1]):
        u, out = y, np.zeros_like(y)
        for m in range(num_blocks):
            lo, hi = m * block, min(len(x), (m + 1) * block)
            b, a = Bs[m, k], As[m, k]
            past_x = u[max(0, lo - 2) : lo][::-1]
            past_y = out[max(0, lo - 2) : lo][::-1]
            zi = scipy.signal.lfiltic(b, a, past_y, past_x)
            out[lo:hi], _ = scipy.signal.lfilter(b, a, u[lo:hi], zi=zi)
        y = out
    return y


def _centres(length, block):
    return (np.arange(-(-length // block)) * block + (block - 1) / 2) / SR


def test_block_curves_are_read_at_block_centres():
    eq = _eq()
    knots = (0.0, 0.1, 0.25)
    values = torch.tensor([[[[0.0, 1.0, -0.5]] * 3]], dtype=torch.float64)  # (1, 1, 3, K)
    call = {"w0": values, "q_inv": values[..., 0], "log_gain": values[..., 0]}
    length = 1000  # 16 blocks, the last one cut short
    out = expand_curves("eq", eq, call, Timeline(knots, SR), length, gated=False)
    expected = np.interp(_centres(length, BLOCK), knots, values[0, 0, 0].numpy())
    assert out["w0"].shape == (1, 1, 3, 16)
    np.testing.assert_allclose(out["w0"][0, 0, 1].numpy(), expected, rtol=0, atol=1e-15)
    assert out["q_inv"] is call["q_inv"]


def _render(params, stems, timeline, **eq_kwargs):
    G, sequence = build_mixing_console(num_tracks=stems.shape[0], chain=("eq",))
    renderer = GraphRenderer(G, {"eq": _eq(**eq_kwargs)}, sequence)
    return renderer(stems, {"eq": params}, timeline=timeline)[0]


@pytest.mark.parametrize("moving", ["log_gain", "w0"])
def test_a_moving_band_matches_scipy_block_by_block(moving):
    torch.manual_seed(0)
    length = 1500
    x = torch.randn(1, 1, length, dtype=torch.float64)
    params = _static()
    knots = (0.0, 0.05, 0.1875)
    if moving == "log_gain":  # the middle band from -12 dB to +12 dB and back to 0
        row = torch.tensor([-12.0, 12.0, 0.0], dtype=torch.float64) * LN10 / 40
    else:  # the middle band swept from 300 Hz to 2.5 kHz and down to 1 kHz
        hz = torch.tensor([300.0, 2500.0, 1000.0], dtype=torch.float64)
        row = w0_from_omega(2 * math.pi * hz / SR)
    curve = params[moving][..., None].expand(1, 1, 3, 3).clone()
    curve[0, 0, 1] = row
    params[moving] = curve
    out = _render(params, x, Timeline(knots, SR), backend="lfilter")
    per_block = {
        k: np.stack(
            [np.interp(_centres(length, BLOCK), knots, v[0, 0, j].numpy()) for j in range(3)]
        )
        if v.ndim == 4
        else np.repeat(v[0, 0, :, None].numpy(), -(-length // BLOCK), axis=1)
        for k, v in params.items()
    }
    expected = _reference(x[0, 0].numpy(), per_block, BLOCK)
    assert out.shape == (1, length)  # the console sums the one track to the mix
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=1e-9 * np.abs(expected).max())


@pytest.mark.parametrize("backend", ["fsm", "lfilter"])
def test_a_constant_curve_renders_the_static_eq(backend):
    torch.manual_seed(1)
    x = torch.randn(2, 2, 3000)
    eq = ParametricEqualizer(num_filters=4, processor_channel="stereo", backend=backend)
    params = {
        "w0": torch.randn(2, 2, 4),
        "q_inv": torch.randn(2, 2, 4) * 0.3,
        "log_gain": torch.randn(2, 2, 4) * 0.5,
    }
    static = eq(x, **params)
    blocks = -(-3000 // eq.control_block)
    flat = {k: v[..., None].expand(*v.shape, blocks) for k, v in params.items()}
    moving = eq(x, **flat)
    assert moving.dtype == static.dtype == torch.float32
    # fsm: the static FIR leaves out a 1e-6 tail; lfilter: both exact, float32 rounding.
    error = (moving - static).norm() / static.norm()
    assert error < (1e-5 if backend == "fsm" else 1e-6)


def test_a_crop_renders_its_stretch_of_the_curves():
    torch.manual_seed(2)
    length, offset, warmup = 2048, 16 * BLOCK, 8 * BLOCK  # both multiples of the block
    x = torch.randn(1, 1, length, dtype=torch.float64)
    timeline = Timeline.uniform(length / SR, 0.05, SR, method="cubic")
    params = _static()
    for key in ("w0", "log_gain"):
        params[key] = params[key][..., None] + 0.3 * torch.randn(1, 1, 3, timeline.num_knots)
    whole = _render(params, x, timeline, backend="lfilter")
    # The crop starts with the filters at rest: render it from a warm-up before its start.
    crop = _render(
        params, x[..., offset - warmup :], timeline.crop(offset - warmup), backend="lfilter"
    )
    np.testing.assert_allclose(
        crop[..., warmup:].numpy(), whole[..., offset:].numpy(), rtol=0, atol=1e-7
    )


def test_batched_nodes_render_as_each_alone():
    torch.manual_seed(3)
    x = torch.randn(3, 2, 700, dtype=torch.float64)
    eq = _eq(processor_channel="midside", backend="lfilter")
    blocks = -(-700 // BLOCK)
    params = {
        "w0": torch.randn(3, 2, 3, blocks, dtype=torch.float64),
        "q_inv": torch.randn(3, 2, 3, dtype=torch.float64) * 0.3,
        "log_gain": torch.randn(3, 2, 3, blocks, dtype=torch.float64),
    }
    together = eq(x, **params)
    for n in range(3):
        alone = eq(x[n : n + 1], **{k: v[n : n + 1] for k, v in params.items()})
        torch.testing.assert_close(together[n : n + 1], alone, rtol=1e-12, atol=1e-12)


def test_gradcheck_through_the_blocks():
    torch.manual_seed(4)
    eq = ParametricEqualizer(num_filters=2, control_block=8)
    x = torch.randn(1, 1, 30, dtype=torch.float64, requires_grad=True)
    w0 = torch.randn(1, 1, 2, 4, dtype=torch.float64, requires_grad=True)
    q_inv = (0.3 * torch.randn(1, 1, 2, dtype=torch.float64)).requires_grad_()
    log_gain = (0.5 * torch.randn(1, 1, 2, 4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda *a: eq(*a), (x, w0, q_inv, log_gain), eps=1e-6, atol=1e-6
    )


def test_extreme_parameters_keep_finite_gradients():
    eq = _eq()
    x = torch.randn(1, 1, 400)
    blocks = -(-400 // BLOCK)
    signs = torch.tensor([1.0, -1.0]).repeat(blocks)[:blocks]
    params = {
        k: (40.0 * signs * torch.ones(1, 1, 3, blocks)).requires_grad_()
        for k in ("w0", "q_inv", "log_gain")
    }
    out = eq(x, **params)
    out.square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in params.values())


def test_automate_parameters_makes_eq_curves_that_render_the_static_mix():
    G, sequence = build_mixing_console(num_tracks=2, chain=("eq",))
    processors = {"eq": ParametricEqualizer(num_filters=10, backend="lfilter")}
    params = console_parameters(G, processors, SR)
    params["eq"]["log_gain"] = torch.randn(2, 1, 10) * 0.3
    timeline = Timeline.uniform(0.2, 0.05, SR)
    moving = automate_parameters(params, processors, ["eq"], timeline)
    assert set(curve_keys(moving, processors)) == {
        f"eq/{k}" for k in ("w0", "q_inv", "log_gain", "drywet_weight")
    }
    renderer = GraphRenderer(G, processors, sequence)
    stems = torch.randn(2, 2, int(0.2 * SR))
    static = renderer(stems, params)[0]
    automated = renderer(stems, moving, timeline=timeline)[0]
    assert ((automated - static).norm() / static.norm()) < 1e-6


def test_bad_blocks_and_block_sizes_are_refused():
    eq = _eq()
    params = _static(dtype=torch.float32)
    params["w0"] = params["w0"][..., None].expand(1, 1, 3, 5)
    with pytest.raises(
        ParameterError, match=r"'w0' has shape \(1, 1, 3, 5\), expected \(1, 1, 3, 2\)"
    ):
        eq(torch.randn(1, 1, 100), **params)
    with pytest.raises(ParameterError, match="'w0' has 5 control blocks.*make 2"):
        eq.forward(torch.randn(1, 1, 100), **params)  # unchecked call: forward's own check
    for bad in (0, 7, 2.0, True):
        with pytest.raises(ConfigError, match="control_block"):
            ParametricEqualizer(control_block=bad)
