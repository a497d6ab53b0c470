"""remove_nodes on a graph with edge gates: joined edges carry the product of their parts."""

from __future__ import annotations

import torch

from grafx.fit import render_mix
from grafx.gates import add_edge_gates, edge_gates, graph_edges, set_node_gate
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import remove_nodes
from grafx.prune.rewire import _joined

CHAIN = ["eq", "imager", "gain_pan"]


def test_pruned_render_with_edge_gates_equals_the_full_graph_with_those_gates_at_zero():
    G, sequence = build_mixing_console(3, num_buses=1, chain=CHAIN)
    processors = console_processors(CHAIN)
    settings = {"track0/eq": {"eq_gains_db": [6.0, -3.0, 2.0, 0.0]}, "bus0/imager": {"width": 1.5}}
    parameters = add_edge_gates(console_parameters(G, processors, 16000, settings), G)
    generator = torch.Generator().manual_seed(3)
    parameters["edge_gate"] = torch.randn(G.number_of_edges(), 1, generator=generator) * 2
    removed = [G.find_node(n) for n in ("track0/eq", "track1/imager", "bus0/gain_pan")]
    closed = {t: (dict(p) if isinstance(p, dict) else p) for t, p in parameters.items()}
    for t in ("eq", "imager", "gain_pan"):
        closed[t]["drywet_weight"] = closed[t]["drywet_weight"].clone()
    for node in removed:
        set_node_gate(closed, G, node, 0.0)
    stems = torch.randn(3, 2, 2048, generator=torch.Generator().manual_seed(0)) * 0.2
    expected = render_mix(G, processors, closed, stems, sequence)

    H, pruned = remove_nodes(G, parameters, removed)
    assert pruned["edge_gate"].shape == (H.number_of_edges(), 1)
    # an edge between two survivors keeps its gate
    kept = dict(zip(graph_edges(G), edge_gates(parameters).tolist(), strict=True))
    for e, w in zip(graph_edges(H), edge_gates(pruned).tolist(), strict=True):
        if e in kept:
            assert abs(w - kept[e]) < 1e-6
    torch.testing.assert_close(
        render_mix(H, processors, pruned, stems), expected, rtol=1e-5, atol=1e-6
    )


def test_joined_gate_is_the_product_and_exact_at_the_ends():
    omega = torch.tensor([-3.0, 0.0, 2.0, 30.0, float("inf"), float("-inf")], dtype=torch.float64)
    a, b = torch.meshgrid(omega, omega, indexing="ij")
    joined = torch.sigmoid(_joined(a, b))
    torch.testing.assert_close(joined, torch.sigmoid(a) * torch.sigmoid(b), rtol=1e-12, atol=0)
