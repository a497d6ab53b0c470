"""Kept for imports written before the facade moved: see :mod:`grafx.render.renderer`."""

from grafx.render.renderer import GraphRenderer, render_mix

__all__ = ["GraphRenderer", "render_mix"]
