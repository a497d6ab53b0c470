"""convert_to_tensor / convert_to_graph: values, ports, odd ids and the inverse."""

import pytest
import torch

from grafx.data import GRAFX, NodeConfigs, convert_to_graph, convert_to_tensor
from grafx.errors import GraphError

LONG = torch.long


@pytest.fixture
def config():
    return NodeConfigs(["eq", "compressor", "reverb"])


@pytest.fixture
def mimo():
    return NodeConfigs(
        {
            "split": {"inlets": ["main"], "outlets": ["low", "high"]},
            "join": {"inlets": ["a", "b"], "outlets": ["main"]},
        }
    )


def docs_graph(config):
    G = GRAFX(config=config)
    out_id = G.add("out")
    for _ in range(3):
        _, end = G.add_serial_chain(["in", "eq", "compressor", "reverb"])
        G.connect(end, out_id)
    return G


def test_docs_graph_values(config):
    G_t = convert_to_tensor(docs_graph(config))
    # out=1, in=0, eq=3, compressor=4, reverb=5
    assert G_t.node_types.tolist() == [1] + [0, 3, 4, 5] * 3
    expected = sorted(
        [(1, 2), (2, 3), (3, 4), (4, 0), (5, 6), (6, 7), (7, 8), (8, 0)]
        + [(9, 10), (10, 11), (11, 12), (12, 0)]
    )
    assert G_t.edge_indices.dtype == LONG
    assert list(map(tuple, G_t.edge_indices.T.tolist())) == expected
    assert G_t.edge_types is None
    assert G_t.node_ids.tolist() == list(range(13))
    assert G_t.graph_ids is None
    assert (G_t.counter, G_t.batch, G_t.invalid_op) == (13, False, "error")
    assert G_t.config is config and G_t.config_hash == hash(config)
    assert (G_t.num_nodes, G_t.num_edges) == (13, 12)


def test_no_edges_gives_empty_long_tensor(config):
    G = GRAFX(config=config)
    G.add("in")
    G.add("out")
    G_t = convert_to_tensor(G)
    assert G_t.edge_indices.shape == (2, 0) and G_t.edge_indices.dtype == LONG
    assert G_t.num_edges == 0


def test_non_consecutive_ids_keep_their_ids(config):
    G = GRAFX(config=config)
    G.add_serial_chain(["in", "eq", "compressor", "reverb", "out"])
    G.remove(2)  # compressor
    G.connect(1, 3)
    G.remove(0)
    new_in = G.add("in")  # id 5
    G.connect(new_in, 1)
    G_t = convert_to_tensor(G)
    assert G_t.node_ids.tolist() == [1, 3, 4, 5]
    assert G_t.node_types.tolist() == [3, 5, 1, 0]
    # rows: 1->0, 3->1, 4->2, 5->3; edges 1->3, 3->4, 5->1
    assert G_t.edge_indices.tolist() == [[0, 1, 3], [1, 2, 0]]
    assert G_t.counter == 6


def test_parallel_edges_with_different_ports(mimo):
    G = GRAFX(config=mimo)
    s, j = G.add("split"), G.add("join")
    G.connect(s, j, "high", "b")
    G.connect(s, j, "low", "b")
    G.connect(s, j, "high", "a")
    G_t = convert_to_tensor(G)
    assert G_t.edge_indices.tolist() == [[0, 0, 0], [1, 1, 1]]
    # (2, E): row 0 outlet index, row 1 inlet index, sorted
    assert G_t.edge_types.tolist() == [[0, 1, 1], [1, 0, 1]]


def test_edge_types_shape_is_two_by_edges(mimo):
    G = GRAFX(config=mimo)
    G.add_serial_chain(["in", "split", "join", "out"])
    G_t = convert_to_tensor(G)
    assert G_t.edge_types.shape == (2, 3)
    assert G_t.edge_types.tolist() == [[0, 0, 0], [0, 0, 0]]


def test_rendering_orders_and_sequence_are_copied(config):
    G = GRAFX(config=config)
    G.add_serial_chain(["in", "eq", "out"])
    for node, step in [(0, 0), (1, 1)]:
        G.nodes[node]["rendering_order"] = step
    G.rendering_order_method = "beam"
    G.type_sequence = ["in", "eq", "out"]
    G_t = convert_to_tensor(G)
    assert G_t.rendering_orders.tolist() == [0, 1, -1]
    assert G_t.rendering_order_method == "beam"
    assert G_t.type_sequence == ["in", "eq", "out"]


