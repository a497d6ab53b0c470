"""Generic processor-contract checks shared by test_filter.py and test_eq.py."""

from __future__ import annotations

import warnings

import pytest
import torch

from grafx.errors import AudioError
from grafx.processors.core.iir import FSMAccuracyWarning


def shape_of(size):
    return (size,) if isinstance(size, int) else tuple(size)


def make_params(processor, batch, dtype=torch.float64, value=None, scale=0.5, seed=0):
    """Parameters from ``parameter_size()``: N(0, scale^2) values, or all equal to ``value``."""
    generator = torch.Generator().manual_seed(seed)
    params = {}
    for key, size in processor.parameter_size().items():
        shape = (batch, *shape_of(size))
        if value is None:
            params[key] = scale * torch.randn(shape, generator=generator, dtype=dtype)
        else:
            params[key] = torch.full(shape, float(value), dtype=dtype)
    return params


def noise(batch, channels, length, dtype=torch.float64, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, length, generator=generator, dtype=dtype)


def check_gradcheck(processor, channels=1, length=48, batch=2, fast_mode=False):
    params = make_params(processor, batch)
    x = noise(batch, channels, length).requires_grad_()
    names = list(params)

    def run(x, *values):
        return processor(x, **dict(zip(names, values, strict=True)))

    inputs = (x, *(p.requires_grad_() for p in params.values()))
    assert torch.autograd.gradcheck(run, inputs, fast_mode=fast_mode)


def check_extremes(processor, value, channels=2, length=256, dtype=torch.float64, fsm_warns=True):
    """Parameters all at ``value`` (+-20: saturated activations) give finite audio and gradients.

    On the ``fsm`` backend such parameters put a pole within about 1e-5 of the unit circle,
    whose tail no FIR of the longest allowed length holds: the processor must say so with an
    :class:`FSMAccuracyWarning` (and still stay finite). The other backends, and a processor
    whose design keeps its poles away from the circle (``fsm_warns=False``), must not warn.
    """
    params = {k: v.requires_grad_() for k, v in make_params(processor, 2, dtype, value).items()}
    x = noise(2, channels, length, dtype).requires_grad_()
    if fsm_warns and getattr(getattr(processor, "iir", None), "backend", None) == "fsm":
        with pytest.warns(FSMAccuracyWarning, match=r"a pole of radius 0\.9999\d+ needs"):
            y = processor(x, **params)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FSMAccuracyWarning)
            y = processor(x, **params)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for key, param in params.items():
        assert torch.isfinite(param.grad).all(), key


def check_mono_and_stereo(processor, channels):
    """Mono or stereo input: mono processors keep C, stereo/midside ones give 2 channels, and
    midside refuses mono input by name."""
    params = make_params(processor, 2)
    mode = getattr(processor, "processor_channel", "mono")
    if mode == "midside" and channels == 1:
        with pytest.raises(AudioError, match="midside"):
            processor(noise(2, channels, 100), **params)
        return
    y = processor(noise(2, channels, 100), **params)
    assert y.shape == (2, channels if mode == "mono" else 2, 100)
