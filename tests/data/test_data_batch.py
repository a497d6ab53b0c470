"""batch_grafx: disjoint union, counters, identity of nodes, and its errors."""

import pytest

from grafx.data import GRAFX, NodeConfigs, batch_grafx, convert_to_graph, convert_to_tensor
from grafx.errors import GraphError


def chain(types, config=None):
    G = GRAFX(config=config or NodeConfigs(["eq", "compressor", "reverb"]))
    G.add_serial_chain(types)
    return G


def test_union_offsets_and_counter():
    A = chain(["in", "eq", "out"])
    B = chain(["in", "compressor", "reverb", "out"])
    G = batch_grafx([A, B])
    assert G.batch is True
    assert G.counter == [3, 7]
    assert sorted(G.edges()) == [(0, 1), (1, 2), (3, 4), (4, 5), (5, 6)]
    assert [G.nodes[n]["node_type"] for n in sorted(G)] == [
        "in",
        "eq",
        "out",
        "in",
        "compressor",
        "reverb",
        "out",
    ]
    assert [(G.nodes[n]["graph_id"], G.nodes[n]["original_id"]) for n in sorted(G)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (1, 3),
    ]
    assert G.consecutive_ids
    # inputs are left alone
    assert A.batch is False and "graph_id" not in A.nodes[0]


def test_tensor_of_a_batch_keeps_identity():
    A = chain(["in", "eq", "out"])
    B = chain(["in", "eq", "eq", "out"])
    G_t = convert_to_tensor(batch_grafx([A, B]))
    assert G_t.batch is True and G_t.counter == [3, 7]
    assert G_t.graph_ids.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert G_t.node_ids.tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert G_t.edge_indices.tolist() == [[0, 1, 3, 4, 5], [1, 2, 4, 5, 6]]
    # eq rows in order: A's node 1, B's node 1, B's node 2
    assert G_t.parameter_row(2, graph_id=1) == ("eq", 2)
    assert G_t.parameter_row(1, graph_id=0) == ("eq", 0)
    with pytest.raises(GraphError, match=r"node 1 matches rows \[1, 4\].*pass graph_id"):
        G_t.node_row(1)


def test_gaps_in_ids_use_the_counter_as_offset():
    A = chain(["in", "eq", "compressor", "out"])
    A.remove(2)
    A.connect(1, 3)
    B = chain(["in", "out"])
    G = batch_grafx([A, B])
    assert sorted(G) == [0, 1, 3, 4, 5]
    assert G.counter == [4, 6]
    assert not G.consecutive_ids
    H = convert_to_graph(convert_to_tensor(G))
    assert sorted(H) == sorted(G)
    assert sorted(H.edges()) == sorted(G.edges())
    assert H.counter == [4, 6] and H.batch


def test_equal_configs_batch_and_single_graph_is_a_batch_of_one():
    A = chain(["in", "eq", "out"], NodeConfigs(["eq", "compressor", "reverb"]))
    B = chain(["in", "reverb", "out"], NodeConfigs(["eq", "compressor", "reverb"]))
    assert A.config is not B.config
    assert batch_grafx([A, B]).number_of_nodes() == 6
    G = batch_grafx(A)  # the documentation's batch_grafx(G)
    assert G.batch and G.counter == [3]
    assert batch_grafx([A for _ in range(4)]).counter == [3, 6, 9, 12]


def test_rendering_order_is_dropped():
    A = chain(["in", "eq", "out"])
    A.rendering_order_method = "beam"
    A.nodes[1]["rendering_order"] = 1
    G = batch_grafx([A, A])
    assert G.rendering_order_method is None
    assert all("rendering_order" not in G.nodes[n] for n in G)


def test_errors():
    A = chain(["in", "eq", "out"])
    other = chain(["in", "eq", "out"], NodeConfigs(["eq"]))
    with pytest.raises(GraphError, match="graph 1 has a different node config from graph 0"):
        batch_grafx([A, other])
    with pytest.raises(GraphError, match="graph 1 is already a batched graph"):
        batch_grafx([A, batch_grafx([A])])
    with pytest.raises(GraphError, match="at least one graph"):
        batch_grafx([])
    with pytest.raises(GraphError, match="item 1 is a str, not a GRAFX"):
        batch_grafx([A, "B"])
    with pytest.raises(GraphError, match="needs a list of GRAFX graphs"):
        batch_grafx(3)
