"""``grafx fit``: fit a mixing graph to a target mix of the user's own stems."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from grafx.cli.common import (
    CLIError,
    check_source_count,
    load_graph_file,
    non_negative_int,
    output_dir,
    positive_float,
    positive_int,
    processors_for,
)

EXAMPLES = """examples:
  grafx fit --stems drums.wav bass.wav vox.wav --target mix.wav --out fit-output
  grafx fit --stems demo-output/stems/*.wav --target demo-output/target.wav --steps 300 --out fit
  grafx fit --stems a.wav b.wav --target mix.wav --graph my-graph.json --out fit-output
  grafx fit --stems a.wav b.wav --target mix.wav --buses 1 --crop 2.0 --out fit-output
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a mixing console (or a given graph) to a target mix of your stems",
        description=(
            "Fit the parameters of a mixing console (one channel strip per stem: EQ, "
            "compressor, noise gate, imager, gain/pan, delay, reverb) or of a given graph so "
            "that its mix of the stems matches the target. Writes fitted.wav, initial.wav, "
            "graph.json (graph + fitted parameters) and report.png to --out, and keeps a "
            "checkpoint there: running the same command again resumes."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stems", nargs="+", required=True, metavar="AUDIO", help="stem files")
    p.add_argument("--target", required=True, metavar="MIX", help="the mix to match")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--graph", default=None, help="graph file to fit instead of a new console")
    p.add_argument("--buses", type=non_negative_int, default=0, help="subgroup buses (console)")
    p.add_argument("--steps", type=positive_int, default=300, help="fit steps (default: 300)")
    p.add_argument("--lr", type=positive_float, default=0.03, help="learning rate (default: 0.03)")
    p.add_argument(
        "--crop", type=positive_float, default=1.5, help="seconds per fit step (default: 1.5)"
    )
    p.add_argument(
        "--sample-rate",
        type=positive_int,
        default=None,
        help="work at this rate (default: the first stem's); other rates are resampled",
    )
    p.add_argument(
        "--no-resample",
        action="store_true",
        help="refuse files whose sample rate differs instead of resampling them",
    )
    p.add_argument(
        "--align",
        choices=("refuse", "pad", "trim"),
        default="refuse",
        help="stems/target of different lengths: refuse (default), zero-pad or trim",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _read(args):
    import torch

    from grafx.io.audio import read_audio, read_stems, to_stereo

    resample = not args.no_resample
    stems, sample_rate = read_stems(args.stems, args.sample_rate, resample, align=args.align)
    target, _ = read_audio(args.target, sample_rate, resample)
    target = to_stereo(target, args.target)
    length = stems.shape[-1]
    if target.shape[-1] != length:
        if args.align == "refuse":
            raise CLIError(
                f"{args.target}: the target has {target.shape[-1]} samples but the stems have "
                f"{length}; trim them to one length or pass --align pad/trim"
            )
        if args.align == "pad" and target.shape[-1] < length:
            target = torch.nn.functional.pad(target, (0, length - target.shape[-1]))
        elif args.align == "pad":
            stems = torch.nn.functional.pad(stems, (0, target.shape[-1] - length))
        else:
            n = min(length, target.shape[-1])
            stems, target = stems[..., :n], target[..., :n]
    return stems, target, sample_rate


def run(args) -> int:
    import torch

    from grafx.fit import FitConfig, GraphRenderer, evaluate_loss, fit_parameters
    from grafx.fit.report import plot_report
    from grafx.io import save_graph
    from grafx.io.audio import write_audio
    from grafx.losses import default_mix_loss
    from grafx.presets import build_mixing_console, console_parameters, console_processors

    began = time.perf_counter()
    out = output_dir(args.out)
    type_sequence = None
    if args.graph is not None:
        G, parameters = load_graph_file(args.graph)
        check_source_count(G, len(args.stems), args.graph)
        processors = processors_for(G, args.graph)
    stems, target, sample_rate = _read(args)
    if args.graph is None:
        names = [Path(s).stem for s in args.stems]
        if len(set(names)) != len(names):
            names = [f"track{i}" for i in range(len(names))]
        G, type_sequence = build_mixing_console(len(names), args.buses, track_names=names)
        processors = console_processors()
        parameters = None
    if parameters is None:
        parameters = console_parameters(G, processors, sample_rate)
    renderer = GraphRenderer(G, processors, type_sequence)
    loss_fn = default_mix_loss()
    with torch.no_grad():
        initial_mix = renderer(stems, parameters)[0]
    loss_before = evaluate_loss(renderer, loss_fn, parameters, stems, target)
    print(
        f"grafx fit: {len(args.stems)} stems, {stems.shape[-1] / sample_rate:.2f} s at "
        f"{sample_rate} Hz; graph of {G.number_of_nodes()} nodes"
    )
    print(f"loss before fit: {loss_before:.4f}")
    config = FitConfig(
        steps=args.steps,
        lr=args.lr,
        crop_len=int(args.crop * sample_rate),
        warmup_len=2**14,  # the console's longest responses (reverb, delay)
        seed=args.seed,
        progress=not args.quiet,
        checkpoint=str(out / "checkpoint"),
        resume=not args.restart,
        lr_scale={"gain_pan": 3.0},
    )
    result = fit_parameters(
        G, processors, parameters, stems, target, loss_fn, config, type_sequence=type_sequence
    )
    with torch.no_grad():
        fitted_mix = renderer(stems, result.parameters)[0]
    loss_after = evaluate_loss(renderer, loss_fn, result.parameters, stems, target)
    write_audio(out / "fitted.wav", fitted_mix, sample_rate)
    write_audio(out / "initial.wav", initial_mix, sample_rate)
    save_graph(G, out / "graph.json", result.parameters)
    plot_report(
        out / "report.png",
        result.history,
        target,
        fitted_mix,
        sample_rate,
        G,
        loss_before=loss_before,
        loss_after=loss_after,
        initial=initial_mix,
    )
    print(f"loss after fit:  {loss_after:.4f} ({loss_before / max(loss_after, 1e-12):.1f}x lower)")
    print(f"wrote fitted.wav, initial.wav, graph.json, report.png to {out}/")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0
