import math

import pytest
import torch
from torch import nn

from grafx.errors import ConfigError, ParameterError
from grafx.processors.container import (
    DryWet,
    GainStagingRegularization,
    ParallelMix,
    SerialChain,
    drywet_weight_from_mix,
    mix_from_drywet_weight,
)
from grafx.processors.delay import MultitapDelay
from grafx.processors.reverb import STFTMaskedNoiseReverb
from grafx.processors.stereo import StereoGain

pytestmark = pytest.mark.usefixtures("one_thread")


class Gain(nn.Module):
    """Test processor: y = exp(log_gain) * u, no extras."""

    def forward(self, input_signals, log_gain):
        return input_signals * torch.exp(log_gain)[..., None]

    def parameter_size(self):
        return {"log_gain": 1}


class Offset(nn.Module):
    """Test processor: y = u + bias, returning an extra."""

    def forward(self, input_signals, bias):
        return input_signals + bias[..., None], {"bias_norm": bias.square().sum()}

    def parameter_size(self):
        return {"bias": (1,)}


def small_delay():
    return MultitapDelay(segment_len=16, num_segments=2, zp_filter_bins=4)


def small_reverb():
    return STFTMaskedNoiseReverb(ir_len=128, n_fft=32, hop_length=16)


def make_params(size, batch=3, dtype=torch.float64, gen=None):
    gen = gen or torch.Generator().manual_seed(0)
    out = {}
    for key, value in size.items():
        if isinstance(value, dict):
            out[key] = make_params(value, batch, dtype, gen)
        else:
            shape = (value,) if isinstance(value, int) else tuple(value)
            out[key] = 0.5 * torch.randn(batch, *shape, generator=gen, dtype=dtype)
    return out


def make_input(batch=3, channels=2, length=64, dtype=torch.float64):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, channels, length, generator=gen, dtype=dtype)


# ---------------------------------------------------------------------------------- DryWet


def test_drywet_activation_and_inverse():
    mix = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    torch.testing.assert_close(mix_from_drywet_weight(drywet_weight_from_mix(mix)), mix)
    assert mix_from_drywet_weight(torch.tensor(0.0)) == 0.5


def test_drywet_at_zero_and_one_is_exactly_dry_and_wet():
    proc = DryWet(small_reverb())
    x = make_input()
    params = make_params(proc.parameter_size())
    wet = proc.processor(x, **params)
    dry_out = proc(x, drywet_weight_from_mix(torch.zeros(3, 1, dtype=torch.float64)), **params)
    wet_out = proc(x, drywet_weight_from_mix(torch.ones(1, dtype=torch.float64)), **params)
    assert torch.equal(dry_out, x)
    assert torch.equal(wet_out, wet)


def test_drywet_blend_formula_and_extras_pass_through():
    proc = DryWet(Offset(), external_param=False)
    assert proc.parameter_size() == {"bias": (1,), "drywet_weight": (1,)}
    x = make_input()
    bias = torch.randn(3, 1, dtype=torch.float64)
    weight = torch.randn(3, 1, dtype=torch.float64)
    y, extras = proc(x, weight, bias=bias)
    w = torch.sigmoid(weight)[..., None]
    torch.testing.assert_close(y, w * (x + bias[..., None]) + (1 - w) * x)
    torch.testing.assert_close(extras["bias_norm"], bias.square().sum())


def test_drywet_parameter_size_does_not_mutate_inner():
    inner = Gain()
    proc = DryWet(inner, external_param=False)
    proc.parameter_size()
    assert inner.parameter_size() == {"log_gain": 1}
    assert DryWet(inner).parameter_size() == {"log_gain": 1}


def test_drywet_bad_weight_shape():
    proc = DryWet(Gain())
    with pytest.raises(ParameterError, match="drywet_weight"):
        proc(make_input(), torch.zeros(2), log_gain=torch.zeros(3, 1))
    with pytest.raises(ParameterError, match="drywet_weight"):
        DryWet(Gain(), external_param=False)(
            make_input(), torch.zeros(3, 2), log_gain=torch.zeros(3, 1)
        )


def test_drywet_gradcheck():
    proc = DryWet(Gain(), external_param=False)
    x = make_input(batch=2, length=16).requires_grad_()
    w = torch.randn(2, 1, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, g: proc(x, w, log_gain=g), (x, w, g))


# ----------------------------------------------------------------------------- SerialChain


