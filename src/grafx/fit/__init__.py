"""Fitting: optimise a graph's parameters so that its mix matches a target mix.

The pieces: :func:`fit_parameters` (the loop), :class:`FitConfig` and :class:`FitResult`,
:class:`GraphRenderer` (render a graph's mix with parameters in node order), checkpoints in
safetensors + JSON, and :func:`~grafx.fit.report.plot_report` for a figure of the result.
"""

from grafx.fit.checkpoint import load_checkpoint, save_checkpoint
from grafx.fit.loop import FitConfig, FitResult, crop_bounds, evaluate_loss, fit_parameters
from grafx.render.renderer import GraphRenderer, render_mix

__all__ = [
    "FitConfig",
    "FitResult",
    "GraphRenderer",
    "crop_bounds",
    "evaluate_loss",
    "fit_parameters",
    "load_checkpoint",
    "render_mix",
    "save_checkpoint",
]
