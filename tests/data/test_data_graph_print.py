"""Exact printed forms of GRAFX and GRAFXTensor (golden strings from the reference)."""

import torch

from grafx.data import GRAFX, GRAFXTensor, NodeConfigs, convert_to_tensor


def test_empty_graph():
    assert str(GRAFX()) == "GRAFX with 0 nodes & 0 edges"


def test_siso_chain():
    G = GRAFX(config=NodeConfigs(["eq", "compressor"]))
    out_id = G.add("out")
    _, end = G.add_serial_chain(["in", "eq", "compressor"])
    G.connect(end, out_id)
    assert str(G) == "\n".join(
        [
            "GRAFX with 4 nodes & 3 edges",
            "  [0] out",
            "  [1] in -> [2] eq",
            "  [2] eq -> [3] compressor",
            "  [3] compressor -> [0] out",
        ]
    )


def test_mimo_ports_and_fan_out():
    config = NodeConfigs(
        {
            "split": {"inlets": ["main"], "outlets": ["low", "high"]},
            "g": {"inlets": ["main"], "outlets": ["main"]},
            "join": {"inlets": ["a", "b"], "outlets": ["main"]},
        }
    )
    G = GRAFX(config=config)
    i, s, g1, g2, j = (G.add(t) for t in ["in", "split", "g", "g", "join"])
    G.connect(i, s)
    G.connect(s, g1, "low")
    G.connect(s, g2, "high")
    G.connect(g1, j, inlet="a")
    G.connect(g2, j, inlet="b")
    G.connect(g1, g2)  # a main outlet with two edges: 5 spaces before the arrow
    assert str(G) == "\n".join(
        [
            "GRAFX with 5 nodes & 6 edges",
            "  [0] in -> [1] split",
            "  [1] split",
            "    <low> -> [2] g",
            "    <high> -> [3] g",
            "  [2] g",
            "     -> <a> [4] join",
            "     -> [3] g",
            "  [3] g -> <b> [4] join",
            "  [4] join",
        ]
    )


def test_single_non_main_outlet_stays_on_the_node_line():
    config = NodeConfigs({"split": {"inlets": ["main"], "outlets": ["low", "high"]}})
    G = GRAFX(config=config)
    s, m = G.add("split"), G.add("mix")
    G.connect(s, m, "high")
    assert str(G).splitlines()[1] == "  [0] split <high> -> [1] mix"


def test_tensor_print_order_and_trailing_separators():
    G = GRAFX(config=NodeConfigs(["eq"]))
    G.add_serial_chain(["in", "eq", "out"])
    G_t = convert_to_tensor(G)
    lines = str(G_t).splitlines()
    assert lines[0] == "GRAFXTensor("
    assert lines[1:7] == [
        "  node_types=[3], ",
        "  edge_indices=[2, 2], ",
        "  edge_types=None, ",
        "  rendering_order_method=None, ",
        "  rendering_orders=None, ",
        "  type_sequence=None, ",
    ]
    assert lines[7:9] == ["  counter=3, ", "  batch=False, "]
    assert lines[9].startswith("  config=<grafx.data.configs.NodeConfigs object at 0x")
    assert lines[10] == f"  config_hash={hash(G.config)}, "
    assert lines[11:] == ["  invalid_op='error'", ")"]


def test_tensor_print_after_fields_are_set():
    G_t = GRAFXTensor(
        node_types=torch.zeros(4, dtype=torch.long),
        edge_indices=torch.zeros(2, 3, dtype=torch.long),
        rendering_order_method="beam",
        rendering_orders=torch.zeros(4, dtype=torch.long),
        type_sequence=["in", "eq", "out"],
    )
    text = str(G_t)
    assert "  rendering_order_method='beam', \n  rendering_orders=[4], \n" in text
    assert "  type_sequence=['in', 'eq', 'out'], \n" in text
