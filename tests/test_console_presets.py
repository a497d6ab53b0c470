"""The named consoles (``console_processors(preset=...)``, ``grafx fit --console``): the
paper's and the one whose compressors follow each channel's peak envelope, as JUCE's."""

import math

import numpy as np
import pytest
import torch

from grafx.cli import main
from grafx.data.rows import node_rows
from grafx.errors import ConfigError
from grafx.fit import render_mix
from grafx.fit.options import DEFAULT_CONSOLE, FitOptions
from grafx.fit.resume import options_fingerprint
from grafx.io import load, save_graph
from grafx.mixing.console import COMPRESSOR_TIMES_MS, CONSOLE_PRESETS
from grafx.presets import (
    DEFAULT_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    get_node_settings,
    set_node_settings,
)
from grafx.processors import Compressor

pytestmark = pytest.mark.usefixtures("one_thread")

CHAIN = ("compressor", "gain_pan")


def test_the_presets_differ_only_in_the_compressor():
    paper, peak = console_processors(), console_processors(preset="peak")
    assert sorted(CONSOLE_PRESETS) == ["paper", "peak"]
    assert sorted(paper) == sorted(peak) == sorted(DEFAULT_CHAIN)
    for node_type in DEFAULT_CHAIN:
        if node_type != "compressor":
            assert type(paper[node_type]) is type(peak[node_type])
            assert paper[node_type].constructor_arguments == peak[node_type].constructor_arguments
    assert peak["compressor"].constructor_arguments == {
        "energy_smoother": "ballistics",
        "knee": "hard",
        "detector": "peak",
        "linked": False,
    }
    assert paper["compressor"].constructor_arguments == {"iir_len": 4096}
    rated = console_processors(preset="peak", sample_rate=30000)["compressor"]
    assert rated.sample_rate == rated.reference_rate == 30000
    # the master strip's compressor is the preset's too
    master = console_processors(["gain_pan"], master_chain=("compressor",), preset="peak")
    assert master["compressor"].detector == "peak"
    with pytest.raises(ConfigError, match=r"unknown console 'modern'; the consoles are"):
        console_processors(preset="modern")


def test_peak_console_starts_at_juces_times_and_reads_back():
    G, _ = build_mixing_console(2, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=30000, preset="peak")
    params = console_parameters(G, processors, sample_rate=30000)
    settings = get_node_settings(params, G, "track1/compressor", processors)
    assert settings == pytest.approx(
        {"threshold_db": -20.0, "ratio": 2.0, "mix": 0.99, **COMPRESSOR_TIMES_MS}, rel=1e-6
    )
    # JUCE's 10 ms / 150 ms: its coefficient exp(-2 pi 1000 / (fs t)) is the pole
    weights = torch.sigmoid(params["compressor"]["z_alpha_pre"][0].double())
    juce = [math.exp(-2 * math.pi * 1000 / (30000 * t)) for t in (150.0, 10.0)]
    np.testing.assert_allclose(1 - weights.numpy(), juce, rtol=1e-5)
    set_node_settings(
        params, G, "track0/compressor", processors, threshold_db=-30.0, ratio=6.0,
        attack_ms=0.5, release_ms=80.0,
    )  # fmt: skip
    assert get_node_settings(params, G, "track0/compressor", processors) == pytest.approx(
        {"threshold_db": -30.0, "ratio": 6.0, "attack_ms": 0.5, "release_ms": 80.0, "mix": 0.99},
        rel=1e-5,
    )
    # the paper's console keeps its one-pole smoother untouched (z 0) and no time settings
    paper = console_processors(CHAIN)
    paper_params = console_parameters(G, paper)
    assert torch.equal(paper_params["compressor"]["z_alpha_pre"], torch.zeros(2, 1))
    assert "attack_ms" not in get_node_settings(paper_params, G, "track0/compressor", paper)


