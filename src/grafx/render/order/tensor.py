"""The original library's module path for scheduling tensor graphs: see
:mod:`grafx.compat.order`."""

from grafx.compat.order import (
    compute_render_order_tensor,
    node_id_from_render_order,
    return_render_ordered_tensor,
)

__all__ = [
    "compute_render_order_tensor",
    "node_id_from_render_order",
    "return_render_ordered_tensor",
]
