import math

import numpy as np
import pytest
import torch

from grafx.data import GRAFX, NodeConfigs
from grafx.errors import ConfigError, ParameterError
from grafx.processors import Compressor, LinkwitzRileyCrossover, MultibandCompressor
from grafx.processors.functional.generators import z_frequency_from_frequency
from grafx.render import prepare_render, render_grafx

SR = 8000.0


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def shaped(size):
    return (size,) if isinstance(size, int) else tuple(size)


def z_of(*hz, batch=1):
    return z_frequency_from_frequency(torch.tensor([hz] * batch, dtype=torch.float64), SR)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_bands", [2, 3, 5])
def test_bands_sum_back_to_the_input(dtype, num_bands):
    xover = LinkwitzRileyCrossover(num_bands=num_bands, sample_rate=SR)
    x = rand(3, 2, 1000, dtype=dtype)
    z = rand(3, num_bands - 1, seed=1, dtype=dtype)
    bands = xover(x, z_frequency=z)
    assert len(bands) == num_bands and all(b.dtype == dtype for b in bands)
    assert float((sum(bands) - x).abs().max()) < 1e-6


@pytest.mark.parametrize("order", [2, 4, 8])
def test_band_magnitudes_are_linkwitz_riley(order):
    # Sines at and around the crossover: low-band amplitude 1 / (1 + (f / fc)^N), high 1 - that.
    xover = LinkwitzRileyCrossover(num_bands=2, order=order, sample_rate=SR)
    n, fc = 4000, 500.0
    t = np.arange(n) / SR
    for f in (125.0, 250.0, 500.0, 1000.0, 2000.0):
        x = torch.tensor(np.sin(2 * np.pi * f * t))[None, None]
        low, high = xover(x, z_frequency=z_of(fc))
        middle = slice(1000, 3000)  # away from the zero-phase filter's edges
        expected = 1 / (1 + (f / fc) ** order)
        np.testing.assert_allclose(
            low[0, 0, middle].numpy(), expected * x[0, 0, middle].numpy(), atol=2e-3
        )
        np.testing.assert_allclose(
            high[0, 0, middle].numpy(), (1 - expected) * x[0, 0, middle].numpy(), atol=2e-3
        )
    # -6 dB at the crossover, 6N dB per octave far from it
    assert 20 * math.log10(1 / (1 + 1)) == pytest.approx(-6.02, abs=0.01)


def test_gradcheck_float64():
    xover = LinkwitzRileyCrossover(num_bands=3, sample_rate=SR)
    x = rand(2, 2, 32).requires_grad_()
    z = rand(2, 2, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, z: torch.stack(xover(x, z_frequency=z)), (x, z))
    mb = MultibandCompressor(num_bands=2, sample_rate=SR, iir_len=16)
    params = {
        k: 0.5 * rand(2, *shaped(v), seed=i + 2)
        for i, (k, v) in enumerate(mb.parameter_size().items())
    }
    names = list(params)

    def run(x, *values):
        return mb(x, **dict(zip(names, values, strict=True)))

    assert torch.autograd.gradcheck(run, (x, *(p.requires_grad_() for p in params.values())))


@pytest.mark.parametrize("value", [-20.0, 20.0])
def test_finite_gradients_at_extremes(value):
    mb = MultibandCompressor(num_bands=3, sample_rate=SR, iir_len=32)
    x = rand(2, 2, 128, dtype=torch.float32).requires_grad_()
    params = {
        k: torch.full((2, *shaped(v)), value).requires_grad_()
        for k, v in mb.parameter_size().items()
    }
    y = mb(x, **params)
    (y.square().sum() + y.sum()).backward()
    assert torch.isfinite(x.grad).all()
    for key, p in params.items():
        assert torch.isfinite(p.grad).all(), key


