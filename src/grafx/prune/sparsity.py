r"""The sparsity penalty on node gates: :math:`\lambda(p) \sum_v w_v`, for :func:`grafx.fit.fit_parameters`.

The mixing-graphs paper (Lee et al., DAFx 2024) adds the L1 norm of every processor's dry/wet
weight to the fit loss, with a weight ramped from 0 to :math:`10^{-4}`, so that processors a
mix does not need drift towards bypass and pruning finds them.
"""

from __future__ import annotations

from torch import Tensor

from grafx.fit.penalty import Penalty, PenaltyContext
from grafx.gates import gate_l1

__all__ = ["GateSparsity", "SPARSITY_WEIGHT"]

#: The paper's final weight of the gate sparsity penalty.
SPARSITY_WEIGHT = 1e-4


class GateSparsity(Penalty):
    r"""L1 penalty on every gate: :math:`\sum_v \sigma(\omega_v)`, plus the edge gates' if any.

    See :func:`grafx.gates.gate_l1`.

    Args:
        weight: the weight once ramped up (the paper's 1e-4 by default).
        ramp: fraction of the fit over which the weight rises linearly from 0 (the paper ramps
            over the whole console fit: 1).

    Example:
        >>> from grafx.fit import fit_parameters
        >>> penalties = {"sparsity": GateSparsity()}  # fit_parameters(..., penalties=penalties)
        >>> penalties["sparsity"].weight_at(0.5)
        5e-05
    """

    def __init__(self, weight: float = SPARSITY_WEIGHT, ramp: float = 1.0):
        super().__init__(weight, ramp)

    def value(self, context: PenaltyContext) -> Tensor:
        return gate_l1(context.parameters)
