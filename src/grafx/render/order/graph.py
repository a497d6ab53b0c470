"""The reference's module for scheduling graphs of either kind, under its names.

``compute_render_order`` and ``reorder_for_fast_render`` are the ones of :mod:`grafx.render`;
``return_render_ordered_graph`` is the ``GRAFX`` case of the latter.
"""

from __future__ import annotations

from typing import Any

from grafx.errors import GraphError
from grafx.render.order.compute import compute_render_order
from grafx.render.reorder import reorder_for_fast_render

__all__ = ["compute_render_order", "reorder_for_fast_render", "return_render_ordered_graph"]


def return_render_ordered_graph(G: Any, method: str = "beam", **kwargs: Any) -> Any:
    """A ``GRAFX`` copy annotated with its schedule; see ``reorder_for_fast_render``.

    Unlike the reference, node ids are kept (it relabelled them, which garbled graphs whose
    ids were not consecutive) and the input graph is not modified.
    """
    from grafx.data.graph import GRAFX

    if not isinstance(G, GRAFX):
        raise GraphError(f"return_render_ordered_graph: expected a GRAFX, got {type(G).__name__}")
    return reorder_for_fast_render(G, method=method, **kwargs)