def test_serial_chain_equals_members_in_order():
    members = {"gain": Gain(), "offset": Offset(), "reverb": small_reverb(), "delay": small_delay()}
    chain = SerialChain(members)
    size = chain.parameter_size()
    assert list(size) == ["gain", "offset", "reverb", "delay"]
    assert size["delay"] == small_delay().parameter_size()
    params = make_params(size)
    x = make_input()
    y, extras = chain(x, **params)
    expected = members["gain"](x, **params["gain"])
    expected, offset_extras = members["offset"](expected, **params["offset"])
    expected = members["reverb"](expected, **params["reverb"])
    expected, delay_extras = members["delay"](expected, **params["delay"])
    torch.testing.assert_close(y, expected)
    assert set(extras) == {"offset", "delay"}
    torch.testing.assert_close(extras["delay"]["radii_reg"], delay_extras["radii_reg"])
    torch.testing.assert_close(extras["offset"]["bias_norm"], offset_extras["bias_norm"])


def test_serial_chain_order_matters():
    x = make_input()
    params = {"gain": {"log_gain": torch.ones(3, 1)}, "offset": {"bias": torch.ones(3, 1)}}
    params = {k: {n: v.double() for n, v in p.items()} for k, p in params.items()}
    a, _ = SerialChain({"gain": Gain(), "offset": Offset()})(x, **params)
    b, _ = SerialChain({"offset": Offset(), "gain": Gain()})(x, **params)
    torch.testing.assert_close(a, math.e * x + 1)
    torch.testing.assert_close(b, math.e * (x + 1))


def test_serial_chain_errors():
    chain = SerialChain({"gain": Gain(), "offset": Offset()})
    with pytest.raises(ParameterError, match="offset"):
        chain(make_input(), gain={"log_gain": torch.zeros(3, 1)})
    with pytest.raises(ParameterError, match="log_gain"):
        chain(
            make_input(), gain={"log_gain": torch.zeros(3, 2)}, offset={"bias": torch.zeros(3, 1)}
        )
    with pytest.raises(ConfigError):
        SerialChain({})


# ------------------------------------------------------------------------------ ParallelMix


@pytest.mark.parametrize("activation", ["softmax", "softplus"])
def test_parallel_mix_is_the_weighted_sum(activation):
    members = {"gain": Gain(), "offset": Offset(), "delay": small_delay()}
    mix = ParallelMix(members, activation=activation)
    size = mix.parameter_size()
    assert size["parallel_weights"] == (3,)
    params = make_params(size)
    x = make_input()
    y, extras = mix(x, **params)
    raw = params["parallel_weights"]
    if activation == "softmax":
        w = torch.softmax(raw, -1)
    else:
        w = torch.log1p(torch.exp(raw)) / (3 * math.log(2))
    outs = [
        members["gain"](x, **params["gain"]),
        members["offset"](x, **params["offset"])[0],
        members["delay"](x, **params["delay"])[0],
    ]
    expected = sum(w[:, k, None, None] * o for k, o in enumerate(outs))
    torch.testing.assert_close(y, expected)
    assert set(extras) == {"offset", "delay"}


def test_parallel_mix_softplus_is_uniform_at_zero():
    mix = ParallelMix({"a": Gain(), "b": Gain()}, activation="softplus")
    torch.testing.assert_close(mix.mix_weights(torch.zeros(1, 2)), torch.full((1, 2), 0.5))


def test_parallel_mix_bad_activation():
    with pytest.raises(ConfigError, match="relu"):
        ParallelMix({"a": Gain()}, activation="relu")


# ------------------------------------------------------------------ GainStagingRegularization


def test_gain_staging_regularization_value():
    proc = GainStagingRegularization(Offset())
    assert proc.parameter_size() == {"bias": (1,)}
    x = make_input()
    bias = torch.randn(3, 1, dtype=torch.float64)
    y, extras = proc(x, bias=bias)
    torch.testing.assert_close(y, x + bias[..., None])
    log_x = torch.log(x.square().mean((1, 2)) + 1e-7)
    log_y = torch.log(y.square().mean((1, 2)) + 1e-7)
    torch.testing.assert_close(extras["gain_reg"], (log_x - log_y).abs().sum())
    assert "bias_norm" in extras
    # A gain of e changes the log energy by exactly 2 per node.
    _, gain_extras = GainStagingRegularization(Gain(), key="g")(
        x, log_gain=torch.ones(3, 1).double()
    )
    assert float(gain_extras["g"]) == pytest.approx(6.0, abs=1e-5)


def test_gain_staging_key_clash():
    with pytest.raises(ConfigError, match="bias_norm"):
        GainStagingRegularization(Offset(), key="bias_norm")(make_input(), bias=torch.zeros(3, 1))


# ------------------------------------------------------------------------ contract checks

