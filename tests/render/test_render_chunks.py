"""Steps rendered in chunks of nodes: the same signals, gradients and extras as one call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import grafx.render.graph as engine
from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.processors import (
    Compressor,
    GainStagingRegularization,
    MultitapDelay,
    NewZeroPhaseFIREqualizer,
    SideGainImager,
    StereoGain,
)
from grafx.render import prepare_render, render_grafx
from grafx.utils import create_empty_parameters

TYPES = ["eq", "compressor", "imager", "gain_pan", "delay"]
LENGTH = 2048
TRACKS = 5


def _processors() -> dict:
    return {
        "eq": NewZeroPhaseFIREqualizer(processor_channel="mono"),
        "compressor": Compressor(energy_smoother="iir", gain_smoother=None, knee="quadratic"),
        "imager": SideGainImager(),
        "gain_pan": StereoGain(),
        "delay": MultitapDelay(segment_len=64, num_segments=4),
    }


def _console(processors: dict, seed: int = 0):
    G = GRAFX(config=NodeConfigs(TYPES))
    out_id = G.add("out")
    for _ in range(TRACKS):
        _, end = G.add_serial_chain(["in", *TYPES])
        G.connect(end, out_id)
    plan = prepare_render(convert_to_tensor(G))
    generator = torch.Generator().manual_seed(seed)
    params = {
        t: {
            k: (
                0.3 * torch.randn(v.shape, generator=generator, dtype=torch.float64)
            ).requires_grad_(True)
            for k, v in tree.items()
        }
        for t, tree in create_empty_parameters(processors, G).items()
    }
    source = torch.randn(TRACKS, 2, LENGTH, generator=generator, dtype=torch.float64)
    return plan, params, source


def _render_and_grads(processors, params, source, plan, chunk_bytes, monkeypatch):
    monkeypatch.setattr(engine, "STEP_CHUNK_BYTES", chunk_bytes)
    output, extras = render_grafx(source, processors, params, plan)
    loss = output.square().mean() + sum(e["radii_reg"] for e in extras if "radii_reg" in e)
    grads = torch.autograd.grad(loss, [v for tree in params.values() for v in tree.values()])
    return output.detach(), list(extras), [g.detach() for g in grads]


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_chunked_steps_match_one_call(monkeypatch, rows):
    processors = _processors()
    plan, params, source = _console(processors)
    row_bytes = 2 * LENGTH * 8
    whole = _render_and_grads(processors, params, source, plan, 1 << 40, monkeypatch)
    calls: list[int] = []
    hook = processors["eq"].register_forward_hook(lambda m, a, out: calls.append(a[0].shape[0]))
    chunked = _render_and_grads(processors, params, source, plan, rows * row_bytes, monkeypatch)
    hook.remove()
    # the EQ step's 5 nodes went through in chunks of `rows`
    assert calls == [min(rows, TRACKS - s) for s in range(0, TRACKS, rows)]
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-12, atol=1e-12)
    # the delay's radii losses, one scalar per chunk, are added up
    (radii_whole,) = [e["radii_reg"] for e in whole[1] if "radii_reg" in e]
    (radii_chunked,) = [e["radii_reg"] for e in chunked[1] if "radii_reg" in e]
    torch.testing.assert_close(radii_chunked, radii_whole, rtol=1e-12, atol=0)
    for g_chunked, g_whole in zip(chunked[2], whole[2], strict=True):
        assert torch.isfinite(g_chunked).all()
        torch.testing.assert_close(g_chunked, g_whole, rtol=1e-9, atol=1e-12)


def test_undeclared_extras_fall_back_to_one_call(monkeypatch):
    # GainStagingRegularization sums its regulariser over the batch: not declared mergeable,
    # so the step is called once on every node and the extras are the whole batch's
    processors = {**_processors(), "gain_pan": GainStagingRegularization(StereoGain())}
    plan, params, source = _console(processors)
    whole = _render_and_grads(processors, params, source, plan, 1 << 40, monkeypatch)
    calls: list[int] = []
    hook = processors["gain_pan"].register_forward_hook(
        lambda m, a, out: calls.append(a[0].shape[0])
    )
    chunked = _render_and_grads(processors, params, source, plan, 2 * LENGTH * 8, monkeypatch)
    hook.remove()
    assert calls == [1, TRACKS]  # one chunk tried, then the whole step
    (reg_whole,) = [e["gain_reg"] for e in whole[1] if "gain_reg" in e]
    (reg_chunked,) = [e["gain_reg"] for e in chunked[1] if "gain_reg" in e]
    torch.testing.assert_close(reg_chunked, reg_whole, rtol=1e-12, atol=0)
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-12, atol=1e-12)


class _BatchMean(nn.Module):
    """Not row-wise: every node's output depends on the whole batch."""

    def forward(self, x):
        return x - x.mean(0, keepdim=True)


def test_user_processors_are_never_chunked(monkeypatch):
    monkeypatch.setattr(engine, "STEP_CHUNK_BYTES", 1)
    G = GRAFX(config=NodeConfigs(["center"]))
    out_id = G.add("out")
    for _ in range(4):
        _, end = G.add_serial_chain(["in", "center"])
        G.connect(end, out_id)
    plan = prepare_render(convert_to_tensor(G))
    source = torch.randn(4, 2, 64, dtype=torch.float64)
    output, _ = render_grafx(source, {"center": _BatchMean()}, {}, plan)
    # the centred signals of the 4 tracks sum to zero only if centred over all 4 at once
    torch.testing.assert_close(output, torch.zeros_like(output), rtol=0, atol=1e-12)