def test_multiband_compressor_is_a_compressor_per_band():
    mb = MultibandCompressor(num_bands=3, sample_rate=SR, iir_len=64)
    comp = Compressor(iir_len=64)
    x = rand(2, 2, 512)
    params = {
        k: 0.5 * rand(2, *shaped(v), seed=i + 1)
        for i, (k, v) in enumerate(mb.parameter_size().items())
    }
    bands = LinkwitzRileyCrossover(3, sample_rate=SR)(x, z_frequency=params["z_frequency"])
    expected = sum(
        comp(band, **{k: v[:, b] for k, v in params.items() if k != "z_frequency"})
        for b, band in enumerate(bands)
    )
    torch.testing.assert_close(mb(x, **params), expected)
    # idle compressors (threshold far above the signal): the output is the input
    idle = dict(params, log_threshold=torch.full((2, 3, 1), 40.0, dtype=torch.float64))
    torch.testing.assert_close(mb(x, **idle), x, atol=1e-9, rtol=0)


def test_mimo_crossover_renders_in_a_graph_and_sums_back():
    config = NodeConfigs(
        {
            "xover": {"inlets": ["main"], "outlets": ["low", "mid", "high"]},
            "comp": {"inlets": ["main"], "outlets": ["main"]},
        }
    )
    G = GRAFX(config=config)
    src, out = G.add("in"), G.add("out")
    xover = G.add("xover")
    G.connect(src, xover)
    for outlet in ("low", "mid", "high"):
        comp = G.add("comp")
        G.connect(xover, comp, outlet=outlet)
        G.connect(comp, out)
    processors = {
        "xover": LinkwitzRileyCrossover(3, sample_rate=SR),
        "comp": Compressor(iir_len=64),
    }
    x = rand(1, 2, 300)
    z = z_of(300.0, 2000.0)
    comp_params = {
        k: 0.3 * rand(3, *shaped(v), seed=4) for k, v in processors["comp"].parameter_size().items()
    }
    y, _ = render_grafx(
        x, processors, {"xover": {"z_frequency": z}, "comp": comp_params}, prepare_render(G)
    )
    bands = processors["xover"](x, z_frequency=z)
    expected = sum(
        processors["comp"](band, **{k: v[i : i + 1] for k, v in comp_params.items()})
        for i, band in enumerate(bands)
    )
    torch.testing.assert_close(y, expected)
    # with idle compressors the graph gives back its input
    idle = dict(comp_params, log_threshold=torch.full((3, 1), 40.0, dtype=torch.float64))
    y_idle, _ = render_grafx(
        x, processors, {"xover": {"z_frequency": z}, "comp": idle}, prepare_render(G)
    )
    assert float((y_idle - x).abs().max()) < 1e-6


def test_fit_recovers_a_crossover_frequency():
    xover = LinkwitzRileyCrossover(2, sample_rate=SR)
    x = rand(1, 1, 512)
    target = xover(x, z_frequency=z_of(1200.0))[0]
    z = z_of(2000.0).requires_grad_()  # neutral: z = 0 is 2 kHz at 8 kHz
    z.data.zero_()
    optimizer = torch.optim.Adam([z], lr=5e-2)
    for _ in range(200):
        optimizer.zero_grad()
        loss = (xover(x, z_frequency=z)[0] - target).square().mean()
        loss.backward()
        optimizer.step()
    f = float(0.5 * SR * torch.sigmoid(z.detach()))
    assert abs(f - 1200.0) < 5.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LinkwitzRileyCrossover(num_bands=1), "LinkwitzRileyCrossover: num_bands"),
        (lambda: LinkwitzRileyCrossover(order=3), "LinkwitzRileyCrossover: order"),
        (lambda: MultibandCompressor(sample_rate=0), "MultibandCompressor: sample_rate"),
    ],
)
def test_bad_configuration_is_named(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_wrong_shape_is_named():
    with pytest.raises(ParameterError, match="LinkwitzRileyCrossover: .*'z_frequency'"):
        LinkwitzRileyCrossover(3)(torch.zeros(2, 2, 16), z_frequency=torch.zeros(2, 1))


def test_multiband_parameter_size_refuses_a_nested_band_parameter(monkeypatch):
    mb = MultibandCompressor(num_bands=2)
    assert mb.parameter_size()["log_ratio"] == (2, 1)
    monkeypatch.setattr(mb.compressor, "parameter_size", lambda: {"side": {"gain": 1}})
    with pytest.raises(ConfigError, match=r"^MultibandCompressor: nested parameter 'side'"):
        mb.parameter_size()
