"""Scheduling: which nodes render together, step by step (no audio here)."""

from grafx.render.order.compute import METHODS, compute_render_order
from grafx.render.order.optimal import OptimalSchedule, ScheduleNotProvenWarning, optimal_schedule
from grafx.render.order.structure import GraphStructure

__all__ = [
    "METHODS",
    "GraphStructure",
    "OptimalSchedule",
    "ScheduleNotProvenWarning",
    "compute_render_order",
    "optimal_schedule",
]
