"""``grafx render``: render a saved graph's mix from source files."""

from __future__ import annotations

import argparse
import time

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    check_source_count,
    load_model,
    output_path,
)

EXAMPLES = """examples:
  grafx render demo-output/graph.json --sources demo-output/stems/*.wav -o mix.wav
  grafx render G.json --sources kick.wav bass.wav -o mix.flac --sample-rate 44100
"""

AUDIO_SUFFIXES = (".wav", ".flac", ".aiff", ".aif", ".ogg")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render a saved graph's output from source audio files",
        description=(
            "Render the 'out' node of a graph file from one source file per 'in' node (in "
            "node-id order). Mono sources are used as dual-mono stereo. The file's processors "
            "and parameters are used (a file without processors gets the console's for its "
            "types; a graph without parameters renders with neutral settings)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("graph", help="graph file (JSON, from grafx fit/demo or grafx.io.save_graph)")
    p.add_argument("--sources", nargs="+", required=True, metavar="AUDIO", help="source files")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output audio file")
    p.add_argument(
        "--sample-rate",
        type=bounds.sample_rate,
        default=None,
        help="render rate (default: the first source's); other rates are resampled",
    )
    p.add_argument(
        "--align",
        choices=("refuse", "pad", "trim"),
        default="refuse",
        help="sources of different lengths: refuse (default), zero-pad or trim",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from grafx.io.audio import read_stems, write_audio
    from grafx.presets import console_parameters
    from grafx.render import render_mix

    began = time.perf_counter()
    out = output_path(args.output, AUDIO_SUFFIXES)
    G, processors, parameters = load_model(args.graph)
    check_source_count(G, len(args.sources), args.graph, "source file(s)")
    sources, sample_rate = read_stems(args.sources, args.sample_rate, align=args.align)
    if parameters is None:
        parameters = console_parameters(G, processors, sample_rate)
    mix = render_mix(G, processors, parameters, sources)
    if not torch.isfinite(mix).all():
        raise CLIError(f"{args.graph}: the render produced NaN/Inf samples; check the parameters")
    write_audio(out, mix, sample_rate)
    seconds = mix.shape[-1] / sample_rate
    print(
        f"rendered {out} ({mix.shape[0]} ch, {seconds:.2f} s at {sample_rate} Hz, peak "
        f"{float(mix.abs().max()):.3f}) in {time.perf_counter() - began:.1f} s"
    )
    return 0
