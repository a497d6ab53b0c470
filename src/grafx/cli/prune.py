"""``grafx prune``: remove the processors a fitted mix does not need (on a ``grafx fit`` folder)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from grafx.cli import bounds
from grafx.cli.common import (
    CLIError,
    add_device_options,
    device_options,
    load_model,
    non_negative_int,
    output_dir,
    positive_int,
)
from grafx.cli.logs import add_log_options

EXAMPLES = """examples:
  grafx prune my-fit --tolerance 0.01 --out my-pruned
  grafx prune my-fit --tolerance 0.1 --method brute --rounds 4 --out pruned-brute
  grafx prune my-fit --stems moved/*.wav --target moved/mix.wav --out my-pruned
"""


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _tolerance_or_off(text: str) -> float | None:
    if text.strip().lower() == "off":
        return None
    return _tolerance(text)


def add_parser(sub) -> None:
    from grafx.prune.search import METHODS, ORDERS, REFERENCES

    p = sub.add_parser(
        "prune",
        help="prune a fitted graph (the output folder of grafx fit) within a loss tolerance",
        description=(
            "Remove the processors of a fitted graph whose removal raises the loss the fit "
            "used (recorded in FIT_DIR/metrics.json) by at most --tolerance (relative by "
            "default) and keeps the mix's third-octave band levels and loudness within "
            "--band-tolerance and --loudness-tolerance of the fitted mix's, in rounds each "
            "followed by fine-tuning (Lee et al., DAFx 2024). Reads FIT_DIR/graph.json and the stems and target named "
            "in FIT_DIR/metrics.json (or --stems/--target). Writes pruned.json, pruned.wav, "
            "prune.png (before/after), metrics.json and removals.csv to --out, and keeps its "
            "state there after every round: running the same command again resumes."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("fit_dir", metavar="FIT_DIR", help="output folder of grafx fit")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--tolerance", type=_tolerance, default=0.01, help="loss increase allowed (0.01)"
    )
    p.add_argument(
        "--tolerance-mode",
        choices=("relative", "absolute"),
        default="relative",
        help="accept while loss <= (1 + tol) L0 (relative, default) or <= L0 + tol (absolute)",
    )
    p.add_argument(
        "--reference",
        choices=REFERENCES,
        default="given",
        help="L0: the fitted graph's loss (given, default) or the lowest seen so far (best)",
    )
    p.add_argument(
        "--band-tolerance",
        type=_tolerance_or_off,
        default=1.0,
        metavar="DB",
        help="refuse a removal that makes any third-octave band's error (40 Hz-16 kHz, mid and "
        "audible side) more than DB worse than the fitted mix's (1.0; off: no check)",
    )
    p.add_argument(
        "--loudness-tolerance",
        type=_tolerance_or_off,
        default=0.5,
        metavar="LU",
        help="refuse a removal that moves the integrated loudness more than LU from the fitted "
        "mix's (0.5; off: no check)",
    )
    p.add_argument("--method", choices=METHODS, default="hybrid", help="search (hybrid)")
    p.add_argument(
        "--order",
        choices=ORDERS,
        default="cost",
        help="hybrid ranking: each candidate's measured cost (default) or its gate (the paper's)",
    )
    p.add_argument(
        "--recover-steps",
        type=non_negative_int,
        default=0,
        help="when a round removes nothing, retry its best candidates with this many "
        "fine-tuning steps each (0: off)",
    )
    p.add_argument(
        "--rank-seconds",
        type=_tolerance,
        default=0.0,
        help="cost ranking on the target's loudest stretch of this many seconds (0: the whole "
        "song; removals are still accepted on the whole song)",
    )
    p.add_argument(
        "--sparsity",
        type=_tolerance,
        default=1e-4,
        help="gate L1 penalty weight during fine-tuning (1e-4; 0: none)",
    )
    p.add_argument("--rounds", type=positive_int, default=12, help="pruning rounds (12)")
    p.add_argument(
        "--finetune-steps", type=non_negative_int, default=500, help="fit steps per round (500)"
    )
    p.add_argument("--stems", nargs="+", default=None, metavar="AUDIO", help="override stems")
    p.add_argument("--target", default=None, metavar="MIX", help="override the target")
    p.add_argument("--seed", type=bounds.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--restart", action="store_true", help="ignore a saved search state")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_options(p)
    add_log_options(p)
    p.set_defaults(run=run)


def _fit_loss(fit_dir: Path) -> tuple[str, str]:
    """The name of the loss the fit used (from its metrics.json) and a note for the log."""
    from grafx.losses import DEFAULT_LOSS, LOSSES

    metrics = fit_dir / "metrics.json"
    summary = _read_json(metrics) if metrics.exists() else {}
    recorded = summary.get("loss")
    if recorded is None:
        if metrics.exists():  # fits before grafx recorded the loss used the paper's
            return "paper", "the paper's MixLoss (metrics.json names no loss: an older fit)"
        return DEFAULT_LOSS, f"the default loss {DEFAULT_LOSS!r} (no metrics.json)"
    name = recorded.get("name") if isinstance(recorded, dict) else None
    if name not in LOSSES:
        raise CLIError(
            f"{metrics}: the fit used the loss {recorded!r}, which grafx prune cannot rebuild; "
            f"prune in Python with prune_graph(..., loss_fn=...) (known: {sorted(LOSSES)})"
        )
    return name, f"the fit's loss {name!r}"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except ValueError as error:
        raise CLIError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CLIError(f"{path}: expected a JSON object")
    return value


def _fit_inputs(fit_dir: Path, args) -> tuple[list[str], str, float | None, str]:
    metrics = fit_dir / "metrics.json"
    inputs: dict = {}
    sample_rate = None
    if metrics.exists():
        summary = _read_json(metrics)
        inputs, sample_rate = summary.get("inputs") or {}, summary.get("sample_rate")
    stems = args.stems or inputs.get("stems")
    target = args.target or inputs.get("target")
    if not stems or not target:
        raise CLIError(
            f"{fit_dir}: metrics.json does not name the fit's stems and target (a fit made "
            "before grafx recorded them?); give them with --stems and --target"
        )
    return list(stems), target, sample_rate, inputs.get("align", "refuse")


def _draw(path: Path, before, after) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grafx.draw import draw_grafx

    fig_a, _ = draw_grafx(before, node_inside="node_name", node_inside_fontsize=4)
    width, height = fig_a.get_size_inches()
    plt.close(fig_a)
    fig, axes = plt.subplots(2, 1, figsize=(width, 2 * height + 1))
    draw_grafx(before, ax=axes[0], node_inside="node_name", node_inside_fontsize=4)
    axes[0].set_title(f"fitted: {before.number_of_nodes()} nodes")
    draw_grafx(after, ax=axes[1], node_inside="node_name", node_inside_fontsize=4)
    axes[1].set_title(f"pruned: {after.number_of_nodes()} nodes")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()


def _compared(fit_dir: Path, full_mix, pruned_mix, target, stems, sample_rate) -> dict:
    """The fitted ("full") and pruned mixes, the gain mix and (when the fit's initial.wav is
    at this rate and length) the initial mix, on the mix descriptors (``compared_mixes``)."""
    from grafx.fit.summary import compared_mixes
    from grafx.io.audio import read_audio, to_stereo

    mixes = {"full": full_mix, "pruned": pruned_mix}
    initial_file = fit_dir / "initial.wav"
    if initial_file.exists():
        initial, rate = read_audio(initial_file)
        if rate == sample_rate and initial.shape[-1] == target.shape[-1]:
            mixes = {"initial": to_stereo(initial, str(initial_file)).to(target.dtype), **mixes}
    return compared_mixes(mixes, target, sample_rate, stems)


def run(args) -> int:
    import shutil

    from grafx.device import move_processors, move_tree
    from grafx.fit import render_mix
    from grafx.fit.inputs import read_inputs
    from grafx.fit.recipe import recipe_config, recipe_loss
    from grafx.fit.summary import format_comparison, write_summary
    from grafx.io import save_graph
    from grafx.io.atomic import atomic_write
    from grafx.io.audio import write_audio
    from grafx.losses import loss_settings
    from grafx.prune import PruneConfig, prune_graph

    began = time.perf_counter()
    device, dtype = device_options(args)
    fit_dir = Path(args.fit_dir)
    graph_file = fit_dir / "graph.json"
    if not fit_dir.is_dir():
        raise CLIError(f"{fit_dir}: no such folder (give the --out folder of grafx fit)")
    if not graph_file.exists():
        raise CLIError(f"{fit_dir}: no fitted graph (graph.json); run grafx fit --out {fit_dir}")
    if Path(args.out).resolve() == fit_dir.resolve():
        raise CLIError(
            f"--out {args.out}: that is the fit's own folder; prune writes metrics.json there "
            "too, so give another folder (e.g. --out pruned)"
        )
    print(f"grafx prune: reading the fit in {fit_dir}/ ...", flush=True)
    G, processors, parameters = load_model(str(graph_file))
    if not parameters:
        raise CLIError(f"{graph_file}: the graph file holds no fitted parameters")
    stems_files, target_file, rate, align = _fit_inputs(fit_dir, args)
    stems, target, sample_rate = read_inputs(
        stems_files, target_file, sample_rate=int(rate) if rate else None, align=align
    )
    stems, target = stems.to(device, dtype), target.to(device, dtype)
    parameters = move_tree(parameters, device, dtype)
    move_processors(processors, device)
    out = output_dir(args.out)
    state = out / "state"
    if args.restart and state.exists():
        shutil.rmtree(state)
    fit_config = recipe_config(
        sample_rate,
        crop_seconds=None if stems.shape[-1] / sample_rate <= 3.8 else 3.8,
        warmup_seconds=0.0 if stems.shape[-1] / sample_rate <= 3.8 else 1.0,
        steps=max(args.finetune_steps, 1),
        seed=args.seed,
        progress=not args.quiet,
    )
    config = PruneConfig(
        tolerance=args.tolerance,
        tolerance_mode=args.tolerance_mode,
        reference=args.reference,
        method=args.method,
        order=args.order,
        rounds=args.rounds,
        finetune_steps=args.finetune_steps,
        recover_steps=args.recover_steps,
        sparsity=args.sparsity,
        rank_samples=round(args.rank_seconds * sample_rate),
        band_tolerance_db=args.band_tolerance,
        loudness_tolerance_lu=args.loudness_tolerance,
    )
    loss_name, loss_note = _fit_loss(fit_dir)
    print(
        f"grafx prune: {G.number_of_nodes()} nodes, tolerance {args.tolerance:g} "
        f"({args.tolerance_mode}, reference {args.reference}), method {args.method}, "
        f"{args.rounds} round(s) of {args.finetune_steps} fine-tuning steps; scored with "
        f"{loss_note}"
    )
    result = prune_graph(
        G,
        processors,
        parameters,
        stems,
        target,
        config,
        loss_fn=recipe_loss(sample_rate, loss_name),
        fit_config=fit_config,
        state_dir=state,
        log=print,
        sample_rate=sample_rate,
    )
    pruned_mix = render_mix(result.graph, processors, result.parameters, stems).cpu()
    full_mix = render_mix(G, processors, parameters, stems).cpu()
    target = target.cpu()
    pruned_parameters = move_tree(result.parameters, "cpu")
    save_graph(
        result.graph,
        out / "pruned.json",
        pruned_parameters,
        processors=processors,
        sample_rate=sample_rate,
    )
    write_audio(out / "pruned.wav", pruned_mix, sample_rate)
    _draw(out / "prune.png", G, result.graph)
    rows = ["type,removed,before,rate"]
    for node_type, (removed, before) in sorted(result.removed_per_type.items()):
        rows.append(f"{node_type},{removed},{before},{removed / before:.3f}")
    names = {n: G.nodes[n].get("name", str(n)) for n in result.removed}
    summary = {
        "tolerance": args.tolerance,
        "tolerance_mode": args.tolerance_mode,
        "reference": args.reference,
        "method": args.method,
        "order": args.order,
        "rank_samples": config.rank_samples,
        "loss_before": result.loss_before,
        "loss_after": result.loss_after,
        "loss_change": result.loss_after / result.loss_before - 1 if result.loss_before else None,
        "rho": result.rho,
        "processors_before": result.num_processors,
        "processors_after": result.num_processors - len(result.removed),
        "removed": [{"node": n, "name": names[n]} for n in result.removed],
        "removed_per_type": {t: list(v) for t, v in result.removed_per_type.items()},
        "rounds": result.rounds,
        "loss_checks": result.evaluations,
        "sample_rate": sample_rate,
        "loss": loss_settings(recipe_loss(sample_rate, loss_name)),
        "band_tolerance_db": args.band_tolerance,
        "loudness_tolerance_lu": args.loudness_tolerance,
        "refused_by_descriptors": result.refused_by_descriptors,
        **_compared(fit_dir, full_mix, pruned_mix, target, stems, sample_rate),
    }
    write_summary(out / "metrics.json", summary)
    with atomic_write(out / "removals.csv") as file:
        file.write(("\n".join(rows) + "\n").encode())
    print("\n".join(r.replace(",", "\t") for r in rows))
    print(
        f"removed {len(result.removed)} of {result.num_processors} processors (rho "
        f"{result.rho:.2f}); loss ({loss_name}) {result.loss_before:.5f} -> "
        f"{result.loss_after:.5f}; {result.refused_by_descriptors} removal(s) within the loss "
        "tolerance refused by the band/loudness tolerances"
    )
    print(f"full mix ({target.shape[-1] / sample_rate:.1f} s at {sample_rate} Hz):")
    print("\n".join(format_comparison(summary, ["initial", "gain_mix", "full", "pruned"])))
    print(f"wrote pruned.json, pruned.wav, prune.png, metrics.json, removals.csv to {out}/")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0