def test_needs_a_config_and_known_types(config):
    G = GRAFX()
    G.add("eq")
    with pytest.raises(GraphError, match=r"needs a graph with a config"):
        convert_to_tensor(G)
    G = GRAFX(config=config)
    G.add_node(7, node_type="flanger")
    with pytest.raises(GraphError, match="node 7: type 'flanger' is not in the graph's config"):
        convert_to_tensor(G)
    G.add_node("x", node_type="eq")
    with pytest.raises(GraphError, match="node 'x': node ids must be ints"):
        convert_to_tensor(G)
    with pytest.raises(GraphError, match="needs a GRAFX graph, got dict"):
        convert_to_tensor({})


def test_bad_port_on_a_hand_made_edge(mimo):
    G = GRAFX(config=mimo)
    s, j = G.add("split"), G.add("join")
    G.add_edge(s, j, outlet="mid", inlet="a")
    with pytest.raises(GraphError, match="edge 0 -> 1: 'split' has no outlet 'mid'"):
        convert_to_tensor(G)


def edges_of(G):
    return sorted((u, v, d["outlet"], d["inlet"]) for u, v, d in G.edges(data=True))


def test_inverse_restores_ids_types_and_ports(mimo):
    G = GRAFX(config=mimo, invalid_op="warn")
    G.add_serial_chain(["in", "split", "join", "out"])
    G.connect(1, 2, "high", "b")
    G.remove(0)
    G.connect(G.add("in"), 1)
    H = convert_to_graph(convert_to_tensor(G))
    assert sorted(H.nodes) == [1, 2, 3, 4]
    assert {n: H.nodes[n]["node_type"] for n in H} == {n: G.nodes[n]["node_type"] for n in G}
    assert edges_of(H) == edges_of(G)
    assert (H.counter, H.consecutive_ids, H.invalid_op) == (5, False, "warn")
    assert H.config is G.config


def test_inverse_of_a_permuted_tensor_finds_the_same_nodes(config):
    G = docs_graph(config)
    G_t = convert_to_tensor(G)
    # Reverse the rows, as a render engine reordering would permute them.
    perm = torch.arange(G_t.num_nodes - 1, -1, -1)
    inverse = torch.argsort(perm)
    permuted = G_t.copy(
        node_types=G_t.node_types[perm],
        node_ids=G_t.node_ids[perm],
        edge_indices=inverse[G_t.edge_indices],
    )
    H = convert_to_graph(permuted)
    assert edges_of(H) == edges_of(G)
    assert {n: H.nodes[n]["node_type"] for n in H} == {n: G.nodes[n]["node_type"] for n in G}
    assert H.consecutive_ids


def test_inverse_rejects_out_of_range_ports(mimo):
    G = GRAFX(config=mimo)
    G.add_serial_chain(["split", "join"])
    G_t = convert_to_tensor(G)
    G_t.edge_types[0, 0] = 5
    with pytest.raises(GraphError, match=r"uses outlet 5 of 'split' \['low', 'high'\]"):
        convert_to_graph(G_t)


def test_relabel_keeps_row_order_and_identity(config):
    G = docs_graph(config)
    G_t = convert_to_tensor(G)
    perm = torch.tensor([1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12, 0])  # a render order
    inverse = torch.argsort(perm)
    reordered = G_t.copy(
        node_types=G_t.node_types[perm],
        node_ids=G_t.node_ids[perm],
        edge_indices=inverse[G_t.edge_indices],
        rendering_orders=torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]),
        rendering_order_method="beam",
        type_sequence=["in", "eq", "compressor", "reverb", "out"],
    )
    H = convert_to_graph(reordered, relabel=True)
    assert [H.nodes[n]["original_id"] for n in sorted(H)] == perm.tolist()
    assert H.consecutive_ids and H.counter == 13
    back = convert_to_tensor(H)
    assert torch.equal(back.node_types, reordered.node_types)
    assert torch.equal(back.node_ids, reordered.node_ids)
    assert torch.equal(back.rendering_orders, reordered.rendering_orders)
    assert sorted(map(tuple, back.edge_indices.T.tolist())) == sorted(
        map(tuple, reordered.edge_indices.T.tolist())
    )
    assert back.type_sequence == reordered.type_sequence
    assert back.parameter_row(6) == ("eq", 1)


def test_inverse_rejects_unknown_type_index(config):
    G_t = convert_to_tensor(docs_graph(config))
    G_t.node_types[4] = 17
    with pytest.raises(GraphError, match="row 4 has node type 17, not in the config"):
        convert_to_graph(G_t)


def test_rendering_order_attributes_alone_are_read(config):
    G = GRAFX(config=config)
    G.add_serial_chain(["in", "eq", "out"])
    G.nodes[2]["rendering_order"] = 2
    G_t = convert_to_tensor(G)
    assert G_t.rendering_orders.tolist() == [-1, -1, 2]
    assert G_t.rendering_order_method is None
    assert convert_to_tensor(GRAFX(config=config)).rendering_orders is None
