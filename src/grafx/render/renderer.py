"""The rendering facade: convert, schedule, plan, permute and render a graph's mix.

:class:`GraphRenderer` makes the schedule and plan once and reuses them at every call;
:func:`render_mix` is the one-off, gradient-free form the CLI uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from grafx.errors import RenderError


class GraphRenderer:
    """Render the single ``out`` node of a graph, with parameters in the graph's node order.

    Converts ``G`` to tensors, schedules it (``type_sequence`` for a fixed schedule, else
    ``method``), prepares the plan, and on every call permutes the per-type parameters to the
    schedule's row order (differentiably) before :func:`~grafx.render.render_grafx`.

    Args:
        G: the graph (a :class:`~grafx.data.GRAFX` with exactly one ``out`` node).
        processors: ``{type: nn.Module}``.
        type_sequence: a fixed type sequence (e.g. from ``build_mixing_console``).
        method: scheduling method when no ``type_sequence`` is given.
    """

    def __init__(
        self,
        G: Any,
        processors: Mapping,
        type_sequence: Sequence[str] | None = None,
        method: str = "beam",
    ):
        from grafx.data import convert_to_tensor
        from grafx.data.rows import count_nodes_per_type
        from grafx.render import prepare_render, reorder_for_fast_render

        num_out = count_nodes_per_type(G, ["out"])["out"]
        if num_out != 1:
            raise RenderError(
                f"the graph needs exactly one 'out' node to render a mix, has {num_out}"
            )
        self.G = G
        self.processors = processors
        self.G_t = convert_to_tensor(G)
        if type_sequence is not None:
            self.G_fast = reorder_for_fast_render(
                self.G_t, method="fixed", fixed_order=list(type_sequence)
            )
        else:
            self.G_fast = reorder_for_fast_render(self.G_t, method=method)
        self.render_data = prepare_render(self.G_fast)
        self.num_sources = self.render_data.num_sources
        from grafx.render.permute import ParameterPermuter

        self._permute = ParameterPermuter(self.G_t, self.G_fast)

    def to(self, device: str | torch.device) -> GraphRenderer:
        """Get ready to render on ``device``; returns ``self``.

        Moves the processors' buffers there (``nn.Module.to``, in place: the processors dict is
        shared with the caller) and copies the plan's index tensors and parameter permutations
        there once, so that no render copies anything from the host. The sources and
        parameters given to each call must be on ``device`` too (see
        :func:`grafx.device.move_tree`); ``"meta"`` renders shapes without data.
        """
        from grafx.device import move_processors, resolve_device

        device = resolve_device(device)
        move_processors(self.processors, device)
        self.render_data.on(device)
        return self

    @property
    def type_sequence(self) -> list[str]:
        """The type of each render step."""
        return list(self.G_fast.type_sequence)

    def __call__(
        self, sources: Tensor, parameters: Mapping, timeline: Any = None
    ) -> tuple[Tensor, Any]:
        """Render.

        Args:
            sources: ``(K, C, L)`` or ``(B, K, C, L)``, one row per ``in`` node in id order.
            parameters: ``{type: nested dict of tensors}`` in ``G``'s node order; time-varying
                entries may be curves (see :mod:`grafx.automation`).
            timeline: the :class:`~grafx.automation.Timeline` of the curves, moved to the
                rendered stretch (``None`` without automation).

        Returns:
            ``(mix, intermediates)`` with mix ``(C', L)`` or ``(B, C', L)``.
        """
        from grafx.render import render_grafx

        fast = self._permute(parameters)
        output, intermediates = render_grafx(
            sources, self.processors, fast, self.render_data, timeline=timeline
        )
        return output.select(-3, 0), intermediates


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
