"""The console's optional master strip (EQ, compressor, limiter between the sum and ``out``)."""

import math

import pytest
import torch

from grafx.data.rows import node_rows
from grafx.errors import ConfigError, ParameterError
from grafx.fit import render_mix
from grafx.io import load, save_graph
from grafx.presets import (
    DEFAULT_CHAIN,
    MASTER_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    get_node_settings,
    set_node_settings,
)
from grafx.processors import Limiter
from grafx.render import compute_render_order

pytestmark = pytest.mark.usefixtures("one_thread")

CHAIN = ("eq", "gain_pan")


def test_the_default_console_has_no_master_strip():
    for buses in (0, 2):
        G, sequence = build_mixing_console(5, buses)
        H, same = build_mixing_console(5, buses, master_chain=())
        assert sequence == same == ["in", *DEFAULT_CHAIN, *(DEFAULT_CHAIN if buses else ()), "out"]
        assert list(G.nodes(data=True)) == list(H.nodes(data=True))
        assert list(G.edges) == list(H.edges)
        assert not any(d["name"].startswith("master/") for _, d in G.nodes(data=True))
        assert sorted(console_processors()) == sorted(DEFAULT_CHAIN)


@pytest.mark.parametrize("buses", [0, 2])
def test_master_strip_structure_and_render_order(buses):
    G, sequence = build_mixing_console(4, buses, master_chain=MASTER_CHAIN)
    assert sequence == [
        "in",
        *DEFAULT_CHAIN,
        *(DEFAULT_CHAIN if buses else ()),
        "eq",
        "compressor",
        "limiter",
        "out",
    ]
    n = len(DEFAULT_CHAIN)
    assert G.number_of_nodes() == 1 + 3 + buses * n + 4 * (n + 1)
    path = [G.find_node(f"master/{t}") for t in MASTER_CHAIN] + [G.find_node("out")]
    assert all(G.has_edge(a, b) for a, b in zip(path, path[1:], strict=False))
    assert [G.nodes[u]["name"] for u, _ in G.in_edges(G.find_node("out"))] == ["master/limiter"]
    feeding = {G.nodes[u]["name"] for u, _ in G.in_edges(path[0])}
    strips = [f"bus{b}" for b in range(buses)] or [f"track{t}" for t in range(4)]
    assert feeding == {f"{s}/reverb" for s in strips}
    fixed, _ = compute_render_order(G, method="fixed", fixed_order=sequence)
    optimal, _ = compute_render_order(G, method="optimal")
    assert fixed == sequence and len(optimal) == len(sequence)


def test_master_strip_renders_the_sum_through_its_chain():
    """The console with a master strip equals the console without one, then the master's
    processors applied by hand to the sum, each behind its dry/wet gate."""
    track_settings = {
        "track0/gain_pan": {"gain_db": 6.0, "pan": -0.3},
        "track1/eq": {"eq_gains_db": [3.0, -2.0, 0.0, 4.0]},
    }
    master_settings = {
        "master/eq": {"eq_gains_db": [-3.0, 0.0, 2.0, 5.0], "mix": 0.8},
        "master/compressor": {"threshold_db": -30.0, "ratio": 4.0},
        "master/limiter": {"threshold_db": -6.0, "mix": 0.9},
    }
    plain, plain_sequence = build_mixing_console(2, 1, chain=CHAIN)
    G, sequence = build_mixing_console(2, 1, chain=CHAIN, master_chain=MASTER_CHAIN)
    processors = console_processors(CHAIN, master_chain=MASTER_CHAIN)
    assert sorted(processors) == ["compressor", "eq", "gain_pan", "limiter"]
    stems = 0.5 * torch.randn(2, 2, 4000, generator=torch.Generator().manual_seed(0))
    strips = {t: processors[t] for t in CHAIN}  # the same modules
    sum_params = console_parameters(plain, strips, settings=track_settings)
    params = console_parameters(G, processors, settings={**track_settings, **master_settings})
    mix = render_mix(G, processors, params, stems, sequence)

    expected = render_mix(plain, strips, sum_params, stems, plain_sequence)[None]
    rows = node_rows(G)
    for node_type in MASTER_CHAIN:
        node = G.find_node(f"master/{node_type}")
        row = rows[node]
        values = {k: v[row : row + 1] for k, v in params[node_type].items() if k != "drywet_weight"}
        w = get_node_settings(params, G, node, processors)["mix"]
        expected = w * processors[node_type](expected, **values) + (1 - w) * expected
    torch.testing.assert_close(mix, expected[0], rtol=1e-4, atol=1e-5)
    assert float(mix.abs().max()) > 0.1  # not silence
    # the limiter does limit: the wet part of the output is below the ceiling
    assert float(expected.abs().max()) < 1.1 * 10 ** (-6 / 20) + 0.1 * float(stems.abs().max()) * 8