CONTAINERS = {
    "drywet": lambda: DryWet(small_delay(), external_param=False),
    "serial": lambda: SerialChain({"reverb": small_reverb(), "gain": Gain()}),
    "parallel": lambda: ParallelMix({"reverb": small_reverb(), "delay": small_delay()}),
    "gainstaging": lambda: GainStagingRegularization(small_reverb()),
}


def output_of(result):
    return result[0] if isinstance(result, tuple) else result


@pytest.fixture(params=sorted(CONTAINERS))
def container(request):
    return CONTAINERS[request.param]()


def call(container, x, params):
    if isinstance(container, DryWet):
        params = dict(params)
        return container(x, params.pop("drywet_weight"), **params)
    return container(x, **params)


def slice_params(params, i):
    return {
        k: slice_params(v, i) if isinstance(v, dict) else v[i : i + 1] for k, v in params.items()
    }


def flatten(params):
    for key, value in params.items():
        if isinstance(value, dict):
            yield from ((f"{key}.{k}", v) for k, v in flatten(value))
        else:
            yield key, value


def unflatten(names, values):
    out = {}
    for name, value in zip(names, values, strict=True):
        node = out
        *path, leaf = name.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def test_gradcheck_float64(container):
    for module in container.modules():
        if isinstance(module, MultitapDelay):
            module.delay.straight_through = False
            module.delay.normalize_gradients = False
    x = make_input(batch=1, length=24).requires_grad_()
    names, values = zip(*flatten(make_params(container.parameter_size(), batch=1)), strict=True)

    def run(x, *values):
        return output_of(call(container, x, unflatten(names, values)))

    assert torch.autograd.gradcheck(run, (x, *(v.requires_grad_() for v in values)))


@pytest.mark.parametrize("value", [-20.0, 20.0])
def test_finite_at_extremes(container, value):
    x = make_input(batch=2).requires_grad_()
    params = make_params(container.parameter_size(), batch=2)
    leaves = dict(flatten(params))
    for v in leaves.values():
        v.fill_(value).requires_grad_()
    y = output_of(call(container, x, unflatten(list(leaves), list(leaves.values()))))
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(v.grad).all() for v in leaves.values())


def test_nested_parameter_dicts_are_accepted():
    from grafx.utils import create_empty_parameters_from_shape_dict

    chain = SerialChain({"inner": SerialChain({"gain": Gain()}), "offset": Offset()})
    tree = create_empty_parameters_from_shape_dict(chain.parameter_size(), 3, dtype=torch.float64)
    x = make_input()
    y, _ = chain(x, **dict(tree.items()))
    gain = torch.exp(tree["inner"]["gain"]["log_gain"])[..., None]
    torch.testing.assert_close(y, x * gain + tree["offset"]["bias"][..., None])


def test_containers_render_in_a_graph_like_calling_them_node_by_node():
    from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
    from grafx.render import prepare_render, render_grafx, reorder_for_fast_render
    from grafx.utils import create_empty_parameters, node_parameters

    G = GRAFX(config=NodeConfigs(["wet", "chain"]))
    out = G.add("out")
    chains = [G.add_serial_chain(["in", "wet", "chain"]) for _ in range(2)]
    for _, end in chains:
        G.connect(end, out)
    processors = {
        "wet": DryWet(small_reverb(), external_param=False),
        "chain": SerialChain({"gain": Gain(), "delay": small_delay()}),
    }
    G_t = reorder_for_fast_render(convert_to_tensor(G))
    parameters = create_empty_parameters(G_t, processors, std=0.5, dtype=torch.float64)
    x = make_input(batch=2, length=48)
    y, intermediates = render_grafx(processors, x, parameters, prepare_render(G_t))[:2]
    expected = 0
    for k, (start, end) in enumerate(chains):
        wet = node_parameters(parameters, G_t, start + 1, keepdim=True)
        signal = processors["wet"](x[k : k + 1], wet.pop("drywet_weight"), **wet)
        signal, _ = processors["chain"](
            signal, **node_parameters(parameters, G_t, end, keepdim=True)
        )
        expected = expected + signal
    torch.testing.assert_close(y, expected)
    assert "radii_reg" in intermediates[-1]["delay"]


def test_gain_staging_passes_on_the_wrapped_time_varying_parameters():
    wrapped = GainStagingRegularization(StereoGain())
    assert wrapped.time_varying == {"log_gain": "sample"}
    assert GainStagingRegularization(MultitapDelay()).time_varying == {}
    wrapped.time_varying = {}  # an explicit choice replaces the wrapped processor's
    assert wrapped.time_varying == {}
