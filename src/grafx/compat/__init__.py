"""Compatibility with the original library: its call forms and module paths.

grafx's own entry points have one signature each; what code written for the original
library needs besides them lives here:

- :func:`render_grafx`: the original's ``render_grafx(processors, input_signals,
  per_type_parameters, render_data, ...)``, returning ``(output, intermediates, buffer)``;
- :mod:`grafx.compat.buffers`: the original's buffer helpers (``grafx.render.core``);
- :mod:`grafx.compat.order`: the original's scheduling functions
  (``grafx.render.order.graph`` and ``grafx.render.order.tensor``).

The original's module paths re-export these modules, so its imports work unchanged. Nothing
in grafx itself imports this package.
"""

from grafx.compat.render import render_grafx

__all__ = ["render_grafx"]
