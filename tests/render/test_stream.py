"""Chunked full-length renders (grafx.render.stream) against the whole render."""

import pytest
import torch

from grafx.errors import RenderError
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render.renderer import GraphRenderer, render_mix
from grafx.render.stream import (
    ALIGN,
    chunkable,
    default_context,
    render_chunked,
    render_mix_chunked,
)

RATE = 8000


def console(seed=0):
    """The fit's console (EQ, compressor, noise gate, imager, gain/pan, delay, reverb) on two
    stems, with settings drawn away from neutral, and 3 s of noisy stems."""
    G, sequence = build_mixing_console(2)
    processors = {k: p.double() for k, p in console_processors(sample_rate=RATE).items()}
    parameters = console_parameters(G, processors, RATE)
    gen = torch.Generator().manual_seed(seed)

    def perturb(tree):
        if isinstance(tree, torch.Tensor):
            noise = torch.randn(tree.shape, generator=gen, dtype=torch.float64)
            return tree.double() + 0.3 * noise
        return {key: perturb(value) for key, value in tree.items()}

    parameters = perturb(parameters)
    length = 3 * ALIGN
    envelope = (torch.arange(length) % 4000 < 1500).double()  # bursts: the dynamics act
    stems = torch.randn(2, 2, length, generator=gen, dtype=torch.float64) * envelope * 0.3
    return G, sequence, processors, parameters, stems


def test_a_chunked_console_render_equals_the_whole_render():
    G, sequence, processors, parameters, stems = console()
    whole = render_mix(G, processors, parameters, stems, sequence)
    chunked = render_mix_chunked(
        G, processors, parameters, stems, sequence, sample_rate=RATE, chunk_samples=ALIGN
    )  # 3 chunks, each with the default warm-up
    assert chunked.shape == whole.shape
    assert whole.abs().max() > 0.1
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5 * float(whole.abs().max()))
    # too short a warm-up is not exact: the context is what makes it so
    short = render_mix_chunked(
        G, processors, parameters, stems, sequence, chunk_samples=ALIGN, context_samples=0
    )
    assert (short - whole).abs().max() > 1e-3 * whole.abs().max()


def test_processors_that_look_ahead_chunk_exactly():
    """A zero-phase FIR EQ on the tracks and a latency-compensated limiter on the master see
    samples after the one they output: the context after each chunk covers them."""
    from grafx.processors.eq import NewZeroPhaseFIREqualizer
    from grafx.processors.limiter import Limiter

    G, sequence = build_mixing_console(2, chain=("eq",), master_chain=("limiter",))
    processors = {
        "eq": NewZeroPhaseFIREqualizer(sample_rate=RATE).double(),
        "limiter": Limiter(compensate_latency=True, sample_rate=RATE).double(),
    }
    gen = torch.Generator().manual_seed(3)
    parameters = {
        "eq": {"log_magnitude": 0.5 * torch.randn(2, 1, 1024, generator=gen, dtype=torch.float64)},
        "limiter": {"log_threshold": torch.full((1, 1), -1.5, dtype=torch.float64)},  # -13 dB
    }
    stems = torch.randn(2, 2, 3 * ALIGN, generator=gen, dtype=torch.float64)
    whole = render_mix(G, processors, parameters, stems, sequence)
    chunked = render_mix_chunked(
        G, processors, parameters, stems, sequence, sample_rate=RATE, chunk_samples=ALIGN
    )
    assert whole.abs().max() > 0.1
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-9 * float(whole.abs().max()))


def test_the_default_context_covers_the_processors_memory():
    processors = console_processors(sample_rate=44100)
    context = default_context(processors, 44100)
    # a chain adds its memories: reverb IR 16384 + delay 8 x 2000 + two 4096-tap
    # smoothers, plus 1 s for recursive state, rounded up to a multiple of ALIGN
    assert context == -(-(16384 + 16000 + 2 * 4096 + 44100) // ALIGN) * ALIGN
    assert chunkable(processors) is None


def test_time_dependent_processors_render_whole(caplog):
    from grafx.data import GRAFX, NodeConfigs
    from grafx.processors.modulation import Chorus

    G = GRAFX(config=NodeConfigs(["chorus"]))
    source = G.add("in")
    chorus = G.add("chorus")
    out = G.add("out")
    G.connect(source, chorus)
    G.connect(chorus, out)
    processors = {"chorus": Chorus()}
    assert "Chorus depends on the absolute time" in chunkable(processors)
    renderer = GraphRenderer(G, processors)
    size = processors["chorus"].parameter_size()
    gen = torch.Generator().manual_seed(1)
    parameters = {"chorus": {k: torch.randn(1, v, generator=gen) for k, v in size.items()}}
    stems = torch.randn(1, 2, 3 * ALIGN, generator=gen)
    with caplog.at_level("INFO", logger="grafx.render.stream"):
        chunked = render_chunked(renderer, stems, parameters, chunk_samples=ALIGN)
    assert "rendering the whole song at once" in caplog.text
    torch.testing.assert_close(chunked, renderer(stems, parameters)[0])


def test_bad_arguments():
    G, sequence, processors, parameters, stems = console()
    renderer = GraphRenderer(G, processors, sequence)
    with pytest.raises(RenderError, match=r"sources must be \(K, C, L\)"):
        render_chunked(renderer, stems[0], parameters)
    with pytest.raises(RenderError, match="chunk_samples >= 1"):
        render_chunked(renderer, stems, parameters, chunk_samples=0)
