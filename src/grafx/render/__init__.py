"""Rendering: schedule a graph, plan the render, and run it on audio.

The three stages stay apart: :mod:`grafx.render.order` decides which nodes render together,
:mod:`grafx.render.prepare` turns that into a plan of reads, aggregations and writes, and
:mod:`grafx.render.graph` runs the plan; :class:`~grafx.render.renderer.GraphRenderer` does all
three for a graph's mix.
"""

from grafx.render.graph import Intermediates, render_grafx, render_grafx_with_buffer
from grafx.render.order import ScheduleNotProvenWarning, compute_render_order, optimal_schedule
from grafx.render.permute import permute_parameters, permute_sources
from grafx.render.prepare import RenderData, prepare_render
from grafx.render.renderer import GraphRenderer, render_mix
from grafx.render.reorder import permute_grafx_tensor, reorder_for_fast_render

__all__ = [
    "GraphRenderer",
    "Intermediates",
    "RenderData",
    "ScheduleNotProvenWarning",
    "compute_render_order",
    "optimal_schedule",
    "permute_grafx_tensor",
    "permute_parameters",
    "permute_sources",
    "prepare_render",
    "reorder_for_fast_render",
    "render_grafx",
    "render_grafx_with_buffer",
    "render_mix",
]
