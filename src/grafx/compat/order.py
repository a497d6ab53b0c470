"""The original library's scheduling functions, under its names.

Code written for the original library imports these from ``grafx.render.order.graph`` (graphs
of either kind) and ``grafx.render.order.tensor`` (tensor graphs only); both paths re-export
this module. They are thin forms of :func:`~grafx.render.order.compute_render_order` and
:func:`~grafx.render.reorder_for_fast_render`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from grafx.data.graph import GRAFX
from grafx.data.tensor import GRAFXTensor
from grafx.errors import GraphError
from grafx.render.order.compute import compute_render_order
from grafx.render.reorder import render_order_permutation, reorder_for_fast_render

__all__ = [
    "compute_render_order",
    "compute_render_order_tensor",
    "node_id_from_render_order",
    "reorder_for_fast_render",
    "return_render_ordered_graph",
    "return_render_ordered_tensor",
]


def return_render_ordered_graph(G: GRAFX, method: str = "beam", **kwargs: Any) -> GRAFX:
    """A ``GRAFX`` copy annotated with its schedule; see ``reorder_for_fast_render``.

    Unlike the original, node ids are kept (it relabelled them, which garbled graphs whose
    ids were not consecutive) and the input graph is not modified.
    """
    if not isinstance(G, GRAFX):
        raise GraphError(f"return_render_ordered_graph: expected a GRAFX, got {type(G).__name__}")
    return reorder_for_fast_render(G, method=method, **kwargs)


def _tensor_graph(G_t: Any, caller: str) -> GRAFXTensor:
    if not isinstance(G_t, GRAFXTensor):
        raise GraphError(f"{caller}: expected a GRAFXTensor, got {type(G_t).__name__}")
    return G_t


def compute_render_order_tensor(
    G_t: GRAFXTensor, method: str = "beam", **kwargs: Any
) -> tuple[list[str], Tensor]:
    """``(type_sequence, render_order)`` of a tensor graph; see ``compute_render_order``."""
    G_t = _tensor_graph(G_t, "compute_render_order_tensor")
    return compute_render_order(G_t, method=method, **kwargs)


def node_id_from_render_order(render_order: Tensor) -> Tensor:
    """New id of each node when the nodes are sorted by (render step, old id), ``(V,)``."""
    return render_order_permutation(render_order)


def return_render_ordered_tensor(
    G_t: GRAFXTensor, method: str = "beam", **kwargs: Any
) -> GRAFXTensor:
    """A reordered copy of a tensor graph; see ``reorder_for_fast_render`` (the input is kept)."""
    G_t = _tensor_graph(G_t, "return_render_ordered_tensor")
    return reorder_for_fast_render(G_t, method=method, **kwargs)
