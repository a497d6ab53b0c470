"""GRAFXTensor: counts, device moves, and where each node's parameters live."""

import pytest
import torch

from grafx.data import GRAFX, GRAFXTensor, NodeConfigs, convert_to_tensor
from grafx.errors import GraphError


@pytest.fixture
def G():
    G = GRAFX(config=NodeConfigs(["eq", "compressor"]))
    out_id = G.add("out")
    for _ in range(2):
        _, end = G.add_serial_chain(["in", "eq", "compressor"])
        G.connect(end, out_id)
    return G


def test_counts(G):
    G_t = convert_to_tensor(G)
    assert (G_t.num_nodes, G_t.num_edges) == (7, 6)


def test_to_returns_self_and_moves_tensors(G):
    G_t = convert_to_tensor(G)
    assert G_t.to("cpu") is G_t
    assert G_t.node_types.device.type == "cpu"


def test_parameter_rows_follow_type_rank(G):
    G_t = convert_to_tensor(G)
    # node ids: 0 out, 1 in, 2 eq, 3 compressor, 4 in, 5 eq, 6 compressor
    assert [G_t.parameter_row(n) for n in range(7)] == [
        ("out", 0),
        ("in", 0),
        ("eq", 0),
        ("compressor", 0),
        ("in", 1),
        ("eq", 1),
        ("compressor", 1),
    ]


def test_parameter_rows_survive_a_permutation(G):
    G_t = convert_to_tensor(G)
    perm = torch.tensor([1, 4, 5, 2, 3, 6, 0])  # ins first, then by step, out last
    reordered = G_t.copy(node_types=G_t.node_types[perm], node_ids=G_t.node_ids[perm])
    # Rows now hold nodes 1, 4, 5, 2, 3, 6, 0: eq node 5 comes before eq node 2.
    assert reordered.parameter_row(5) == ("eq", 0)
    assert reordered.parameter_row(2) == ("eq", 1)
    assert reordered.parameter_row(3) == ("compressor", 0)
    assert reordered.node_row(0) == 6


def test_node_row_errors_and_defaults():
    G_t = GRAFXTensor(
        node_types=torch.tensor([0, 3, 1]), edge_indices=torch.zeros(2, 0, dtype=torch.long)
    )
    assert G_t.node_row(2) == 2  # without node_ids, row i is node i
    assert G_t.parameter_row(1) == ("3", 0)
    with pytest.raises(GraphError, match="node 9 is not in this GRAFXTensor"):
        G_t.node_row(9)
    with pytest.raises(GraphError, match="node 1 of graph 2 is not in this GRAFXTensor"):
        G_t.node_row(1, graph_id=2)