def test_master_settings_round_trip_and_the_default_start():
    G, _ = build_mixing_console(3, master_chain=MASTER_CHAIN)
    processors = console_processors(master_chain=MASTER_CHAIN)
    params = console_parameters(G, processors, sample_rate=44100)
    limiter = get_node_settings(params, G, "master/limiter", processors)
    assert limiter == pytest.approx({"threshold_db": 0.0, "mix": 0.99})
    set_node_settings(params, G, "master/limiter", processors, threshold_db=-2.5, mix=0.7)
    set_node_settings(
        params, G, "master/compressor", processors, threshold_db=-15.0, ratio=3.5, knee_db=4.0
    )
    set_node_settings(params, G, "master/eq", processors, eq_gains_db=[1.0, 2.0, -3.0, 4.0])
    assert get_node_settings(params, G, "master/limiter", processors) == pytest.approx(
        {"threshold_db": -2.5, "mix": 0.7}
    )
    compressor = get_node_settings(params, G, "master/compressor", processors)
    assert compressor == pytest.approx(
        {"threshold_db": -15.0, "ratio": 3.5, "knee_db": 4.0, "mix": 0.99}, rel=1e-5
    )
    eq = get_node_settings(params, G, "master/eq", processors)
    assert eq["eq_gains_db"] == pytest.approx([1.0, 2.0, -3.0, 4.0], abs=1e-4)
    # the strips' nodes of the shared types keep their own settings
    assert get_node_settings(params, G, "track0/compressor", processors)["threshold_db"] == (
        pytest.approx(-20.0)
    )
    with pytest.raises(ParameterError, match="limiter: unknown setting"):
        set_node_settings(params, G, "master/limiter", processors, ratio=4.0)


def test_master_strip_survives_a_graph_file(tmp_path):
    G, _ = build_mixing_console(2, chain=CHAIN, master_chain=("limiter",))
    processors = console_processors(CHAIN, master_chain=("limiter",))
    params = console_parameters(G, processors, settings={"master/limiter": {"threshold_db": -3.0}})
    save_graph(G, tmp_path / "g.json", params, processors=processors)
    loaded = load(tmp_path / "g.json")
    assert isinstance(loaded.processors["limiter"], Limiter)
    assert loaded.processors["limiter"].compensate_latency
    settings = get_node_settings(
        loaded.parameters, loaded.graph, "master/limiter", loaded.processors
    )
    assert settings["threshold_db"] == pytest.approx(-3.0, abs=1e-5)


def test_bad_master_chains():
    with pytest.raises(ConfigError, match=r"master chain: unknown processor type\(s\) \['fuzz'\]"):
        build_mixing_console(2, master_chain=["eq", "fuzz"])
    with pytest.raises(ConfigError, match="master chain .* repeats a type"):
        build_mixing_console(2, master_chain=["eq", "eq"])
    with pytest.raises(ConfigError, match=r"reserved type\(s\) \['out'\]"):
        build_mixing_console(2, master_chain=["out"])
    with pytest.raises(ConfigError, match="the string 'eq'"):
        console_processors(master_chain="eq")


def test_latency_compensated_limiter_is_aligned_and_keeps_the_ceiling():
    x = 3 * torch.randn(2, 2, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    log_t = torch.tensor([[math.log(0.5)], [math.log(2.0)]], dtype=torch.float64)
    delayed = Limiter(lookahead_len=7)(torch.nn.functional.pad(x, (0, 6)), log_threshold=log_t)
    aligned = Limiter(lookahead_len=7, compensate_latency=True)(x, log_threshold=log_t)
    torch.testing.assert_close(aligned, delayed[..., 6:])
    assert float(aligned[0].abs().max()) <= 0.5 * (1 + 1e-12)
    quiet = 0.1 * x
    out = Limiter(lookahead_len=7, compensate_latency=True)(quiet, log_threshold=log_t * 0 + 1)
    torch.testing.assert_close(out, quiet)  # below the ceiling: unchanged, no delay
    assert Limiter().settings_to_parameters({"threshold_db": -6.0})["log_threshold"].item() == (
        pytest.approx(-6.0 * math.log(10) / 20)
    )


def test_master_nodes_are_gated_and_prune_like_the_others():
    from grafx.gates import set_node_gate
    from grafx.prune import remove_nodes

    G, sequence = build_mixing_console(2, chain=CHAIN, master_chain=MASTER_CHAIN)
    processors = console_processors(CHAIN, master_chain=MASTER_CHAIN)
    settings = {
        "master/eq": {"eq_gains_db": [4.0, 0.0, 0.0, -4.0]},
        "master/compressor": {"threshold_db": -30.0, "ratio": 4.0},
        "master/limiter": {"threshold_db": -9.0},
    }
    parameters = console_parameters(G, processors, settings=settings)
    assert all(t in parameters and "drywet_weight" in parameters[t] for t in MASTER_CHAIN)
    removed = [G.find_node("master/compressor"), G.find_node("master/limiter")]
    closed = {t: {k: v.clone() for k, v in p.items()} for t, p in parameters.items()}
    for node in removed:
        set_node_gate(closed, G, node, 0.0)
    stems = 0.5 * torch.randn(2, 2, 2048, generator=torch.Generator().manual_seed(2))
    expected = render_mix(G, processors, closed, stems, sequence)
    H, pruned = remove_nodes(G, parameters, removed)
    assert pruned["limiter"]["log_threshold"].shape[0] == 0
    assert [H.nodes[u]["name"] for u, _ in H.in_edges(H.find_node("out"))] == ["master/eq"]
    torch.testing.assert_close(render_mix(H, processors, pruned, stems), expected)
