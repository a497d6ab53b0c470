"""Rendering without gradients takes in-place shortcuts (fewer signal-sized temporaries); they
must give the values of the differentiable path bit for bit, so a render equals the fit's."""

import pytest
import torch

from grafx.presets import console_processors


@pytest.mark.parametrize("name", ["compressor", "noisegate", "eq", "delay", "reverb"])
def test_no_grad_render_equals_the_differentiable_one(name):
    torch.manual_seed(0)
    processor = console_processors(sample_rate=44100)[name]
    x = torch.randn(3, 2, 5000) * torch.linspace(0, 1, 5000) ** 3
    params = {
        key: (torch.randn(3, *((size,) if isinstance(size, int) else size)) * 0.5).requires_grad_()
        for key, size in processor.parameter_size().items()
    }

    def render():
        out = processor(x, **params)
        return out[0] if isinstance(out, tuple) else out  # the delay also returns its extras

    expected = render()
    assert expected.requires_grad
    with torch.no_grad():
        assert torch.equal(render(), expected.detach())
    with torch.inference_mode():
        assert torch.equal(render(), expected.detach())
