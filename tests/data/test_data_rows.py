"""The parameter-row layout: one answer for a graph, its tensor form and a reordered tensor."""

import pytest
import torch

from grafx.data import convert_to_tensor
from grafx.data.rows import count_nodes_per_type, get_node_ids_from_type, node_rows, parameter_row
from grafx.errors import GraphError
from grafx.presets import build_mixing_console
from grafx.render import permute_parameters, reorder_for_fast_render


def test_rows_agree_across_graph_tensor_and_reordered_tensor():
    G, _ = build_mixing_console(3, num_buses=1, chain=("eq", "gain_pan"))
    G_t = convert_to_tensor(G)
    G_fast = reorder_for_fast_render(G_t, method="beam")
    rows = node_rows(G)
    # Each row holds its node's id, in G's layout; the render engine permutes it for G_fast.
    ids = {
        t: {"id": torch.tensor(get_node_ids_from_type(G, t), dtype=torch.float64)}
        for t in ("eq", "gain_pan")
    }
    permuted = permute_parameters(ids, G_t, G_fast)
    for node in G.nodes:
        node_type = G.nodes[node]["node_type"]
        assert parameter_row(G, node) == (node_type, rows[node])
        assert parameter_row(G_t, node) == (node_type, rows[node])
        fast_type, fast_row = parameter_row(G_fast, node)
        assert fast_type == node_type
        if node_type in permuted:
            assert permuted[node_type]["id"][fast_row] == node
    for node_type, count in count_nodes_per_type(G).items():
        of_type = get_node_ids_from_type(G, node_type)
        assert len(of_type) == count and [rows[n] for n in of_type] == list(range(count))
    with pytest.raises(GraphError, match="node 999 is not in the graph"):
        parameter_row(G, 999)
