"""Figures people read: node names inside the boxes, one colour per node type in every figure."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.patches import FancyBboxPatch  # noqa: E402

from grafx.draw import draw_grafx  # noqa: E402
from grafx.draw.graph import _node_text  # noqa: E402
from grafx.draw.style import NodeColorHandler, type_color  # noqa: E402
from grafx.presets import build_mixing_console  # noqa: E402


def test_node_names_label_the_boxes_and_stems_the_rows():
    G, _ = build_mixing_console(2, track_names=["kick", "bassguitar2"])
    labels = {_node_text(G, n, "node_name", 1) for n in G}
    assert {"kick", "bassgui.", "eq", "compres.", "reverb", "out"} <= labels
    assert "i" not in labels  # not the first letter of 'in' and 'imager' alike


def test_a_type_has_one_colour_whatever_else_a_figure_holds():
    full = NodeColorHandler(node_types=["compressor", "eq", "reverb"])
    pruned = NodeColorHandler(node_types=["reverb"])
    assert full.get_colors("reverb") == pruned.get_colors("reverb")
    assert full.get_colors("reverb")["facecolor"] == type_color("reverb")
    console = ["eq", "compressor", "noisegate", "imager", "gain_pan", "delay", "reverb"]
    assert len({type_color(t) for t in console}) == len(console)


def test_both_panels_of_a_prune_figure_colour_reverb_alike():
    import matplotlib.pyplot as plt

    G, _ = build_mixing_console(1, chain=["eq", "compressor", "reverb"])
    H, _ = build_mixing_console(1, chain=["reverb"])

    def reverb_faces(graph):
        fig, ax = draw_grafx(graph, node_inside="node_name")
        reverb = type_color("reverb")
        faces = [
            matplotlib.colors.to_hex(p.get_facecolor())
            for p in ax.patches
            if isinstance(p, FancyBboxPatch)
        ]
        plt.close(fig)
        return faces.count(reverb)

    assert reverb_faces(G) == reverb_faces(H) == 1
