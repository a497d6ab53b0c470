"""``draw_grafx``: a matplotlib figure of a graph, readable from 3 nodes to a 32-track console."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

from grafx.draw.position import compute_node_position
from grafx.draw.style import NodeColorHandler
from grafx.errors import ConfigError, GraphError
from grafx.render import compute_render_order

_PREFIXES = ("position", "node", "edge")
# The reference docs also write the prefix last (``inside_node="rendering_order"``).
_ALIASES = {"inside_node": "node_inside", "above_node": "node_above"}


def _node_text(G: nx.MultiDiGraph, node, what: str | None, abbreviate: int) -> str | None:
    if what is None:
        return None
    if what == "node_type":
        return str(G.nodes[node]["node_type"])[:abbreviate]
    if what == "node_name":  # the node's own name, else its type
        node_type = G.nodes[node]["node_type"]
        parts = str(G.nodes[node].get("name") or node_type).split("/")
        # An input is named by its stem ("kick/in" -> "kick"), a processor by its last part.
        text = parts[0] if node_type == "in" else parts[-1]
        return _abbreviate(text, max(abbreviate, NAME_CHARS))
    if what == "node_id":
        return str(node)
    value = G.nodes[node].get(what)
    if value is None:
        raise ConfigError(
            f"draw_grafx: node {node} has no attribute {what!r}; use 'node_type', 'node_id', "
            f"'rendering_order' or an attribute every node has ({sorted(G.nodes[node])})"
        )
    return (
        str(int(value)) if hasattr(value, "__int__") and not isinstance(value, str) else str(value)
    )


#: Characters of a node name drawn inside its box.
NAME_CHARS = 8


def _abbreviate(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "."


def draw_node(
    ax: Any,
    G: nx.MultiDiGraph,
    node,
    color_config: NodeColorHandler,
    vertical: bool = False,
    inside: str | None = "node_type",
    above: str | None = None,
    size: tuple[float, float] = (0.5, 0.5),
    linewidth: float = 0.6,
    inside_fontsize: float = 6.0,
    above_fontsize: float = 4.5,
) -> None:
    """Draw one node as a rounded box at its ``(x0, y0)`` (swapped when ``vertical``).

    Args:
        inside: text in the box: ``"node_type"`` (first letter), ``"node_name"`` (the last
            part of the node's name, ``kick/eq`` -> ``eq``, the first for an input,
            ``kick/in`` -> ``kick``, else its type; up to
            :data:`NAME_CHARS` characters), ``"node_id"``, ``"rendering_order"`` or any node
            attribute; ``None`` for none.
        above: text above the box, same choices (``"node_type"`` gives 4 letters).
        size: box width and height in drawing units.
    """
    from matplotlib.patches import FancyBboxPatch

    x, y = _xy(G, node, vertical)
    w, h = size
    # patch keywords (facecolor, edgecolor, ...) from a handler that may be the caller's own
    colors: dict[str, Any] = color_config.get_colors(G.nodes[node]["node_type"])
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.08",
            linewidth=linewidth,
            zorder=2,
            **colors,
        )
    )
    text = _node_text(G, node, inside, 1)
    if text is not None:
        ax.text(x, y, text, ha="center", va="center", fontsize=inside_fontsize, zorder=3)
    text = _node_text(G, node, above, 4)
    if text is not None:
        ax.text(x, y - h / 2 - 0.04, text, ha="center", va="bottom", fontsize=above_fontsize)


def draw_edge(
    ax: Any,
    G: nx.MultiDiGraph,
    edges: Sequence[tuple],
    vertical: bool = False,
    linewidth: float = 0.7,
    color: str = "#444444",
    size: tuple[float, float] = (0.5, 0.5),
) -> None:
    """Draw edges ``(u, v, data)`` as cubic curves from outlet to inlet, in one collection.

    Ports of multi-port types are spread along the box side, in their config order.
    """
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path

    half = (size[1] if vertical else size[0]) / 2
    paths = []
    for u, v, data in edges:
        (x1, y1), (x2, y2) = (
            _port(G, u, data, "outlet", vertical, size),
            _port(G, v, data, "inlet", vertical, size),
        )
        if vertical:
            y1, y2 = y1 + half, y2 - half
            mid = (y1 + y2) / 2
            verts = [(x1, y1), (x1, mid), (x2, mid), (x2, y2)]
        else:
            x1, x2 = x1 + half, x2 - half
            mid = (x1 + x2) / 2
            verts = [(x1, y1), (mid, y1), (mid, y2), (x2, y2)]
        paths.append(Path(verts, [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4]))
    ax.add_collection(
        PathCollection(paths, facecolor="none", edgecolor=color, linewidth=linewidth, zorder=1)
    )


def _xy(G: nx.MultiDiGraph, node, vertical: bool) -> tuple[float, float]:
    x, y = G.nodes[node]["x0"], G.nodes[node]["y0"]
    return (y, x) if vertical else (x, y)


def _port(G, node, data: Mapping, kind: str, vertical: bool, size) -> tuple[float, float]:
    x, y = _xy(G, node, vertical)
    config = G.graph.get("config")
    node_type = G.nodes[node]["node_type"]
    ports = config[node_type][f"{kind}s"] if config is not None and node_type in config else []
    port = data.get(kind, "main")
    if len(ports) > 1 and port in ports:
        extent = (size[0] if vertical else size[1]) * 0.8
        offset = (ports.index(port) + 0.5) / len(ports) * extent - extent / 2
        return (x + offset, y) if vertical else (x, y + offset)
    return x, y


def _route_kwargs(kwargs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    routed: dict[str, dict[str, Any]] = {p: {} for p in _PREFIXES}
    for key, value in kwargs.items():
        key = _ALIASES.get(key, key)
        if "_" not in key:
            raise ConfigError(f"Wrong argument: {key}")
        prefix, name = key.split("_", 1)
        if prefix not in routed:
            raise ConfigError(f"Wrong prefix: {prefix} (in {key!r}); use {_PREFIXES}")
        routed[prefix][name] = value
    return routed


def _add_rendering_order(G: nx.MultiDiGraph) -> None:
    """Give every node ``rendering_order`` (its render step) if the graph lacks it."""
    if all("rendering_order" in d for _, d in G.nodes(data=True)):
        return

    if G.graph.get("consecutive_ids") is False:
        raise GraphError(
            "draw_grafx: rendering_order needs consecutive node ids; reorder the graph first "
            "(grafx.render.reorder_for_fast_render)"
        )
    _, render_order = compute_render_order(G)
    for node, step in zip(sorted(G.nodes), render_order.tolist(), strict=True):
        G.nodes[node]["rendering_order"] = step


def draw_grafx(
    G: nx.MultiDiGraph,
    vertical: bool = False,
    compute_node_position_fn: Callable = compute_node_position,
    draw_node_fn: Callable = draw_node,
    draw_edge_fn: Callable = draw_edge,
    colors: Mapping[str, str] | Sequence[str] | None = None,
    legend: bool = True,
    ax: Any = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Draw a graph with matplotlib and return ``(fig, ax)``.

    Nodes are laid out in columns by the longest path from the inputs (left to right, or top to
    bottom with ``vertical=True``), each channel strip on its own row, with one colour per node
    type and a legend of the types. ``G`` itself is not modified.

    Keyword arguments are routed by prefix, as in the original library: ``position_*`` to
    ``compute_node_position_fn`` (e.g. ``position_node_spacing=(1.0, 0.6)``), ``node_*`` to
    ``draw_node_fn`` (e.g. ``node_inside="rendering_order"``, ``node_above="node_id"``) and
    ``edge_*`` to ``draw_edge_fn`` (``edge_linewidth``). The docs' ``inside_node=`` spelling is
    accepted too. Unlike the original, the figure is sized to be readable (about half an inch
    per column and row) and ``edge_linewidth`` is honoured.

    Args:
        G: a :class:`~grafx.data.GRAFX` (or any ``networkx`` digraph whose nodes have
            ``node_type``).
        vertical: draw top to bottom instead of left to right.
        colors: a dict type -> face colour, or a list of colours to cycle through.
        legend: add a legend of node types.
        ax: draw into this axes instead of a new figure.

    Returns:
        ``(fig, ax)``.

    Example:
        >>> from grafx.data import GRAFX
        >>> G = GRAFX(config=["eq", "reverb"])
        >>> G.add_serial_chain(["in", "eq", "reverb", "out"])
        (0, 3)
        >>> fig, ax = draw_grafx(G, node_above="node_id")
    """
    routed = _route_kwargs(kwargs)
    for node, data in G.nodes(data=True):
        if "node_type" not in data:
            raise GraphError(f"draw_grafx: node {node} has no node_type")
    G = G.copy()
    if "rendering_order" in (routed["node"].get("inside"), routed["node"].get("above")):
        _add_rendering_order(G)
    compute_node_position_fn(G, **routed["position"])
    node_types = sorted({d["node_type"] for _, d in G.nodes(data=True)})
    if isinstance(colors, Mapping):
        handler = NodeColorHandler(facecolor_map=colors, node_types=node_types)
    else:
        handler = NodeColorHandler(node_types=node_types, colors=colors)

    import matplotlib.pyplot as plt

    xs = [_xy(G, n, vertical)[0] for n in G] or [0.0]
    ys = [_xy(G, n, vertical)[1] for n in G] or [0.0]
    if ax is None:
        width = min(max(0.55 * (max(xs) - min(xs)) + 1.5, 3.0), 60.0)
        height = min(max(0.55 * (max(ys) - min(ys)) + 1.0, 2.0), 60.0)
        fig, ax = plt.subplots(figsize=(width + (1.6 if legend else 0.0), height))
    else:
        fig = ax.figure
    node_size = routed["node"].get("size", (0.5, 0.5))
    edge_kwargs = (
        {"size": node_size, **routed["edge"]} if draw_edge_fn is draw_edge else routed["edge"]
    )
    draw_edge_fn(ax, G, list(G.edges(data=True)), vertical, **edge_kwargs)
    for node in G:
        draw_node_fn(ax, G, node, handler, vertical, **routed["node"])
    pad = 0.6
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(max(ys) + pad, min(ys) - pad)
    ax.set_aspect("equal")
    ax.axis("off")
    if legend and node_types:
        from matplotlib.patches import Patch

        handles = []
        for t in node_types:
            patch_colors: dict[str, Any] = handler.get_colors(t)
            handles.append(Patch(label=t, linewidth=0.6, **patch_colors))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=7,
            frameon=False,
            title="node types",
            title_fontsize=7,
        )
    return fig, ax
