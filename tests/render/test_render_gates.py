"""Node gates (dry/wet weights) in the render engine: values, equivalences, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
from render_reference import (
    MIMO_CONFIG,
    PROCESSORS,
    Delay,
    Gain,
    Widen,
    make_tensor_graph,
    random_parameters,
    reference_render,
)
from torch import nn

from grafx.data.configs import NodeConfigs
from grafx.errors import ParameterError
from grafx.processors.container import DryWet
from grafx.render import permute_parameters, prepare_render, render_grafx, reorder_for_fast_render

SISO = NodeConfigs(["gain", "delay", "widen"])
PROCS = {"gain": Gain(), "delay": Delay(), "widen": Widen()}


class GatedByHand(nn.Module):
    """Reference: pops ``drywet_weight`` and returns ``w y_k + (1 - w) u_k`` per outlet."""

    def __init__(self, processor):
        super().__init__()
        self.processor = processor

    def forward(self, *inputs, drywet_weight, **kwargs):
        result = self.processor(*inputs, **kwargs)
        outs = result if isinstance(result, list) else [result]
        w = (1 / (1 + torch.exp(-drywet_weight))).reshape(-1, 1, 1)
        blended = [w * y + (1 - w) * u for y, u in zip(outs, inputs, strict=True)]
        return blended if isinstance(result, list) else blended[0]


def _signal(*shape, dtype=torch.float64, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _render(G_t, source, params, processors=PROCS, method="beam"):
    G_fast = reorder_for_fast_render(G_t, method=method)
    params = permute_parameters(params, G_t, G_fast)
    return render_grafx(source, processors, params, prepare_render(G_fast))[0]


def _with_gates(params, G_t, seed=1):
    generator = torch.Generator().manual_seed(seed)
    counts = torch.bincount(G_t.node_types, minlength=len(G_t.config))
    gated = {}
    for name, value in params.items():
        n = int(counts[G_t.config.node_type_to_index[name]])
        weight = torch.randn(n, 1, generator=generator, dtype=torch.float64) * 2
        gated[name] = {**value, "drywet_weight": weight}
    return gated


def test_gate_blends_output_with_input():
    G_t = make_tensor_graph(["in", "gain", "out"], [(0, 1), (1, 2)], SISO)
    x = _signal(1, 2, 32)
    omega = math.log(0.3 / 0.7)  # w = 0.3
    params = {"gain": {"gain": torch.tensor([[2.5]], dtype=torch.float64)}}
    params["gain"]["drywet_weight"] = torch.tensor([[omega]], dtype=torch.float64)
    torch.testing.assert_close(_render(G_t, x, params), (0.3 * 2.5 + 0.7) * x)


FAN = (
    ["in", "in", "gain", "delay", "widen", "gain", "delay", "out"],
    [(0, 2), (1, 3), (2, 4), (3, 4), (2, 5), (4, 6), (5, 6), (6, 7), (0, 7)],
)


@pytest.mark.parametrize("method", ["one-by-one", "greedy", "beam"])
@pytest.mark.parametrize("batched", [False, True])
def test_gated_render_matches_a_gated_reference(method, batched):
    G_t = make_tensor_graph(*FAN, SISO)
    params = _with_gates(random_parameters(G_t, {"gain": Gain(), "widen": Widen()}), G_t)
    params["delay"] = {"drywet_weight": torch.tensor([[0.4], [-1.2]], dtype=torch.float64)}
    x = _signal(3, 2, 1, 40) if batched else _signal(2, 1, 40)
    expected, _ = reference_render(G_t, x, {k: GatedByHand(p) for k, p in PROCS.items()}, params)
    torch.testing.assert_close(_render(G_t, x, params, method=method), expected)


def test_mimo_gate_blends_outlet_k_with_inlet_k():
    G_t = make_tensor_graph(
        ["in", "in", "matrix", "out"], [(0, 2, 0, 0), (1, 2, 0, 1), (2, 3, 0, 0), (2, 3, 1, 0)]
    )
    params = _with_gates(random_parameters(G_t, {"matrix": PROCESSORS["matrix"]}), G_t)
    x = _signal(2, 2, 16)
    gated = {"matrix": GatedByHand(PROCESSORS["matrix"])}
    expected, _ = reference_render(G_t, x, gated, params)
    torch.testing.assert_close(_render(G_t, x, params, PROCESSORS), expected)
    assert MIMO_CONFIG.num_inlets["matrix"] == 2


def test_engine_gate_equals_the_drywet_container_bit_for_bit():
    G_t = make_tensor_graph(*FAN, SISO)
    params = _with_gates(random_parameters(G_t, {"gain": Gain(), "widen": Widen()}), G_t)
    x = _signal(2, 1, 40)
    wrapped = {
        "gain": DryWet(Gain(), external_param=False),
        "widen": DryWet(Widen(), external_param=False),
        "delay": Delay(),
    }
    assert torch.equal(_render(G_t, x, params), _render(G_t, x, params, wrapped))


def test_gates_at_zero_give_the_plain_sum_and_at_one_the_processors():
    G_t = make_tensor_graph(*FAN, SISO)
    plain = random_parameters(G_t, {"gain": Gain(), "widen": Widen()})
    x = _signal(2, 2, 40)

    def gates(value):
        return {
            k: {**v, "drywet_weight": torch.full((len(next(iter(v.values()))), 1), value)}
            for k, v in plain.items()
        }

    closed = gates(-math.inf)
    closed["delay"] = {"drywet_weight": torch.full((2, 1), -math.inf, dtype=torch.float64)}
    # Every processor bypassed: each path carries its source unchanged. x0 reaches out directly
    # and through 2->4->6 and 2->5->6; x1 through 3->4->6.
    expected = (3 * x[0] + x[1]).unsqueeze(0)
    # the same sum in another order: equal up to rounding
    torch.testing.assert_close(_render(G_t, x, closed), expected, rtol=1e-15, atol=1e-15)
    opened = gates(math.inf)
    assert torch.equal(_render(G_t, x, opened, PROCS), _render(G_t, x, plain, PROCS))


def test_gate_gradients_match_finite_differences():
    G_t = make_tensor_graph(*FAN, SISO)
    params = _with_gates(random_parameters(G_t, {"gain": Gain(), "widen": Widen()}), G_t)
    params["delay"] = {"drywet_weight": torch.tensor([[0.4], [-1.2]], dtype=torch.float64)}
    G_fast = reorder_for_fast_render(G_t)
    plan = prepare_render(G_fast)
    x = _signal(3, 2, 1, 24)
    names = [(t, "drywet_weight") for t in ("gain", "widen", "delay")]

    def run(*gates):
        p = {t: dict(v) for t, v in params.items()}
        for (t, key), g in zip(names, gates, strict=True):
            p[t][key] = g
        return render_grafx(x, PROCS, permute_parameters(p, G_t, G_fast), plan)[0]

    gates = [params[t][k].clone().requires_grad_() for t, k in names]
    assert torch.autograd.gradcheck(run, tuple(gates))


def test_a_gate_of_the_wrong_shape_is_named():
    G_t = make_tensor_graph(["in", "gain", "gain", "out"], [(0, 1), (1, 2), (2, 3)], SISO)
    params = {"gain": {"gain": torch.ones(2, 1), "drywet_weight": torch.zeros(2, 3)}}
    with pytest.raises(ParameterError, match=r"gate gain/drywet_weight has shape \(2, 3\)"):
        _render(G_t, torch.ones(1, 1, 8), params)


def test_a_gate_needs_a_processor():
    config = NodeConfigs(["gain"])
    G_t = make_tensor_graph(["in", "mix", "out"], [(0, 1), (1, 2)], config)
    with pytest.raises(ParameterError, match="type 'mix' has a 'drywet_weight' gate but no proc"):
        _render(G_t, torch.ones(1, 1, 8), {"mix": {"drywet_weight": torch.zeros(1, 1)}}, {})


class Split(nn.Module):
    def forward(self, x):
        return [x, -x]

    def parameter_size(self):
        return {}


def test_a_gate_on_unequal_inlets_and_outlets_is_refused():
    config = NodeConfigs({"split": {"inlets": ["main"], "outlets": ["a", "b"]}})
    G_t = make_tensor_graph(
        ["in", "split", "out"], [(0, 1, 0, 0), (1, 2, 0, 0), (1, 2, 1, 0)], config
    )
    params = {"split": {"drywet_weight": torch.zeros(1, 1)}}
    with pytest.raises(ParameterError, match=r"'split' has 1 inlet\(s\) and 2 outlet\(s\)"):
        _render(G_t, torch.ones(1, 1, 8), params, {"split": Split()})
