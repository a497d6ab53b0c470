"""``grafx render``: render a saved graph's mix from source files."""

from __future__ import annotations

import argparse
import time

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    add_device_options,
    check_source_count,
    device_options,
    load_automated_model_at,
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
            "types; a graph without parameters renders with neutral settings). A file that "
            "records its sample rate is rebuilt for the render rate (the same sound), or "
            "refused naming the processor that cannot convert. A file with automation (curves "
            "and their knot times) renders its moves at the render rate."
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
    add_device_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from grafx.device import move_processors, move_tree
    from grafx.io.audio import read_stems, write_audio
    from grafx.mixing.console import console_parameters
    from grafx.render import render_mix

    began = time.perf_counter()
    device, dtype = device_options(args)
    out = output_path(args.output, AUDIO_SUFFIXES)
    sources, sample_rate = read_stems(args.sources, args.sample_rate, align=args.align)
    G, processors, parameters, file_rate, timeline = load_automated_model_at(
        args.graph, sample_rate
    )
    check_source_count(G, len(args.sources), args.graph, "source file(s)")
    if parameters is None:
        parameters = console_parameters(G, processors)
    sources = sources.to(device, dtype)
    parameters = move_tree(parameters, device, dtype)
    # Inference mode: no autograd state at all (cheaper than no_grad); this process only writes
    # the mix, so no tensor made here is used for gradients later.
    with torch.inference_mode():
        mix = render_mix(
            G, move_processors(processors, device), parameters, sources, timeline=timeline
        ).cpu()
    del sources
    if not torch.isfinite(mix).all():
        raise CLIError(f"{args.graph}: the render produced NaN/Inf samples; check the parameters")
    write_audio(out, mix, sample_rate)
    seconds = mix.shape[-1] / sample_rate
    if file_rate is None:
        note = "; the graph file does not record its rate, so its processors are used as saved"
    elif file_rate != sample_rate:
        note = f"; processors rebuilt from the file's {file_rate:g} Hz"
    else:
        note = ""
    print(
        f"rendered {out} ({mix.shape[0]} ch, {seconds:.2f} s at {sample_rate} Hz, peak "
        f"{float(mix.abs().max()):.3f}) in {time.perf_counter() - began:.1f} s{note}"
    )
    return 0
