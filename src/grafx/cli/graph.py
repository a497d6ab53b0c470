"""``grafx draw`` and ``grafx info``: look at a graph file."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from grafx.cli import bounds
from grafx.cli.common import graph_types, load_model, output_path
from grafx.processors.core.drywet import DRYWET_KEY, EDGE_GATE_KEY

DRAW_EXAMPLES = """examples:
  grafx draw demo-output/graph.json -o graph.png
  grafx draw G.json -o G.pdf --vertical --labels rendering_order
"""

INFO_EXAMPLES = """examples:
  grafx info demo-output/graph.json
  grafx info demo-output/graph.json --settings
"""


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "draw",
        help="draw a graph file to an image",
        description="Draw a graph file with matplotlib (PNG, PDF or SVG by the extension).",
        epilog=DRAW_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("graph", help="graph file (JSON)")
    p.add_argument("-o", "--output", required=True, help="image file (.png, .pdf, .svg)")
    p.add_argument("--vertical", action="store_true", help="draw top to bottom")
    p.add_argument(
        "--labels",
        choices=("node_name", "node_type", "node_id", "rendering_order", "none"),
        default="node_name",
        help="text inside the nodes (default: node_name, the node's name or else its type; "
        "node_type: its first letter)",
    )
    p.add_argument("--dpi", type=bounds.dpi, default=150, help="resolution of PNG output")
    p.set_defaults(run=run_draw)

    p = sub.add_parser(
        "info",
        help="summarise a graph file: nodes per type, parameters, schedule lengths",
        description=(
            "Print the node count per type, each type's processor and its arguments, the "
            "parameter count, and the number of render steps each scheduling method finds."
        ),
        epilog=INFO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("graph", help="graph file (JSON)")
    p.add_argument(
        "--settings",
        action="store_true",
        help="also print every node's settings in physical units (Hz, dB, ratio, mix), by name",
    )
    p.set_defaults(run=run_info)


def run_draw(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grafx.draw import draw_grafx
    from grafx.io.atomic import atomic_write

    out = output_path(args.output, (".png", ".pdf", ".svg"))
    G, _, _ = load_model(args.graph)
    inside = None if args.labels == "none" else args.labels
    extra: dict[str, Any] = {"node_inside_fontsize": 3.5} if inside == "node_name" else {}
    fig, _ = draw_grafx(G, vertical=args.vertical, node_inside=inside, **extra)
    try:
        with atomic_write(out) as file:
            fig.savefig(file, dpi=args.dpi, bbox_inches="tight", format=out.suffix[1:].lower())
    finally:
        plt.close(fig)
    print(f"drew {G.number_of_nodes()} nodes to {out}")
    return 0


def _count(tree) -> int:
    if hasattr(tree, "numel"):
        return int(tree.numel())
    return sum(_count(v) for v in tree.values())


def run_info(args) -> int:
    from grafx.io.graph_file import read_graph_document
    from grafx.processors.spec import describe_spec, processor_spec
    from grafx.render import ScheduleNotProvenWarning, compute_render_order

    G, processors, parameters = load_model(args.graph)
    document = read_graph_document(args.graph)
    specs = document.specs or {}
    from grafx.data.rows import count_nodes_per_type

    counts = {t: n for t, n in count_nodes_per_type(G).items() if n}
    print(f"{args.graph}: {G.number_of_nodes()} nodes, {G.number_of_edges()} edges")
    if document.sample_rate is None:
        print(
            f"sample rate: not recorded (format version {document.version}); the processors "
            "are used as saved at any rate"
        )
    else:
        print(f"sample rate: {document.sample_rate:g} Hz (the processors are built for it)")
    order = [t for t in ("in", *graph_types(G), "mix", "out") if t in counts]
    width = max(len(t) for t in order)
    print("nodes per type:")
    for node_type in order:
        print(f"  {node_type:<{width}}  {counts[node_type]}")
    if processors:
        print("processors per type:")
    for node_type, processor in processors.items():
        if node_type in specs:
            print(f"  {node_type:<{width}}  {describe_spec(specs[node_type])}")
        else:
            spec = describe_spec(processor_spec(processor))
            print(f"  {node_type:<{width}}  {spec}  (not in the file: the console's)")
    if parameters is not None:
        print(f"parameters: {_count(parameters)} values stored in the file")
        gated = [t for t, v in parameters.items() if isinstance(v, dict) and DRYWET_KEY in v]
        if gated:
            print(f"node gates (dry/wet): {', '.join(gated)}")
        if EDGE_GATE_KEY in parameters:
            print(f"edge gates: one per edge ({parameters[EDGE_GATE_KEY].shape[0]})")
    else:
        total = 0
        for node_type, processor in processors.items():
            per_node = _count_size(processor.parameter_size())
            total += per_node * counts.get(node_type, 0)
        print(f"parameters: none stored; the built-in processors take {total} values")
    print("render steps per scheduling method:")
    for method, kwargs in (
        ("one-by-one", {}),
        ("greedy", {}),
        ("beam", {}),
        ("optimal", {"time_limit": 2.0}),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScheduleNotProvenWarning)
            sequence, _ = compute_render_order(G, method=method, **kwargs)
        proven = not any(issubclass(w.category, ScheduleNotProvenWarning) for w in caught)
        note = "" if proven else " (search budget ran out; not proven optimal)"
        print(f"  {method:<10}  {len(sequence)}{note}")
    if args.settings:
        print_settings(G, processors, parameters, document.timeline)
    return 0


#: Unit of each physical setting, by the end of its name.
_UNITS = (("_db", "dB"), ("_hz", "Hz"), ("_ms", "ms"), ("sample_rate", "Hz"))


def _format_setting(key: str, value) -> str:
    unit = next((u for end, u in _UNITS if key.endswith(end)), "")

    def number(v) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(number(x) for x in v) + "]"
        return f"{v:.5g}"

    return f"{key}={number(value)}{' ' + unit if unit else ''}"


def print_settings(G, processors, parameters, timeline=None) -> None:
    """Print each node's physical settings by node name (or id), in the graph's node order.

    Automated settings (curves) print their mean over time, then a readout of each moving
    setting's range and main moves (:func:`grafx.mixing.readout.automation_readout`)."""
    from grafx.errors import ParameterError
    from grafx.mixing.console import get_node_settings

    print("settings per node (physical units):")
    if parameters is None:
        print("  none: the file holds no parameters")
        return
    moves: dict = {}
    from grafx.automation import curve_keys, static_parameters

    if curve_keys(parameters, processors):
        from grafx.mixing.readout import automation_readout

        moves = automation_readout(G, parameters, processors, timeline)
        parameters = static_parameters(parameters, processors)
        print("  (automated settings: their mean over time, then their range and main moves)")
    for node in sorted(G.nodes):
        node_type = G.nodes[node]["node_type"]
        if node_type not in processors or node_type not in parameters:
            continue
        label = G.nodes[node].get("name") or f"node {node}"
        try:
            settings = get_node_settings(parameters, G, node, processors)
        except ParameterError:
            print(f"  {label}: ({type(processors[node_type]).__name__}: no physical settings)")
            continue
        times = getattr(processors[node_type], "time_constants_ms", None)
        if times is not None:
            from grafx.data.rows import node_rows

            row = node_rows(G)[node]
            values = {k: v[row] for k, v in parameters[node_type].items() if hasattr(v, "shape")}
            settings.update(times(values))
        text = ", ".join(_format_setting(k, v) for k, v in settings.items())
        print(f"  {label}: {text}")
        for line in moves.get(node, ()):
            print(f"    automated {line}")


def _count_size(size) -> int:
    if isinstance(size, int):
        return size
    if isinstance(size, tuple | list):
        n = 1
        for s in size:
            n *= s
        return n
    return sum(_count_size(v) for v in size.values())
