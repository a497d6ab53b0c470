r"""Penalty terms added to the fit objective: the hook and the gain-staging regulariser.

A fit step minimises

.. math:: \mathcal{J} = \mathcal{L}_\mathrm{audio} + \sum_i w_i(p)\,\mathcal{P}_i

where :math:`p \in [0, 1]` is the fit's progress and each penalty :math:`\mathcal{P}_i` is a
:class:`Penalty`: it may instrument the processors before the fit (:meth:`Penalty.prepare`,
e.g. to measure signals inside the render) and computes its value from a
:class:`PenaltyContext` (the step's parameters, the processors' extras and the progress). Its
weight may ramp up linearly from 0 over the first ``ramp`` fraction of the fit.

:class:`GainStaging` is the regulariser of Lee et al. (DAFx 2024): processors of some types
(EQ, reverb, delay) should not change the level much by themselves, so the penalty is the sum
over their nodes of :math:`\lvert \ln(\overline{u^2} + \epsilon) - \ln(\overline{y^2} +
\epsilon) \rvert`, the absolute log energy ratio of each node's input :math:`u` and output
:math:`y` over the rendered region, as measured by
:class:`~grafx.processors.container.GainStagingRegularization`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError

__all__ = ["Penalty", "PenaltyContext", "GainStaging"]


@dataclass
class PenaltyContext:
    """What a penalty sees at one fit step.

    Attributes:
        step: the step index (from 0).
        progress: fraction of the fit's budget used, in [0, 1] (steps or time, whichever is
            further along).
        parameters: ``{type: nested dict of tensors}`` being fitted (they carry gradients).
        intermediates: the extras the processors returned in this step's render (an
            :class:`~grafx.render.graph.Intermediates`: extras dicts with ``node_types``).
    """

    step: int
    progress: float
    parameters: Mapping[str, Any]
    intermediates: Any


class Penalty:
    """Base class of a penalty term: override :meth:`value` (and :meth:`prepare` if needed).

    Args:
        weight: the weight once ramped up.
        ramp: fraction of the fit over which the weight rises linearly from 0 (0: constant).
    """

    def __init__(self, weight: float, ramp: float = 0.0):
        if not weight >= 0 or not 0 <= ramp <= 1:
            raise ConfigError(
                f"{type(self).__name__}: need weight >= 0 and 0 <= ramp <= 1, "
                f"got weight={weight}, ramp={ramp}"
            )
        self.weight, self.ramp = float(weight), float(ramp)

    def weight_at(self, progress: float) -> float:
        """The weight at ``progress`` in [0, 1]."""
        if self.ramp == 0:
            return self.weight
        return self.weight * min(1.0, progress / self.ramp)

    def prepare(self, processors: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
        """Processors to render with during the fit (default: unchanged)."""
        return dict(processors)

    def value(self, context: PenaltyContext) -> Tensor:
        """The unweighted penalty, a scalar tensor."""
        raise NotImplementedError


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
