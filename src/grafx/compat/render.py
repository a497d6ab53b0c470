"""The original library's ``render_grafx``: its argument names and order, and the buffer.

:func:`grafx.render.render_grafx` is grafx's entry point: ``(source, processors, parameters,
render_data, *, ...)`` returning ``(output, intermediates)``. Code written for the original
library may call this one instead, which takes the original's arguments
(``processors, input_signals, per_type_parameters, render_data, common_parameters,
parameters_grad, input_signal_grad``) and returns its three values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from grafx.render.graph import Intermediates, render_grafx_with_buffer
from grafx.render.prepare import RenderData

if TYPE_CHECKING:
    from grafx.automation.timeline import Timeline

__all__ = ["render_grafx"]


def render_grafx(
    processors: Mapping[str, nn.Module] | nn.ModuleDict,
    input_signals: Tensor,
    per_type_parameters: Mapping[str, Any] | None,
    render_data: RenderData,
    common_parameters: Any = None,
    parameters_grad: bool = True,
    input_signal_grad: bool | None = None,
    *,
    graph: Any = None,
    edge_gains: Tensor | None = None,
    timeline: Timeline | None = None,
) -> tuple[Tensor, Intermediates, Tensor]:
    """Render as the original library did: ``(output, intermediates, buffer)``.

    The arguments are those of :func:`grafx.render.render_grafx` under the original's names
    and order (``processors`` first); the documented order, ``(source, processors, ...)``, is
    accepted too (the one tensor among the first two arguments is the source). ``buffer`` is
    that of :func:`grafx.render.graph.render_grafx_with_buffer`. Unlike the original, the
    sources get gradients when they require grad unless ``input_signal_grad`` is ``False``.
    """
    if isinstance(processors, Tensor) and not isinstance(input_signals, Tensor):
        processors, input_signals = input_signals, processors
    return render_grafx_with_buffer(
        input_signals,
        processors,
        per_type_parameters,
        render_data,
        common_parameters=common_parameters,
        parameters_grad=parameters_grad,
        input_signal_grad=input_signal_grad,
        graph=graph,
        edge_gains=edge_gains,
        timeline=timeline,
    )
