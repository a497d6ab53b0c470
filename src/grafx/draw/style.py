"""Node colours: one face colour per node type, ``in``/``out`` outlined in blue/red.

Without a palette of its own, a type's colour depends on the type alone (:func:`type_color`),
so every figure, and both panels of one, colour a type alike whatever else they hold.
"""

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


#: Fixed palette positions of the mixing console's and other common node types.
KNOWN_TYPES = (
    "eq",
    "compressor",
    "noisegate",
    "imager",
    "gain_pan",
    "delay",
    "reverb",
    "gain",
    "pan",
    "distortion",
    "limiter",
    "filter",
)


def type_color(node_type: str) -> str:
    """The face colour of ``node_type`` in every figure: a fixed one for :data:`KNOWN_TYPES`,
    else one chosen by a checksum of the name."""
    import zlib

    if node_type in KNOWN_TYPES:
        return PALETTE[KNOWN_TYPES.index(node_type) % len(PALETTE)]
    return PALETTE[zlib.crc32(node_type.encode("utf-8", "replace")) % len(PALETTE)]


class NodeColorHandler:
    """Maps node types to ``{"facecolor", "edgecolor"}``.

    Args:
        facecolor_map: exact type -> face colour entries; they win over everything else.
        node_types: types to give palette colours up front, in this order (so a figure's colours
            do not depend on which node happens to be drawn first).
        colors: a palette to cycle through (in ``node_types`` order); default: each type's
            own colour, :func:`type_color`.
    """

    def __init__(
        self,
        facecolor_map: Mapping[str, str] | None = None,
        node_types: Iterable[str] | None = None,
        colors: Iterable[str] | None = None,
    ):
        self.facecolor_map = dict(facecolor_map or {})
        self.colors = tuple(colors) if colors else None
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
            if self.colors is None:
                self._assigned[node_type] = type_color(node_type)
            else:
                self._assigned[node_type] = self.colors[len(self._assigned) % len(self.colors)]
        return {"facecolor": self._assigned[node_type], "edgecolor": "black"}
