"""Full-length renders in time chunks, so that a long song's mix needs memory for one chunk.

The render engine keeps no state between calls, so a chunk is rendered with the
``context_samples`` before it (its *warm-up*) and after it (for what looks ahead), and only its
own samples are kept:

.. code-block:: text

    chunk k:   [start_k - context, stop_k + context)  rendered,   [start_k, stop_k)  kept

The result equals the whole render for every processor whose output at a sample depends only
on the samples up to ``context_samples`` before and after it (zero-phase filters and the
latency-compensated limiter look ahead; FIR convolutions: the noise reverbs' IRs,
the delays, the truncated one-pole smoothers of the dynamics processors, memoryless
processors), and up to the decayed tail of the state for recursive filters (the EQs' biquads,
ballistics), which the default context (:func:`default_context`) makes negligible at any
audible setting. Processors whose output depends on the absolute time or the whole signal (the
LFO effects of :mod:`grafx.processors.modulation`, the generators, reverbs that draw new noise
at every call) cannot be chunked: a graph that holds one is rendered whole, with a logged
note. Chunk starts are multiples of :data:`ALIGN` samples, so the automation curves and the
EQs' control blocks fall on the same sample grid as in the whole render.

Everything runs under :func:`torch.no_grad`; the output is written into one preallocated
``(C, L)`` tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import RenderError
from grafx.render.renderer import GraphRenderer

__all__ = [
    "CHUNK_SAMPLES",
    "ALIGN",
    "default_context",
    "chunkable",
    "render_chunked",
    "render_mix_chunked",
]

LOGGER = logging.getLogger(__name__)

#: Default samples kept per chunk (about 24 s at 44.1 kHz).
CHUNK_SAMPLES = 1 << 20
#: Chunk starts and contexts are multiples of this many samples.
ALIGN = 4096
#: Samples of warm-up added to the processors' own memory for recursive state to decay.
DECAY_SECONDS = 1.0

# Modules whose output depends on the absolute time (an LFO's or an oscillator's phase).
_TIME_ORIGIN_MODULES = ("grafx.processors.modulation", "grafx.processors.generators")


def _modules(processors: Mapping) -> list[nn.Module]:
    found: list[nn.Module] = []
    for processor in processors.values():
        if isinstance(processor, nn.Module):
            found.extend(processor.modules())
    return found


def _memory(module: nn.Module) -> int:
    """Samples of the input a module's output can depend on: the longest of its declared IR,
    truncated-IIR and delay-line lengths (0 if it declares none)."""
    values = [int(getattr(module, name, 0) or 0) for name in ("ir_len", "iir_len")]
    segments = getattr(module, "num_segments", None)
    if segments is not None:
        values.append(int(getattr(module, "segment_len", 0)) * int(segments))
        values.append(int(getattr(module, "pre_delay", 0) or 0))
    return max(values)


def chunkable(processors: Mapping) -> str | None:
    """``None`` if a graph of these processors can be rendered in chunks, else the reason."""
    for module in _modules(processors):
        name = type(module).__name__
        if type(module).__module__.startswith(_TIME_ORIGIN_MODULES):
            return f"{name} depends on the absolute time"
        if getattr(module, "fixed_noise", True) is False:
            return f"{name} draws new noise at every call"
    return None


def default_context(processors: Mapping, sample_rate: float) -> int:
    """Warm-up samples before each chunk: the sum of every processor's declared memory (IR,
    truncated IIR and delay lengths: a chain adds them up) plus :data:`DECAY_SECONDS` for
    recursive state, rounded up to a multiple of :data:`ALIGN`."""
    memory = sum(_memory(module) for module in _modules(processors))
    samples = memory + int(DECAY_SECONDS * sample_rate)
    return -(-samples // ALIGN) * ALIGN


def render_chunked(
    renderer: GraphRenderer,
    sources: Tensor,
    parameters: Mapping,
    *,
    timeline: Any = None,
    sample_rate: float | None = None,
    chunk_samples: int | None = None,
    context_samples: int | None = None,
) -> Tensor:
    """The mix ``(C, L)`` of ``renderer`` on sources ``(K, C, L)``, rendered in chunks.

    Args:
        renderer: the graph's :class:`~grafx.render.renderer.GraphRenderer` (on the sources'
            device).
        sources: ``(K, C, L)``.
        parameters: as for the renderer (on its device).
        timeline: the :class:`~grafx.automation.Timeline` of automated parameters, at the
            sources' rate (``None``: none); each chunk gets it cropped to its start.
        sample_rate: the sources' rate in Hz, for the default context (default: the
            timeline's, else 44.1 kHz).
        chunk_samples: samples kept per chunk (default :data:`CHUNK_SAMPLES`), rounded up to
            a multiple of :data:`ALIGN`.
        context_samples: samples rendered before each chunk (warm-up) and after it (for
            processors that look ahead: zero-phase filters, a latency-compensated limiter);
            default :func:`default_context`, rounded up to a multiple of :data:`ALIGN`.

    Returns:
        The mix, equal to ``renderer(sources, parameters, timeline=timeline)[0]`` within the
        decayed state of recursive processors (see the module docstring); a graph that
        :func:`chunkable` refuses is rendered whole.

    Raises:
        RenderError: sources that are not ``(K, C, L)``, a non-positive chunk size or a
            negative context.
    """
    if sources.ndim != 3:
        raise RenderError(f"render_chunked: sources must be (K, C, L), got {tuple(sources.shape)}")
    length = sources.shape[-1]
    if sample_rate is None:
        sample_rate = float(timeline.sample_rate) if timeline is not None else 44100.0
    chunk = CHUNK_SAMPLES if chunk_samples is None else int(chunk_samples)
    context = (
        default_context(renderer.processors, sample_rate)
        if context_samples is None
        else int(context_samples)
    )
    if chunk < 1 or context < 0:
        raise RenderError(
            f"render_chunked: need chunk_samples >= 1 and context_samples >= 0, got {chunk} "
            f"and {context}"
        )
    chunk, context = -(-chunk // ALIGN) * ALIGN, -(-context // ALIGN) * ALIGN
    reason = chunkable(renderer.processors)
    with torch.no_grad():
        if length <= chunk or reason is not None:
            if reason is not None and length > chunk:
                LOGGER.info("rendering the whole song at once: %s", reason)
            return renderer(sources, parameters, timeline=timeline)[0]
        out: Tensor | None = None
        for start in range(0, length, chunk):
            stop = min(start + chunk, length)
            # the context on both sides: before for state, after for what looks ahead
            # (zero-phase filters, a latency-compensated limiter)
            begin, end = max(start - context, 0), min(stop + context, length)
            crop = None if timeline is None else timeline.crop(begin)
            mix = renderer(sources[..., begin:end], parameters, timeline=crop)[0]
            if out is None:
                out = mix.new_empty((*mix.shape[:-1], length))
            out[..., start:stop] = mix[..., start - begin : stop - begin]
            del mix
        assert out is not None  # length > chunk >= 1
        return out


def render_mix_chunked(
    G: Any,
    processors: Mapping,
    parameters: Mapping,
    sources: Tensor,
    type_sequence: Sequence[str] | None = None,
    timeline: Any = None,
    *,
    sample_rate: float | None = None,
    chunk_samples: int | None = None,
    context_samples: int | None = None,
) -> Tensor:
    """:func:`~grafx.render.renderer.render_mix` in chunks: the mix ``(C, L)`` of a graph on
    sources ``(K, C, L)`` (see :func:`render_chunked` for the other arguments)."""
    renderer = GraphRenderer(G, processors, type_sequence)
    return render_chunked(
        renderer,
        sources,
        parameters,
        timeline=timeline,
        sample_rate=sample_rate,
        chunk_samples=chunk_samples,
        context_samples=context_samples,
    )
