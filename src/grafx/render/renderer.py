"""The rendering facade: convert, schedule, plan, permute and render a graph's mix.

:class:`GraphRenderer` makes the schedule and plan once and reuses them at every call;
:func:`render_mix` is the one-off, gradient-free form the CLI uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import Tensor

from grafx.data.batch import batch_grafx
from grafx.data.conversion import convert_to_tensor
from grafx.data.rows import count_nodes_per_type
from grafx.device import move_processors, resolve_device
from grafx.errors import RenderError
from grafx.render.graph import render_grafx
from grafx.render.permute import ParameterPermuter
from grafx.render.prepare import prepare_render
from grafx.render.reorder import reorder_for_fast_render


class GraphRenderer:
    """Render the ``out`` node of a graph, or of each graph of a list, with parameters in node order.

    Converts ``G`` to tensors (a list of graphs is first joined by
    :func:`~grafx.data.batch_grafx` into one disjoint graph, so that a render step runs a
    processor once for the nodes of every graph), schedules it (``type_sequence`` for a fixed
    schedule, else ``method``), prepares the plan, and on every call permutes the per-type
    parameters to the schedule's row order (differentiably) before
    :func:`~grafx.render.render_grafx`.

    Args:
        G: the graph (a :class:`~grafx.data.GRAFX` with exactly one ``out`` node), or a list
            of such graphs with equal node configs.
        processors: ``{type: nn.Module}``.
        type_sequence: a fixed type sequence (e.g. from ``build_mixing_console``); for a list
            of graphs, the sequence of each graph (the batch runs it once for all of them).
        method: scheduling method when no ``type_sequence`` is given.

    Raises:
        RenderError: a graph without exactly one ``out`` node, or an empty list.
    """

    def __init__(
        self,
        G: Any,
        processors: Mapping,
        type_sequence: Sequence[str] | None = None,
        method: str = "beam",
    ):
        self.graphs = list(G) if isinstance(G, (list, tuple)) else None
        if self.graphs is not None and not self.graphs:
            raise RenderError("GraphRenderer needs at least one graph, got an empty list")
        for index, graph in enumerate([G] if self.graphs is None else self.graphs):
            num_out = count_nodes_per_type(graph, ["out"])["out"]
            if num_out != 1:
                which = "the graph" if self.graphs is None else f"graph {index}"
                raise RenderError(
                    f"{which} needs exactly one 'out' node to render a mix, has {num_out}"
                )
        self.G = G
        self.processors = processors
        self.G_t = convert_to_tensor(G if self.graphs is None else batch_grafx(self.graphs))
        if type_sequence is not None:
            self.G_fast = reorder_for_fast_render(
                self.G_t, method="fixed", fixed_order=list(type_sequence)
            )
        else:
            self.G_fast = reorder_for_fast_render(self.G_t, method=method)
        self.render_data = prepare_render(self.G_fast)
        self.num_sources = self.render_data.num_sources
        self._permute = ParameterPermuter(self.G_t, self.G_fast)

    def to(self, device: str | torch.device) -> GraphRenderer:
        """Get ready to render on ``device``; returns ``self``.

        Moves the processors' buffers there (``nn.Module.to``, in place: the processors dict is
        shared with the caller) and copies the plan's index tensors and parameter permutations
        there once, so that no render copies anything from the host. The sources and
        parameters given to each call must be on ``device`` too (see
        :func:`grafx.device.move_tree`); ``"meta"`` renders shapes without data.
        """
        device = resolve_device(device)
        move_processors(self.processors, device)
        self.render_data.on(device)
        return self

    @property
    def type_sequence(self) -> list[str]:
        """The type of each render step."""
        return list(self.G_fast.type_sequence)

    def __call__(
        self,
        sources: Tensor | Sequence[Tensor],
        parameters: Mapping | Sequence[Mapping],
        timeline: Any = None,
    ) -> tuple[Tensor, Any]:
        """Render.

        Args:
            sources: ``(K, C, L)`` or ``(B, K, C, L)``, one row per ``in`` node in id order;
                for a list of graphs, the list of each graph's sources (or their
                concatenation along the ``K`` axis), all of one length.
            parameters: ``{type: nested dict of tensors}`` in ``G``'s node order; for a list
                of graphs, the list of each graph's. Time-varying entries may be curves (see
                :mod:`grafx.automation`).
            timeline: the :class:`~grafx.automation.Timeline` of the curves, moved to the
                rendered stretch (``None`` without automation).

        Returns:
            ``(mix, intermediates)`` with mix ``(C', L)`` or ``(B, C', L)``; for a list of
            ``N`` graphs, ``(N, C', L)`` or ``(B, N, C', L)``, graph ``i``'s mix at row ``i``.
        """
        joined = torch.cat(list(sources), dim=-3) if isinstance(sources, (list, tuple)) else sources
        tree = concat_rows(parameters) if isinstance(parameters, (list, tuple)) else parameters
        fast = self._permute(cast(Mapping, tree))
        output, intermediates = render_grafx(
            cast(Tensor, joined), self.processors, fast, self.render_data, timeline=timeline
        )
        return (output.select(-3, 0) if self.graphs is None else output), intermediates


def concat_rows(trees: Sequence[Mapping]) -> dict:
    """Per-type parameters of a list of graphs: each type's rows, graph after graph.

    The parameters of :func:`~grafx.data.batch_grafx`'s joined graph in its node order.
    """
    keys = list(dict.fromkeys(key for tree in trees for key in tree))
    joined: dict = {}
    for key in keys:
        values = [tree[key] for tree in trees if key in tree]
        joined[key] = torch.cat(values) if isinstance(values[0], Tensor) else concat_rows(values)
    return joined


def render_mix(
    G: Any,
    processors: Mapping,
    parameters: Mapping,
    sources: Tensor,
    type_sequence: Sequence[str] | None = None,
    timeline: Any = None,
) -> Tensor:
    """One-off render of a graph's mix without gradients: ``(C, L)`` from ``(K, C, L)``.

    ``timeline`` is the :class:`~grafx.automation.Timeline` of parameters given as curves, at
    the sources' rate (``None`` without automation)."""
    with torch.no_grad():
        renderer = GraphRenderer(G, processors, type_sequence)
        return renderer(sources, parameters, timeline=timeline)[0]
