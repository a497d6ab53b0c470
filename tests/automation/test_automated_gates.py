"""Gates given as curves: what pruning and the sparsity penalty read from them."""

import torch

from grafx.gates import gate_l1, node_gates, set_node_gate
from grafx.presets import build_mixing_console


def test_a_moving_gate_counts_by_its_widest_opening_and_its_mean():
    omega = torch.tensor([[[-9.0, -9.0, 2.0]], [[0.0, 0.0, 0.0]]], dtype=torch.float64)
    params = {"gain_pan": {"drywet_weight": omega, "log_gain": torch.zeros(2, 2, 3)}}
    w = torch.sigmoid(omega)[:, 0]  # (2 nodes, 3 knots)
    torch.testing.assert_close(node_gates(params)["gain_pan"], w.amax(-1), rtol=1e-15, atol=0)
    torch.testing.assert_close(gate_l1(params), w.mean(-1).sum(), rtol=1e-15, atol=0)
    static = {"gain_pan": {"drywet_weight": omega[:, :, 2]}}
    assert torch.equal(node_gates(static)["gain_pan"], torch.sigmoid(omega[:, 0, 2]))


def test_bypassing_a_node_closes_its_whole_curve():
    G, _ = build_mixing_console(num_tracks=2, chain=("gain_pan",))
    params = {"gain_pan": {"drywet_weight": torch.zeros(2, 1, 4), "log_gain": torch.zeros(2, 2)}}
    set_node_gate(params, G, "track1/gain_pan", 0.0)
    gates = params["gain_pan"]["drywet_weight"]
    assert bool((gates[1] == -float("inf")).all()) and bool((gates[0] == 0).all())
    assert node_gates(params)["gain_pan"].tolist() == [0.5, 0.0]