def test_peak_console_renders_each_channel_through_a_juce_compressor(juce_compressor):
    rate = 8000
    G, sequence = build_mixing_console(1, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=rate, preset="peak")
    settings = {"track0/compressor": {"threshold_db": -24.0, "ratio": 4.0, "mix": 0.5}}
    params = console_parameters(G, processors, sample_rate=rate, settings=settings)
    stems = 0.5 * torch.randn(1, 2, 3000, generator=torch.Generator().manual_seed(0))
    stems[:, 1] *= 0.02  # the right channel stays below the threshold: not compressed
    mix = render_mix(G, processors, params, stems, sequence)
    x = stems[0].double().numpy()
    times = {k: 2 * math.pi * v for k, v in COMPRESSOR_TIMES_MS.items()}  # JUCE's settings
    wet = juce_compressor(x, rate, -24.0, 4.0, times["attack_ms"], times["release_ms"])
    want = 0.5 * wet + 0.5 * x  # behind its 50% gate; gain_pan neutral at 0.99 wet
    np.testing.assert_allclose(mix.double().numpy(), want, atol=2e-5)
    assert np.abs(wet[0] - x[0]).max() > 0.05 and np.abs(wet[1] - x[1]).max() < 1e-3


def test_peak_console_survives_a_graph_file(tmp_path):
    G, _ = build_mixing_console(2, chain=CHAIN)
    processors = console_processors(CHAIN, sample_rate=30000, preset="peak")
    settings = {"track1/compressor": {"threshold_db": -18.0, "attack_ms": 3.0, "release_ms": 50.0}}
    params = console_parameters(G, processors, sample_rate=30000, settings=settings)
    save_graph(G, tmp_path / "g.json", params, processors=processors)
    loaded = load(tmp_path / "g.json")
    compressor = loaded.processors["compressor"]
    assert isinstance(compressor, Compressor)
    assert (compressor.detector, compressor.linked, compressor.knee) == ("peak", False, "hard")
    assert compressor.reference_rate == 30000
    read = get_node_settings(
        loaded.parameters, loaded.graph, "track1/compressor", loaded.processors
    )
    assert read == pytest.approx(
        {"threshold_db": -18.0, "ratio": 2.0, "attack_ms": 3.0, "release_ms": 50.0, "mix": 0.99},
        rel=1e-5,
    )
    stems = 0.3 * torch.randn(2, 2, 2000, generator=torch.Generator().manual_seed(2))
    sequence = ["in", *CHAIN, "out"]
    torch.testing.assert_close(
        render_mix(loaded.graph, loaded.processors, loaded.parameters, stems, sequence),
        render_mix(G, processors, params, stems, sequence),
    )
    assert node_rows(loaded.graph) == node_rows(G)


def test_fit_options_and_command_take_the_console(tmp_path):
    assert DEFAULT_CONSOLE == "peak" and FitOptions().console == "peak"
    with pytest.raises(ConfigError, match="--console: unknown console 'modern'"):
        FitOptions(stems=["a.wav"], target="t.wav", out="o", console="modern").validate(files=False)
    paper = FitOptions(stems=["a.wav"], target="t.wav", out="o", console="paper")
    peak = FitOptions(stems=["a.wav"], target="t.wav", out="o")
    assert "console" not in options_fingerprint(paper)["fit_options"]  # as checkpoints before
    assert options_fingerprint(peak)["fit_options"]["console"] == "peak"
    # a predictor's start is for the paper's console; a graph file brings its own processors
    assert (paper.built_console, peak.built_console) == ("paper", "peak")
    assert FitOptions(console="peak", init="model").built_console == "paper"
    assert FitOptions(console="peak", graph="g.json").built_console is None
    with pytest.raises(SystemExit):
        main(["fit", "--stems", "a.wav", "--target", "t.wav", "--out", "o", "--console", "x"])


@pytest.mark.parametrize("console", ["paper", "peak"])
def test_grafx_fit_writes_the_console_it_was_asked_for(tmp_path, console):
    from grafx.io.audio import write_audio

    rate = 8000
    g = torch.Generator().manual_seed(0)
    stems = 0.3 * torch.randn(2, 2, rate, generator=g)
    for i, stem in enumerate(stems):
        write_audio(tmp_path / f"s{i}.wav", stem, rate)
    write_audio(tmp_path / "t.wav", 0.7 * stems.sum(0), rate)
    out = tmp_path / console
    argv = ["--threads", "1", "fit", "--stems", str(tmp_path / "s0.wav"), str(tmp_path / "s1.wav")]
    argv += ["--target", str(tmp_path / "t.wav"), "--out", str(out), "--steps", "2", "--quiet"]
    assert main([*argv, "--console", console]) == 0
    compressor = load(out / "graph.json").processors["compressor"]
    assert compressor.detector == ("peak" if console == "peak" else "energy")
    assert compressor.linked is (console == "paper")
