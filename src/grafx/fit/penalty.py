r"""The gain-staging regulariser, a :class:`~grafx.penalty.Penalty` on level changes.

:class:`GainStaging` is the regulariser of Lee et al. (DAFx 2024): processors of some types
(EQ, reverb, delay) should not change the level much by themselves, so the penalty is the sum
over their nodes of :math:`\lvert \ln(\overline{u^2} + \epsilon) - \ln(\overline{y^2} +
\epsilon) \rvert`, the absolute log energy ratio of each node's input :math:`u` and output
:math:`y` over the rendered region, as measured by
:class:`~grafx.processors.container.GainStagingRegularization`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError
from grafx.penalty import Penalty, PenaltyContext

__all__ = ["Penalty", "PenaltyContext", "GainStaging", "penalty_terms", "prepare_penalties"]


class GainStaging(Penalty):
    """The gain-staging regulariser: processors of ``types`` should keep their input level.

    :meth:`prepare` wraps each such processor in a
    :class:`~grafx.processors.container.GainStagingRegularization`; :meth:`value` sums what
    they measured over every regularised node (and every crop of a batched step).

    Args:
        weight: the paper's 1e-3 by default.
        types: node types to regularise (those absent from the graph are ignored).
        ramp: see :class:`Penalty`.
    """

    reads_render = True

    KEY = "gain_staging"

    def __init__(
        self,
        weight: float = 1e-3,
        types: Sequence[str] = ("eq", "reverb", "delay"),
        ramp: float = 0.0,
    ):
        super().__init__(weight, ramp)
        self.types = tuple(types)

    def prepare(self, processors: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
        from grafx.processors.container import GainStagingRegularization

        def wrap(node_type: str, processor: nn.Module) -> nn.Module:
            if node_type not in self.types or (
                isinstance(processor, GainStagingRegularization) and processor.key == self.KEY
            ):
                return processor
            return GainStagingRegularization(processor, key=self.KEY)

        return {t: wrap(t, p) for t, p in processors.items()}

    def value(self, context: PenaltyContext) -> Tensor:
        intermediates = context.intermediates
        terms = [
            extras[self.KEY]
            for node_type, extras in zip(intermediates.node_types, intermediates, strict=True)
            if node_type in self.types and self.KEY in extras
        ]
        if not terms:
            raise ConfigError(
                f"GainStaging: no measured level change from types {list(self.types)}; "
                "were the processors prepared (GainStaging.prepare) and does the graph have them?"
            )
        return torch.stack(terms).sum()


def prepare_penalties(
    processors: Mapping[str, nn.Module], penalties: Mapping[str, Penalty]
) -> dict[str, nn.Module]:
    """The processors with every penalty's instruments (:meth:`~grafx.penalty.Penalty.prepare`)."""
    prepared = dict(processors)
    for penalty in penalties.values():
        prepared = dict(penalty.prepare(prepared))
    return prepared


def penalty_terms(
    penalties: Mapping[str, Penalty],
    step: int,
    progress: float,
    parameters: Mapping,
    intermediates: Any,
) -> dict[str, Tensor]:
    """Each penalty's weighted value at a step.

    Args:
        penalties: the named penalties.
        step: the step index; ``progress`` the fraction of the budget used (clipped to 1).
        parameters: the step's ``{type: nested dict of tensors}``.
        intermediates: the extras of the step's render.
    """
    if not penalties:
        return {}
    context = PenaltyContext(step, min(progress, 1.0), parameters, intermediates)
    return {name: p.weight_at(context.progress) * p.value(context) for name, p in penalties.items()}
