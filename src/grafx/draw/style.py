"""Node colours: one distinct face colour per node type, ``in``/``out`` outlined in blue/red."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# A qualitative palette (light tones so black text stays readable on every face).
PALETTE = (
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
    "#a6cee3",
    "#b2df8a",
    "#fdbf6f",
    "#cab2d6",
)
SPECIAL = {
    "in": {"facecolor": "white", "edgecolor": "#1f5fbf"},
    "out": {"facecolor": "white", "edgecolor": "#c0392b"},
    "mix": {"facecolor": "#eeeeee", "edgecolor": "black"},
}


class NodeColorHandler:
    """Maps node types to ``{"facecolor", "edgecolor"}``.

    Args:
        facecolor_map: exact type -> face colour entries; they win over everything else.
        node_types: types to give palette colours up front, in this order (so a figure's colours
            do not depend on which node happens to be drawn first).
        colors: a palette to cycle through instead of :data:`PALETTE`.
    """

    def __init__(
        self,
        facecolor_map: Mapping[str, str] | None = None,
        node_types: Iterable[str] | None = None,
        colors: Iterable[str] | None = None,
    ):
        self.facecolor_map = dict(facecolor_map or {})
        self.colors = tuple(colors) if colors else PALETTE
        self._assigned: dict[str, str] = {}
        for node_type in node_types or ():
            self.get_colors(node_type)

    def get_colors(self, node_type: str) -> dict[str, str]:
        """Face and edge colour for ``node_type``."""
        if node_type in self.facecolor_map:
            return {"facecolor": self.facecolor_map[node_type], "edgecolor": "black"}
        if node_type in SPECIAL:
            return dict(SPECIAL[node_type])
        if node_type not in self._assigned:
            self._assigned[node_type] = self.colors[len(self._assigned) % len(self.colors)]
        return {"facecolor": self._assigned[node_type], "edgecolor": "black"}
