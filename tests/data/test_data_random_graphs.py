"""Random DAGs (hypothesis): conversion, its inverse, batching and files keep every node."""

import tempfile
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grafx.data import GRAFX, NodeConfigs, batch_grafx, convert_to_graph, convert_to_tensor
from grafx.io import load_graph, save_graph

CONFIG = NodeConfigs(
    {
        "eq": {"inlets": ["main"], "outlets": ["main"]},
        "split": {"inlets": ["main"], "outlets": ["low", "high"]},
        "join": {"inlets": ["a", "b"], "outlets": ["main"]},
    }
)
PROCESSORS = ["eq", "split", "join", "mix"]


@st.composite
def graphs(draw):
    """A DAG: edges only go from a lower to a higher position; some nodes are removed."""
    G = GRAFX(config=CONFIG)
    types = ["in"] + draw(st.lists(st.sampled_from(PROCESSORS), max_size=8)) + ["out"]
    ids = [G.add(t) for t in types]
    pairs = [(a, b) for a in range(len(ids)) for b in range(a + 1, len(ids))]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=14)) if pairs else []
    for a, b in chosen:
        outlets = CONFIG[types[a]]["outlets"]
        inlets = CONFIG[types[b]]["inlets"]
        if outlets and inlets:
            outlet = draw(st.integers(0, len(outlets) - 1))
            inlet = draw(st.integers(0, len(inlets) - 1))
            G.invalid_op = "mute"  # repeated picks are duplicates; they are skipped
            G.connect(ids[a], ids[b], outlet, inlet)
            G.invalid_op = "error"
    for node in (
        draw(st.lists(st.sampled_from(ids[1:-1]), max_size=2, unique=True)) if len(ids) > 2 else []
    ):
        G.remove(node)
    return G


def typed_edges(G):
    return sorted(
        (u, v, G.nodes[u]["node_type"], d["outlet"], d["inlet"]) for u, v, d in G.edges(data=True)
    )


@settings(max_examples=40, deadline=None)
@given(graphs())
def test_tensor_round_trip(G):
    G_t = convert_to_tensor(G)
    assert G_t.num_nodes == G.number_of_nodes() and G_t.num_edges == G.number_of_edges()
    ids = G_t.node_ids.tolist()
    assert ids == sorted(G.nodes)
    for e in range(G_t.num_edges):
        u, v = (ids[r] for r in G_t.edge_indices[:, e].tolist())
        outlet = CONFIG[G.nodes[u]["node_type"]]["outlets"][int(G_t.edge_types[0, e])]
        inlet = CONFIG[G.nodes[v]["node_type"]]["inlets"][int(G_t.edge_types[1, e])]
        assert any(d == {"outlet": outlet, "inlet": inlet} for d in G[u][v].values())
    H = convert_to_graph(G_t)
    assert typed_edges(H) == typed_edges(G)
    assert {n: H.nodes[n]["node_type"] for n in H} == {n: G.nodes[n]["node_type"] for n in G}


@settings(max_examples=20, deadline=None)
@given(st.lists(graphs(), min_size=1, max_size=3))
def test_batch_keeps_every_node(G_list):
    B_t = convert_to_tensor(batch_grafx(G_list))
    assert B_t.num_nodes == sum(G.number_of_nodes() for G in G_list)
    for g, G in enumerate(G_list):
        G_t = convert_to_tensor(G)
        for node in G:
            row = B_t.node_row(node, graph_id=g)
            assert B_t.node_types[row] == G_t.node_types[G_t.node_row(node)]
            assert B_t.parameter_row(node, graph_id=g)[0] == G.nodes[node]["node_type"]


@settings(max_examples=15, deadline=None)
@given(graphs(), st.integers(0, 2**31 - 1))
def test_file_round_trip(G, seed):
    counts = {t: sum(1 for _, d in G.nodes(data="node_type") if d == t) for t in PROCESSORS}
    gen = torch.Generator().manual_seed(seed)
    P = {t: torch.randn(n, 2, generator=gen) for t, n in counts.items()}
    with tempfile.TemporaryDirectory() as folder:
        save_graph(G, Path(folder) / "g.json", P)
        H, Q = load_graph(Path(folder) / "g.json")
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    assert (H.counter, H.consecutive_ids) == (G.counter, G.consecutive_ids)
    assert all(torch.equal(P[t], Q[t]) for t in P)
