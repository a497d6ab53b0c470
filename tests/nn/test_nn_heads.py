"""Prediction heads: shapes from parameter_size() for every registered processor, bounds, errors."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from grafx.data import GRAFX, NodeConfigs, batch_grafx
from grafx.errors import ConfigError, GraphError, ParameterError
from grafx.nn.bounds import PHYSICAL_RANGES, apply_bounds, fit_start, parameter_bounds
from grafx.nn.heads import PerGraphHead, PerNodeHead, node_type_names
from grafx.nn.layout import ParameterLayout
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.processors import SideGainImager, StereoGain
from grafx.processors.registry import builtin_processor_names, get_processor_class
from grafx.utils import create_empty_parameters


def _make(name: str) -> nn.Module:
    """An instance of every registered grafx processor (containers hold small processors)."""
    inner = {"gain": StereoGain(), "imager": SideGainImager()}
    special = {
        "DryWet": lambda c: c(StereoGain(), external_param=False),
        "SerialChain": lambda c: c(inner),
        "ParallelMix": lambda c: c(inner),
        "GainStagingRegularization": lambda c: c(StereoGain()),
        "BlackBox": lambda c: c(lambda x, level: x * level, {"level": (0.1, 1.0)}),
    }
    cls = get_processor_class(name)
    if name == "PedalboardEffect":
        pedalboard = pytest.importorskip("pedalboard", reason="PedalboardEffect needs pedalboard")
        return cls(pedalboard.Gain(), {"gain_db": (-12.0, 12.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return special[name](cls) if name in special else cls()


def _shapes(tree) -> dict:
    return {
        k: (tuple(v.shape) if isinstance(v, torch.Tensor) else _shapes(v)) for k, v in tree.items()
    }


@pytest.mark.parametrize("name", builtin_processor_names())
def test_head_shapes_match_create_empty_parameters(name):
    """Both heads give, for every registered processor, exactly the nested shapes that
    create_empty_parameters builds from parameter_size() (the renderer's form)."""
    processor = _make(name)
    G = GRAFX(config=NodeConfigs(["p"]))
    G.add_serial_chain(["in", "p", "p", "p", "out"])
    expected = _shapes(create_empty_parameters(G, {"p": processor}))
    node_head = PerNodeHead.from_processors({"p": processor}, 5)
    out = node_head(torch.randn(G.number_of_nodes(), 5), node_type_names(G))
    assert _shapes(out) == expected
    graph_head = PerGraphHead.from_graph(G, {"p": processor}, 7)
    assert _shapes(graph_head(torch.randn(7))) == expected


def test_per_node_head_rows_follow_node_order_and_features():
    """Row n of a type's output is the linear map of the n-th node of that type's features."""
    processors = {"gain": StereoGain()}
    head = PerNodeHead.from_processors(processors, 3)
    nn.init.normal_(head.linears["gain"].weight)
    G = GRAFX(config=NodeConfigs(["gain"]))
    G.add_serial_chain(["in", "gain", "gain", "out"])
    x = torch.randn(4, 3)
    out = head(x, node_type_names(G))["gain"]["log_gain"]
    weight, bias = head.linears["gain"].weight, head.linears["gain"].bias
    torch.testing.assert_close(out, x[1:3] @ weight.T + bias)


def test_gated_console_head_matches_console_parameters():
    processors = console_processors()
    G, _ = build_mixing_console(3, 1)
    expected = _shapes(console_parameters(G, processors))
    head = PerNodeHead.from_processors(processors, 4, gated=list(processors))
    assert _shapes(head(torch.randn(G.number_of_nodes(), 4), node_type_names(G))) == expected


def test_zero_head_returns_the_base():
    processors = console_processors(["gain_pan", "eq"])
    G, _ = build_mixing_console(2, chain=["gain_pan", "eq"])
    base = console_parameters(G, processors)
    head = PerNodeHead.from_processors(processors, 4, gated=list(processors))
    out = head(torch.randn(G.number_of_nodes(), 4), node_type_names(G), base=base)
    torch.testing.assert_close(out["eq"]["w0"], base["eq"]["w0"])
    torch.testing.assert_close(out["gain_pan"]["drywet_weight"], base["gain_pan"]["drywet_weight"])


def test_per_graph_head_on_a_batch():
    processors = {"gain": StereoGain()}
    G = GRAFX(config=NodeConfigs(["gain"]))
    G.add_serial_chain(["in", "gain", "gain", "out"])
    batch = batch_grafx([G, G, G])
    head = PerGraphHead.from_graph(batch, processors, 6)
    assert head(torch.randn(3, 6))["gain"]["log_gain"].shape == (6, 2)
    with pytest.raises(ParameterError, match=r"graph features must be \(6,\)"):
        head(torch.randn(3, 5))
    H = GRAFX(config=NodeConfigs(["gain"]))
    H.add_serial_chain(["in", "gain", "out"])
    with pytest.raises(GraphError, match="different node counts"):
        PerGraphHead.from_graph(batch_grafx([G, H]), processors, 6)


def test_bounds_keep_outputs_in_the_physical_range():
    processors = console_processors(["gain_pan"])
    layout = ParameterLayout.from_processors(processors, gated=["gain_pan"])
    bounds = parameter_bounds(processors, layout, 16000)
    low, high, mask = bounds["gain_pan"]
    # gain_db in [-24, 6] at pan 0 gives log_gain = ln(10^(dB/20) * cos(pi/4)) per channel
    pan_centre = math.log(math.cos(math.pi / 4))
    assert float(high[1]) >= 6 * math.log(10) / 20 + pan_centre
    raw = torch.tensor([[100.0, 100.0, 100.0], [-100.0, -100.0, -100.0]], dtype=torch.float64)
    out = apply_bounds(raw, torch.zeros(2, 3, dtype=torch.float64), bounds["gain_pan"])
    torch.testing.assert_close(out[0], high)
    torch.testing.assert_close(out[1], low)
    assert set(PHYSICAL_RANGES) <= set(console_processors())


def test_fit_start_keeps_trained_settings_and_neutralises_the_rest():
    processors = console_processors(["eq"])
    layout = ParameterLayout.from_processors(processors, gated=["eq"])
    low, high, mask = bounds = parameter_bounds(processors, layout, 16000)["eq"]
    G, _ = build_mixing_console(2, chain=["eq"])
    base = layout.join("eq", console_parameters(G, processors, 16000)["eq"]).double()
    gains = [x for x in layout.leaves["eq"] if x.path == ("log_gain",)][0]
    trained = slice(gains.offset, gains.offset + gains.size)
    pinned = [x for x in layout.leaves["eq"] if x.path == ("w0",)][0]
    frequencies = slice(pinned.offset, pinned.offset + pinned.size)
    assert bool((high[trained] > low[trained]).all()) and bool(
        (high[frequencies] == low[frequencies]).all()
    )
    # a small move stays as predicted where a setting range moves the entry, neutral elsewhere
    small = fit_start(base + 0.01, base, bounds)
    torch.testing.assert_close(small[:, trained], base[:, trained] + 0.01)
    torch.testing.assert_close(small[:, frequencies], base[:, frequencies])
    # a large one is clipped into the range (the gate too)
    large = fit_start(base + 50.0, base, bounds)
    torch.testing.assert_close(large[:, trained], high[trained].expand(2, -1))
    torch.testing.assert_close(large[:, 0], high[0].expand(2))
    torch.testing.assert_close(large[:, frequencies], base[:, frequencies])
    assert bool(mask[0]) and float(high[0]) == pytest.approx(math.log(0.99 / 0.01))
    # entries marked neutral take the base whatever the prediction
    gate = torch.zeros(base.shape[-1], dtype=torch.bool)
    gate[0] = True
    marked = fit_start(base + 50.0, base, bounds, gate)
    torch.testing.assert_close(marked[:, 0], base[:, 0])
    torch.testing.assert_close(marked[:, trained], high[trained].expand(2, -1))


def test_wrong_feature_size_is_named():
    head = PerNodeHead.from_processors({"gain": StereoGain()}, 3)
    with pytest.raises(ParameterError, match=r"node features must be \(V, 3\), got \(4, 5\)"):
        head(torch.randn(4, 5), ["in", "gain", "gain", "out"])


def test_unshapeable_processor_is_named():
    class Odd(nn.Module):
        def parameter_size(self):
            return {"x": "big"}

    with pytest.raises(ConfigError, match=r"type 'odd' \(Odd\).*cannot shape"):
        PerNodeHead.from_processors({"odd": Odd()}, 3)
    with pytest.raises(ConfigError, match=r"type 'odd' \(Module\): no parameter_size"):
        PerNodeHead.from_processors({"odd": nn.Module()}, 3)
    head = PerNodeHead.from_processors({"gain": StereoGain()}, 3)
    with pytest.raises(ConfigError, match="no head for node type 'eq'"):
        head(torch.randn(3, 3), ["in", "eq", "out"])
