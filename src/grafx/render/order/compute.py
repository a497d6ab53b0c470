r"""``compute_render_order``: pick a scheduling method and run it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from grafx.errors import RenderError
from grafx.render.order.optimal import optimal_schedule_or_warn
from grafx.render.order.search import (
    beam_schedule,
    fixed_schedule,
    greedy_schedule,
    one_by_one_schedule,
)
from grafx.render.order.structure import GraphStructure, as_tensor_graph

METHODS = ("beam", "greedy", "fixed", "one-by-one", "optimal")
_KWARGS = {
    "beam": {"width", "depth"},
    "greedy": set(),
    "fixed": {"fixed_order"},
    "one-by-one": set(),
    "optimal": {"max_expansions", "time_limit", "width"},
}


def compute_render_order(G: Any, method: str = "beam", **kwargs: Any) -> tuple[list[str], Tensor]:
    r"""Find a node subset sequence: a type per render step and the step of every node.

    Step 0 renders every ``in`` node, the last step every ``out`` node, and each step in between
    renders every ready node of one type (see the documentation's *type scheduling*).

    Args:
        G: a :class:`~grafx.data.graph.GRAFX` (converted first) or
            :class:`~grafx.data.tensor.GRAFXTensor`; it is not modified.
        method: ``"beam"`` (default; kwargs ``width=32``, ``depth``), ``"greedy"``,
            ``"fixed"`` (kwarg ``fixed_order``: a type super-sequence, names or integer ids),
            ``"one-by-one"``, or ``"optimal"`` (kwargs ``max_expansions=200000``,
            ``time_limit=10.0`` seconds, ``width``: an exact search that warns with
            :class:`~grafx.render.order.optimal.ScheduleNotProvenWarning` when its budget
            stops it before the optimum is proven).

    Returns:
        ``type_sequence``, the type name of each step (a list; the reference returned integer
        ids), and ``render_order``, the step of each node, ``(V,)`` long.

    Raises:
        GraphError: no ``in`` or ``out`` node, a cycle, a node with no input or an unconnected
            inlet, bad edges; the message names the node.
        RenderError: an unknown method or keyword, or a ``fixed_order`` that cannot cover it.

    Example:
        >>> from grafx.data import GRAFX, NodeConfigs
        >>> G = GRAFX(config=NodeConfigs(["eq", "reverb"]))
        >>> out_id = G.add("out")
        >>> for _ in range(2):
        ...     start_id, end_id = G.add_serial_chain(["in", "eq", "reverb"])
        ...     G.connect(end_id, out_id)
        >>> type_sequence, render_order = compute_render_order(G, method="beam")
        >>> type_sequence
        ['in', 'eq', 'reverb', 'out']
    """
    if method not in METHODS:
        raise RenderError(f"invalid rendering method: {method!r}; choose one of {list(METHODS)}")
    unknown = set(kwargs) - _KWARGS[method]
    if unknown:
        raise RenderError(
            f"method {method!r} takes no keyword {sorted(unknown)}; it takes "
            f"{sorted(_KWARGS[method]) or 'none'}"
        )
    G_t = as_tensor_graph(G)
    S = GraphStructure(G_t)
    if method == "beam":
        sequence, order = beam_schedule(S, **kwargs)
    elif method == "greedy":
        sequence, order = greedy_schedule(S)
    elif method == "fixed":
        sequence, order = fixed_schedule(S, kwargs.get("fixed_order"))
    elif method == "one-by-one":
        sequence, order = one_by_one_schedule(S)
    else:
        sequence, order = optimal_schedule_or_warn(S, **kwargs)
    device = G_t.node_types.device
    return sequence, torch.as_tensor(order, dtype=torch.long, device=device)
