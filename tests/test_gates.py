"""grafx.gates: adding, reading and setting node gates; the L1 sparsity term."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import grafx.gates
from grafx.errors import GraphError, ParameterError
from grafx.fit import render_mix
from grafx.gates import add_node_gates, gate_l1, gated_nodes, node_gates, set_node_gate
from grafx.io import load_graph, save_graph
from grafx.presets import build_mixing_console, console_parameters, console_processors

CHAIN = ["gain_pan", "imager"]


@pytest.fixture
def console():
    G, sequence = build_mixing_console(3, chain=CHAIN)
    processors = console_processors(CHAIN)
    return G, sequence, processors, console_parameters(G, processors)


def test_module_examples_run():
    assert doctest.testmod(grafx.gates).failed == 0


def test_add_node_gates_shapes_values_and_sharing(console):
    G, _, processors, parameters = console
    plain = {t: {k: v for k, v in p.items() if k != "drywet_weight"} for t, p in parameters.items()}
    gated = add_node_gates(plain, G, mix={"imager": 0.25})
    assert gated["imager"]["drywet_weight"].shape == (3, 1)
    torch.testing.assert_close(node_gates(gated)["imager"], torch.full((3,), 0.25))
    torch.testing.assert_close(node_gates(gated)["gain_pan"], torch.full((3,), 0.99))
    assert gated["imager"]["log_gain"] is plain["imager"]["log_gain"]  # shared, not copied
    assert "drywet_weight" not in plain["imager"]  # the input is not modified
    kept = add_node_gates(gated, G, mix=0.5)  # an existing gate is kept
    assert kept["imager"]["drywet_weight"] is gated["imager"]["drywet_weight"]


def test_add_node_gates_errors(console):
    G, _, _, parameters = console
    with pytest.raises(ParameterError, match="cannot gate type 'out'"):
        add_node_gates(parameters, G, types=["out"])
    with pytest.raises(ParameterError, match="cannot gate type 'eq'"):
        add_node_gates(parameters, G, types=["eq"])
    with pytest.raises(ParameterError, match=r"gate mix of type 'imager' must be in \[0, 1\]"):
        add_node_gates({"gain_pan": parameters["gain_pan"]}, G, mix=1.5, types=["imager"])
    with pytest.raises(ParameterError, match="bare tensor"):
        add_node_gates({"imager": torch.zeros(3, 1)}, G, types=["imager"])


def test_set_node_gate_bypasses_exactly(console):
    G, sequence, processors, parameters = console
    x = torch.randn(3, 2, 64, generator=torch.Generator().manual_seed(0))
    for node in ("track1/gain_pan", "track1/imager"):
        set_node_gate(parameters, G, node, 0.0)
    mix = render_mix(G, processors, parameters, x, sequence)
    silent1 = x.clone()
    silent1[1] = 0
    # track1 bypassed: its stem reaches the mix unchanged
    others = render_mix(G, processors, parameters, silent1, sequence)
    torch.testing.assert_close(mix, others + x[1])
    for t in ("track0", "track2"):
        for kind in CHAIN:
            set_node_gate(parameters, G, f"{t}/{kind}", 0.0)
    torch.testing.assert_close(render_mix(G, processors, parameters, x, sequence), x.sum(0))
    assert gated_nodes(parameters, G)[G.find_node("track1/imager")] == 0.0


def test_set_node_gate_errors(console):
    G, _, _, parameters = console
    with pytest.raises(GraphError, match="no node 999"):
        set_node_gate(parameters, G, 999, 0.0)
    with pytest.raises(ParameterError, match=r"node 0 \('out'\) has no gate"):
        set_node_gate(parameters, G, 0, 0.0)
    with pytest.raises(ParameterError, match=r"gate mix must be in \[0, 1\], got nan"):
        set_node_gate(parameters, G, "track0/imager", math.nan)


def test_gate_l1_is_the_sum_of_wet_proportions_with_its_gradient(console):
    _, _, _, parameters = console
    omega = parameters["imager"]["drywet_weight"].clone().requires_grad_()
    p = {**parameters, "imager": {**parameters["imager"], "drywet_weight": omega}}
    value = gate_l1(p)
    w = 1 / (1 + math.exp(-float(omega[0, 0].detach())))
    assert float(value.detach()) == pytest.approx(6 * 0.99, rel=1e-6)
    value.backward()
    torch.testing.assert_close(omega.grad, torch.full((3, 1), w * (1 - w)))
    assert float(gate_l1({"eq": {"log_gain": torch.ones(2, 1)}})) == 0.0


def test_gates_round_trip_through_graph_files(console, tmp_path):
    G, _, _, parameters = console
    set_node_gate(parameters, G, "track2/imager", 0.3)
    save_graph(G, tmp_path / "g.json", parameters)
    _, loaded = load_graph(tmp_path / "g.json")
    torch.testing.assert_close(node_gates(loaded)["imager"], node_gates(parameters)["imager"])
