"""Matplotlib figures of audio processing graphs; matplotlib is imported only when drawing."""

from grafx.draw.graph import draw_grafx
from grafx.draw.position import compute_node_position
from grafx.draw.style import NodeColorHandler

__all__ = ["draw_grafx", "compute_node_position", "NodeColorHandler"]
