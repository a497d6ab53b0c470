import pytest
import torch

from grafx.data import GRAFX
from grafx.errors import RenderError
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render import GraphRenderer
from grafx.render.renderer import concat_rows

CHAIN = ["eq", "compressor", "gain_pan"]


def consoles():
    processors = console_processors(CHAIN)
    songs = []
    for k, tracks in enumerate((2, 3, 2)):
        G, sequence = build_mixing_console(tracks, chain=CHAIN)
        tree = console_parameters(G, processors, dtype=torch.float64)
        g = torch.Generator().manual_seed(k)
        tree = {t: {key: v + 0.1 * torch.randn(v.shape, generator=g, dtype=v.dtype)
                    for key, v in p.items()} for t, p in tree.items()}  # fmt: skip
        x = torch.randn(tracks, 2, 512, dtype=torch.float64, generator=g)
        songs.append((G, sequence, tree, x))
    return processors, songs


@pytest.mark.parametrize("fixed", [True, False])
def test_a_list_of_graphs_renders_each_graphs_mix(fixed):
    processors, songs = consoles()
    alone = [GraphRenderer(G, processors, s)(x, tree)[0] for G, s, tree, x in songs]
    graphs = [G for G, *_ in songs]
    renderer = GraphRenderer(graphs, processors, songs[0][1] if fixed else None)
    assert renderer.num_sources == 7
    mixes, _ = renderer([x for *_, x in songs], [tree for _, _, tree, _ in songs])
    assert mixes.shape == (3, 2, 512)
    for got, expected in zip(mixes.unbind(0), alone, strict=True):
        # Batched processor calls sum in another order than one call per graph.
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    # Sources concatenated along the node axis and parameters joined row-wise render the same.
    joined = concat_rows([tree for _, _, tree, _ in songs])
    again, _ = renderer(torch.cat([x for *_, x in songs]), joined)
    torch.testing.assert_close(again, mixes, rtol=0, atol=0)


def test_concat_rows_joins_each_types_rows_graph_after_graph():
    a = {"eq": {"g": torch.zeros(2, 3)}, "gain": {"log_gain": torch.zeros(1, 2)}}
    b = {"eq": {"g": torch.ones(1, 3)}, "delay": torch.full((2, 1), 5.0)}
    joined = concat_rows([a, b])
    assert joined["eq"]["g"].tolist() == [[0.0] * 3, [0.0] * 3, [1.0] * 3]
    assert joined["gain"]["log_gain"].shape == (1, 2) and joined["delay"].shape == (2, 1)


def test_renderer_errors_name_the_graph():
    processors, songs = consoles()
    two_outs = GRAFX(config=CHAIN)
    two_outs.add("out")
    two_outs.add("out")
    with pytest.raises(RenderError, match="graph 1 needs exactly one 'out' node.*has 2"):
        GraphRenderer([songs[0][0], two_outs], processors)
    with pytest.raises(RenderError, match="at least one graph"):
        GraphRenderer([], processors)
