"""Every registered processor on the ``meta`` device: shapes propagate, nothing hides on the CPU.

A meta tensor has a device and a shape but no data. A processor that builds a tensor on the CPU
(``torch.tensor(...)`` without a device, a buffer not moved by ``.to``) fails here as it would
on a GPU (tensors on two devices), and one that copies its input to the host (``.cpu()``,
``.numpy()``) fails with "Cannot copy out of meta tensor". So this is a CPU-only check of what
a CUDA run would trip on. What cannot run without data is listed with its reason in
:data:`NEEDS_DATA`; each such case must still fail here, so the list cannot go stale unseen.
"""

from __future__ import annotations

import pytest
import torch
from test_contract import CASES, build, call, leaves, make_inputs, make_params

pytestmark = pytest.mark.usefixtures("one_thread")

META = torch.device("meta")

_BALLISTICS = (
    "the torch ballistics path repeats its scan until the attack/release choices settle, "
    "which reads values (torch.equal)"
)
_ISTFT = "torch.istft checks its window's overlap-add on the values (no meta kernel)"
_BLACK_BOX = "a black box calls Python code on the samples, on the CPU"

#: Processors (by name prefix of the case id) that need values, with the reason.
NEEDS_DATA = {
    "STFTMaskedNoiseReverb": _ISTFT,
    "MidSideFilteredNoiseReverb": _ISTFT,
    "Phaser": _ISTFT,
    "SerialChain": _ISTFT + " (its member is a reverb)",
    "ParallelMix": _ISTFT + " (its members include a reverb)",
    "GainStagingRegularization": _ISTFT + " (it wraps a reverb)",
    "BlackBox": _BLACK_BOX,
    "PedalboardEffect": _BLACK_BOX,
}

#: Single cases (by id) that need values, with the reason.
NEEDS_DATA_IDS = {"Compressor-ballistics": _BALLISTICS}


def _meta_cases():
    for case in CASES:
        name = case.values[0]
        reason = NEEDS_DATA.get(name) or NEEDS_DATA_IDS.get(case.id)
        if reason is None:
            yield case
        else:
            mark = pytest.mark.xfail(
                reason=f"needs data: {reason}",
                raises=NotImplementedError,
                strict=True,
            )
            yield pytest.param(*case.values, id=case.id, marks=mark)


def _to_meta(params):
    return {
        k: _to_meta(v) if isinstance(v, dict) else v.to(META).requires_grad_()
        for k, v in params.items()
    }


@pytest.mark.parametrize(("name", "make", "channels"), list(_meta_cases()))
def test_forward_and_backward_on_meta(name, make, channels):
    processor = build(name, make).to(META)
    batch, length = 2, 80
    inputs = [
        x.to(META).requires_grad_()
        for x in make_inputs(processor, batch, channels, length, torch.float32)
    ]
    params = _to_meta(make_params(processor.parameter_size(), batch, torch.float32))
    outputs, extras = call(processor, inputs, params, length)
    for tensor in [*outputs, *extras.values()]:
        assert tensor.device == META
        assert tensor.dtype == torch.float32
    for output in outputs:
        assert output.shape[0] == batch and output.shape[-1] == length
    loss = sum(y.sum() for y in outputs) + sum(e.sum() for e in extras.values())
    loss.backward()
    for x in inputs:
        assert x.grad is not None and x.grad.device == META and x.grad.shape == x.shape
    for key, value in leaves(params):
        assert value.grad is not None and value.grad.device == META, key


def test_every_processor_that_needs_data_is_registered():
    names = {case.values[0] for case in CASES}
    assert set(NEEDS_DATA) <= names
