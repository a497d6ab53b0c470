"""Every registered processor gives finite outputs and gradients at extreme raw parameters.

For each processor configuration of the contract test (``test_contract.CASES``), in float32 on
a short signal, every parameter is filled with one value out of ``VALUES`` at once, and a
bounded loss (the mean of ``tanh`` of the outputs, as a fit with a bounded loss sees them) is
differentiated: the outputs and the gradients of the input and of every parameter must be
finite. A parameter that is a pure output scale (``OUTPUT_SCALES``: :math:`e^{v}` multiplies
the output) is filled with at most ``+-OUTPUT_SCALE_MAX`` instead: at :math:`v > 88` the scale
itself is not a float32 number, so no finite output exists, and a fit never gets near
:math:`e^{20}` (+174 dB).
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from test_contract import CASES, build, call, leaves, make_inputs

pytestmark = pytest.mark.usefixtures("one_thread")

VALUES = (-1e4, -100.0, -50.0, 50.0, 100.0, 1e4)
#: Parameters whose exponential scales the output (by name, the last part of a nested key).
OUTPUT_SCALES = re.compile(
    r"^(log_gain|log_post_gain|\w*log_magnitude|log_fir_magnitude|log_amplitude|A0)$"
)
OUTPUT_SCALE_MAX = 20.0
LENGTH = 128


def fill(size, value):
    params = {}
    for key, shape in size.items():
        if isinstance(shape, dict):
            params[key] = fill(shape, value)
            continue
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        v = value
        if OUTPUT_SCALES.match(key):
            v = max(-OUTPUT_SCALE_MAX, min(OUTPUT_SCALE_MAX, value))
        params[key] = torch.full((2, *shape), float(v), requires_grad=True)
    return params


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
def test_outputs_and_gradients_are_finite_at_extreme_parameters(name, make, channels):
    processor = build(name, make)
    failures = []
    for value in VALUES:
        inputs = [
            x.requires_grad_() for x in make_inputs(processor, 2, channels, LENGTH, torch.float32)
        ]
        params = fill(processor.parameter_size(), value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # accuracy warnings of extreme filters
            outputs, extras = call(processor, inputs, params, LENGTH)
        bad = [f"output {k}" for k, y in enumerate(outputs) if not torch.isfinite(y).all()]
        loss = sum(torch.tanh(y).mean() for y in outputs)
        loss = loss + sum(torch.tanh(e).mean() for e in extras.values())
        loss.backward()
        for k, x in enumerate(inputs):
            if x.grad is not None and not torch.isfinite(x.grad).all():
                bad.append(f"input {k} gradient")
        for key, tensor in leaves(params):
            if tensor.grad is not None and not torch.isfinite(tensor.grad).all():
                bad.append(f"{key} gradient")
        if bad:
            failures.append(f"{value:g}: {', '.join(bad)}")
    assert not failures, "; ".join(failures)
