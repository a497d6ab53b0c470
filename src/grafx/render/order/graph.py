"""The original library's module path for scheduling graphs: see :mod:`grafx.compat.order`."""

from grafx.compat.order import (
    compute_render_order,
    reorder_for_fast_render,
    return_render_ordered_graph,
)

__all__ = ["compute_render_order", "reorder_for_fast_render", "return_render_ordered_graph"]
