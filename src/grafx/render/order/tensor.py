"""The reference's module for scheduling tensor graphs, under its names.

Code written for the original library imports these from ``grafx.render.order.tensor``; they are
thin forms of :func:`~grafx.render.order.compute_render_order` and
:func:`~grafx.render.reorder_for_fast_render` that accept only a
:class:`~grafx.data.tensor.GRAFXTensor`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from grafx.errors import GraphError
from grafx.render.order.compute import compute_render_order
from grafx.render.reorder import render_order_permutation, reorder_for_fast_render

__all__ = [
    "compute_render_order_tensor",
    "node_id_from_render_order",
    "return_render_ordered_tensor",
]


def _tensor_graph(G_t: Any, caller: str) -> Any:
    from grafx.data.tensor import GRAFXTensor

    if not isinstance(G_t, GRAFXTensor):
        raise GraphError(f"{caller}: expected a GRAFXTensor, got {type(G_t).__name__}")
    return G_t


def compute_render_order_tensor(G_t: Any, method: str = "beam", **kwargs: Any):
    """``(type_sequence, render_order)`` of a tensor graph; see ``compute_render_order``."""
    G_t = _tensor_graph(G_t, "compute_render_order_tensor")
    return compute_render_order(G_t, method=method, **kwargs)


def node_id_from_render_order(render_order: Tensor) -> Tensor:
    """New id of each node when the nodes are sorted by (render step, old id), ``(V,)``."""
    return render_order_permutation(render_order)


def return_render_ordered_tensor(G_t: Any, method: str = "beam", **kwargs: Any) -> Any:
    """A reordered copy of a tensor graph; see ``reorder_for_fast_render`` (the input is kept)."""
    G_t = _tensor_graph(G_t, "return_render_ordered_tensor")
    return reorder_for_fast_render(G_t, method=method, **kwargs)
