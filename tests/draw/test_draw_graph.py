import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from grafx.data import GRAFX  # noqa: E402
from grafx.draw import NodeColorHandler, compute_node_position, draw_grafx  # noqa: E402
from grafx.errors import ConfigError, GraphError  # noqa: E402

CHAIN = ["eq", "compressor", "reverb"]


def console(num_tracks=8, num_buses=2):
    G = GRAFX(config=CHAIN)
    out = G.add("out")
    buses = []
    for _ in range(num_buses):
        start, end = G.add_serial_chain(CHAIN)
        G.connect(end, out)
        buses.append(start)
    for t in range(num_tracks):
        _, end = G.add_serial_chain(["in", *CHAIN])
        G.connect(end, buses[t * num_buses // num_tracks] if buses else out)
    return G


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_serial_chain_goes_one_column_per_step_on_one_row():
    G = GRAFX(config=CHAIN)
    G.add_serial_chain(["in", *CHAIN, "out"])
    compute_node_position(G, node_spacing=(1.0, 0.5))
    assert [G.nodes[n]["x0"] for n in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert {G.nodes[n]["y0"] for n in range(5)} == {0.0}


def test_console_layout_keeps_strips_on_rows_and_buses_between_their_tracks():
    G = compute_node_position(console(8, 2), node_spacing=(1.0, 1.0))
    tracks = [n for n in G if G.nodes[n]["node_type"] == "in"]
    assert sorted(G.nodes[n]["y0"] for n in tracks) == [float(i) for i in range(8)]
    for t in tracks:  # each strip sits on its input's row
        row = {G.nodes[n]["y0"] for n in nx.descendants(G, t) if G.nodes[n]["rank"] <= 3}
        assert row == {G.nodes[t]["y0"]}
    bus_eqs = [n for n in G if G.nodes[n]["node_type"] == "eq" and G.nodes[n]["rank"] == 4]
    assert sorted(G.nodes[n]["y0"] for n in bus_eqs) == [1.5, 5.5]  # mean of tracks 0-3, 4-7
    out = next(n for n in G if G.nodes[n]["node_type"] == "out")
    assert G.nodes[out]["rank"] == max(G.nodes[n]["rank"] for n in G)
    assert G.nodes[out]["y0"] == 3.5


def test_nodes_of_one_column_never_overlap():
    G = GRAFX(config=CHAIN)
    out = G.add("out")
    ins = [G.add("in") for _ in range(3)]
    for _ in range(5):  # five eqs fed by the same input all want the same height
        e = G.add("eq")
        G.connect(ins[1], e)
        G.connect(e, out)
    compute_node_position(G, node_spacing=(1.0, 0.8))
    heights = sorted(G.nodes[n]["y0"] for n in G if G.nodes[n]["node_type"] == "eq")
    gaps = [b - a for a, b in zip(heights, heights[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.8)
    assert sum(heights) / 5 == pytest.approx(0.8)  # centred on the input they share


def test_draw_32_track_console_is_readable_and_graph_untouched():
    G = console(32, 4)
    before = nx.to_dict_of_dicts(G), dict(G.nodes(data=True))
    fig, ax = draw_grafx(G)
    assert (nx.to_dict_of_dicts(G), dict(G.nodes(data=True))) == before
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == G.number_of_nodes()
    width, height = fig.get_size_inches()
    # 36 rows of boxes 0.5 units apart 0.8: at about 0.55 in per unit every box is ~0.27 in.
    assert height >= 0.55 * 31 * 0.8
    assert len(ax.collections[0].get_paths()) == G.number_of_edges()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == sorted(["in", "out", *CHAIN])


def test_colors_dict_and_labels():
    G = console(2, 0)
    fig, ax = draw_grafx(G, colors={"eq": "#ff0000"}, node_inside="node_id", node_above="node_type")
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    eq_boxes = [b for b, n in zip(boxes, G, strict=True) if G.nodes[n]["node_type"] == "eq"]
    assert all(b.get_facecolor() == to_rgba("#ff0000") for b in eq_boxes)
    texts = [t.get_text() for t in ax.texts]
    assert sorted(texts[0::2], key=int) == [str(n) for n in sorted(G)]  # inside: ids
    assert set(texts[1::2]) == {"in", "out", "eq", "comp", "reve"}  # above: 4 letters


def test_rendering_order_labels_come_from_node_attribute():
    G = GRAFX(config=CHAIN)
    G.add_serial_chain(["in", *CHAIN, "out"])
    for n in G:
        G.nodes[n]["rendering_order"] = 10 + n
    _, ax = draw_grafx(G, inside_node="rendering_order")  # the docs' spelling
    assert [t.get_text() for t in ax.texts] == [str(10 + n) for n in G]


def test_vertical_swaps_axes():
    G = GRAFX(config=CHAIN)
    G.add_serial_chain(["in", *CHAIN, "out"])
    _, ax = draw_grafx(G, vertical=True, legend=False)
    xs = {round(p.get_x(), 6) for p in ax.patches}
    ys = [p.get_y() for p in ax.patches]
    assert len(xs) == 1 and ys == sorted(ys) and len(set(ys)) == 5


def test_color_handler_is_deterministic_and_marks_in_out():
    a = NodeColorHandler(node_types=["b", "a"])
    b = NodeColorHandler(node_types=["b", "a"])
    assert a.get_colors("a") == b.get_colors("a") != a.get_colors("b")
    assert a.get_colors("in")["edgecolor"] != a.get_colors("out")["edgecolor"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"nodesize": 1}, ConfigError, "Wrong argument: nodesize"),
        ({"foo_size": 1}, ConfigError, "Wrong prefix: foo"),
        ({"node_inside": "color"}, ConfigError, "node 0 has no attribute 'color'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    G = GRAFX(config=CHAIN)
    G.add_serial_chain(["in", "eq", "out"])
    with pytest.raises(error, match=match):
        draw_grafx(G, **kwargs)


def test_cycle_is_named():
    G = nx.MultiDiGraph()
    G.add_nodes_from([(0, {"node_type": "in"}), (1, {"node_type": "eq"}), (2, {"node_type": "eq"})])
    G.add_edges_from([(0, 1), (1, 2), (2, 1)])
    with pytest.raises(GraphError, match=r"cycle through nodes \[1, 2\]"):
        draw_grafx(G)
    del G.nodes[0]["node_type"]
    with pytest.raises(GraphError, match="node 0 has no node_type"):
        draw_grafx(G)


def test_rendering_order_is_computed_when_missing():
    from grafx.render import compute_render_order

    G = console(4, 2)
    _, steps = compute_render_order(G)
    _, ax = draw_grafx(G, node_inside="rendering_order", legend=False)
    assert [t.get_text() for t in ax.texts] == [str(s) for s in steps.tolist()]
    assert "rendering_order" not in G.nodes[0]  # computed on a copy
