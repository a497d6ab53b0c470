r"""Penalty terms of a fit objective: what a penalty sees at a step, and the base class.

A fit step minimises

.. math:: \mathcal{J} = \mathcal{L}_\mathrm{audio} + \sum_i w_i(p)\,\mathcal{P}_i

where :math:`p \in [0, 1]` is the fit's progress and each penalty :math:`\mathcal{P}_i` is a
:class:`Penalty`: it may instrument the processors before the fit (:meth:`Penalty.prepare`,
e.g. to measure signals inside the render) and computes its value from a
:class:`PenaltyContext` (the step's parameters, the processors' extras and the progress). Its
weight may ramp up linearly from 0 over the first ``ramp`` fraction of the fit.

Penalties live beside the processors they look at: :class:`grafx.fit.penalty.GainStaging`,
:class:`grafx.gates.GateSparsity`, :class:`grafx.automation.smoothness.CurveSmoothness`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from grafx.errors import ConfigError

__all__ = ["Penalty", "PenaltyContext"]


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

    #: Whether :meth:`value` reads the render's intermediates (signals inside the graph) rather
    #: than only the parameters. A fit that renders several songs as one batch (a packed fit)
    #: computes such a penalty once on the batch; the others once per song, on its own parameters.
    reads_render: ClassVar[bool] = False

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
