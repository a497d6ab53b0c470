"""remove_nodes: a removed node's input goes to its outputs, exactly like a closed gate."""

from __future__ import annotations

import math

import pytest
import torch

from grafx.data import GRAFX, NodeConfigs
from grafx.errors import GraphError
from grafx.fit import render_mix
from grafx.gates import set_node_gate
from grafx.presets import (
    build_mixing_console,
    console_parameters,
    console_processors,
    node_rows,
)
from grafx.processors.stereo import StereoGain
from grafx.prune import remove_nodes

CHAIN = ["eq", "compressor", "imager", "gain_pan"]


def _console(num_buses=1):
    G, sequence = build_mixing_console(3, num_buses=num_buses, chain=CHAIN)
    processors = console_processors(CHAIN)
    settings = {
        "track0/eq": {"eq_gains_db": [6.0, -3.0, 2.0, 0.0], "mix": 0.7},
        "track1/compressor": {"threshold_db": -30.0, "ratio": 4.0},
        "track2/gain_pan": {"gain_db": -4.0, "pan": 0.4, "mix": 0.6},
    }
    if num_buses:
        settings["bus0/imager"] = {"width": 1.5}
    return G, sequence, processors, console_parameters(G, processors, 16000, settings)


def _stems():
    return torch.randn(3, 2, 2048, generator=torch.Generator().manual_seed(0)) * 0.2


def test_pruned_render_equals_the_full_graph_with_those_gates_at_zero():
    G, sequence, processors, parameters = _console()
    removed = [G.find_node(n) for n in ("track0/eq", "track1/compressor", "bus0/imager")]
    removed.append(G.find_node("track2/gain_pan"))
    closed = {t: {k: v.clone() for k, v in p.items()} for t, p in parameters.items()}
    for node in removed:
        set_node_gate(closed, G, node, 0.0)
    expected = render_mix(G, processors, closed, _stems(), sequence)
    H, pruned = remove_nodes(G, parameters, removed)
    assert sorted(H.nodes) == sorted(set(G.nodes) - set(removed))  # survivors keep their ids
    assert all(H.nodes[n]["name"] == G.nodes[n]["name"] for n in H.nodes)
    assert pruned["eq"]["log_gain"].shape[0] == 3  # 4 EQ nodes, one removed
    # the remaining rows are the survivors' rows, in order
    row = node_rows(G)[removed[0]]
    kept = [r for r in range(4) if r != row]
    torch.testing.assert_close(pruned["eq"]["log_gain"], parameters["eq"]["log_gain"][kept])
    got = render_mix(H, processors, pruned, _stems())  # beam-scheduled pruned graph
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert G.number_of_nodes() == H.number_of_nodes() + 4  # G itself is unchanged


def test_removing_every_processor_leaves_the_plain_sum():
    G, _, processors, parameters = _console(num_buses=0)
    everything = [n for n, t in G.nodes(data="node_type") if t not in ("in", "out")]
    H, pruned = remove_nodes(G, parameters, everything)
    assert sorted(t for _, t in H.nodes(data="node_type")) == ["in", "in", "in", "out"]
    assert all(v.shape[0] == 0 for p in pruned.values() for v in p.values())
    x = _stems()
    torch.testing.assert_close(render_mix(H, processors, pruned, x), x.sum(0))
    # the types left without a node need no processor (a graph file's processors are those
    # of its nodes' types): their empty gates are not gated by anyone
    torch.testing.assert_close(render_mix(H, {}, pruned, x), x.sum(0))
    H, pruned = remove_nodes(
        G, parameters, [n for n in everything if G.nodes[n]["node_type"] == "eq"]
    )
    kept = {t: p for t, p in processors.items() if t != "eq"}
    torch.testing.assert_close(
        render_mix(H, kept, pruned, x), render_mix(H, processors, pruned, x), rtol=0, atol=0
    )


def test_parallel_paths_keep_their_multiplicity():
    # in -> gain -> out and in -> out: removing gain makes two parallel in -> out edges.
    G = GRAFX(config=NodeConfigs(["gain"]))
    source, gain, out = G.add("in"), G.add("gain"), G.add("out")
    G.connect(source, gain)
    G.connect(gain, out)
    G.connect(source, out)
    parameters = {"gain": {"log_gain": torch.full((1, 2), math.log(3.0))}}
    H, pruned = remove_nodes(G, parameters, [gain])
    assert H.number_of_edges(source, out) == 2
    x = torch.randn(1, 2, 64)
    torch.testing.assert_close(render_mix(H, {"gain": StereoGain()}, pruned, x), 2 * x[0])


def test_in_out_and_unknown_nodes_are_refused():
    G, _, _, parameters = _console()
    with pytest.raises(GraphError, match=r"cannot remove node 0 \('out'\)"):
        remove_nodes(G, parameters, [0])
    with pytest.raises(GraphError, match=r"\('in'\): 'in' and 'out' nodes .* never pruned"):
        remove_nodes(G, parameters, [G.find_node("track0/in")])
    with pytest.raises(GraphError, match="cannot remove node 999: no such node"):
        remove_nodes(G, parameters, [999])


def test_a_node_with_unequal_inlets_and_outlets_is_refused():
    G = GRAFX(config=NodeConfigs({"split": {"inlets": ["main"], "outlets": ["a", "b"]}}))
    node = G.add("split")
    with pytest.raises(GraphError, match=r"1 inlet\(s\) but 2 outlet\(s\)"):
        remove_nodes(G, None, [node])
