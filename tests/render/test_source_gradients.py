"""Gradients to the sources through real processors: dtype and device kept, values exact."""

import pytest
import torch

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.processors import Compressor, PeakingFilter, StereoGain
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render
from grafx.utils import create_empty_parameters


def graph_and_processors():
    G = GRAFX(config=NodeConfigs(["eq", "comp", "gain"]))
    out = G.add("out")
    for _ in range(2):
        _, end = G.add_serial_chain(["in", "eq", "comp", "gain"])
        G.connect(end, out)
    G_t = reorder_for_fast_render(convert_to_tensor(G), method="beam")
    processors = {"eq": PeakingFilter(), "comp": Compressor(iir_len=64), "gain": StereoGain()}
    return G_t, processors


def random_parameters(G_t, processors, dtype, device="cpu"):
    generator = torch.Generator().manual_seed(0)
    params = create_empty_parameters(G_t, processors)
    return {
        t: {
            k: (0.3 * torch.randn(v.shape, generator=generator)).to(dtype).to(device)
            for k, v in p.items()
        }
        for t, p in params.items()
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batched", [False, True])
def test_source_gradients_keep_the_dtype(dtype, batched):
    G_t, processors = graph_and_processors()
    plan = prepare_render(G_t)
    params = random_parameters(G_t, processors, dtype)
    shape = (3, 2, 2, 128) if batched else (2, 2, 128)
    source = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    source.requires_grad_()
    output, _ = render_grafx(source, processors, params, plan)
    assert output.dtype == dtype
    output.pow(2).sum().backward()
    assert source.grad.dtype == dtype and torch.isfinite(source.grad).all()
    assert source.grad.abs().sum() > 0


def test_source_gradient_is_exact_float64():
    G_t, processors = graph_and_processors()
    plan = prepare_render(G_t)
    params = random_parameters(G_t, processors, torch.float64)
    source = torch.randn(2, 2, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    source.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: render_grafx(x, processors, params, plan)[0], (source,)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_source_gradients_stay_on_the_device():
    G_t, processors = graph_and_processors()
    plan = prepare_render(G_t)
    params = random_parameters(G_t, processors, torch.float64, "cuda")
    source = torch.randn(2, 2, 128, dtype=torch.float64, device="cuda", requires_grad=True)
    output, _ = render_grafx(source, processors, params, plan)
    assert output.device == source.device and output.dtype == torch.float64
    output.pow(2).sum().backward()
    assert source.grad.device == source.device
