r"""The smoothness penalty of an automated fit.

The penalty that keeps automation from absorbing what static
settings explain:

.. math::
    \mathcal{P}_\mathrm{tv} = \frac{1}{R} \sum_{r} \sum_{k} \lvert c_{r,k+1} - c_{r,k} \rvert
    \qquad\text{or}\qquad
    \mathcal{P}_\mathrm{curv} = \frac{1}{R} \sum_{r} \sum_{k}
        (c_{r,k+1} - 2 c_{r,k} + c_{r,k-1})^2

over the ``R`` rows (every node and every entry of a parameter) of every curve, in the
parameters' own units (natural-log gain, unconstrained pan, ...). Total variation (the
default) lets a curve hold still and move where the target moves (a fader ride is a few
ramps); the curvature form allows slow drifts and penalises only bends. A flat curve costs 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.penalty import Penalty, PenaltyContext

__all__ = ["CurveSmoothness", "curve_roughness"]


class CurveSmoothness(Penalty):
    """Total variation (or curvature) of the automation curves (see the module).

    Args:
        weight: the penalty's weight (the fit objective adds ``weight * P``).
        names: the curves' flat names, ``"type/key"``, or a top-level key such as
            ``"edge_gate"`` (from :func:`curve_keys`).
        kind: ``"tv"`` (total variation) or ``"curvature"`` (squared second difference).
        ramp: see :class:`~grafx.fit.penalty.Penalty`.
    """

    KINDS = ("tv", "curvature")

    def __init__(self, weight: float, names: Iterable[str], kind: str = "tv", ramp: float = 0.0):
        super().__init__(weight, ramp)
        if kind not in self.KINDS:
            raise ConfigError(f"CurveSmoothness: kind must be one of {self.KINDS}, got {kind!r}")
        self.names, self.kind = tuple(names), kind

    def value(self, context: PenaltyContext) -> Tensor:
        total: Tensor | None = None
        for name in self.names:
            try:
                if "/" in name:
                    node_type, key = name.split("/", 1)
                    curve = context.parameters[node_type][key]
                else:
                    curve = context.parameters[name]
            except KeyError:
                raise ParameterError(
                    f"CurveSmoothness: no curve {name!r} in the parameters"
                ) from None
            term = curve_roughness(curve, self.kind)
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return total


def curve_roughness(curve: Tensor, kind: str = "tv") -> Tensor:
    """Mean over rows of a curve ``(..., K)``'s total variation or summed squared curvature."""
    if curve.shape[-1] < 2 or (kind == "curvature" and curve.shape[-1] < 3):
        return curve.sum() * 0
    rows = curve.reshape(-1, curve.shape[-1])
    if kind == "tv":
        return (rows[:, 1:] - rows[:, :-1]).abs().sum(-1).mean()
    bend = rows[:, 2:] - 2 * rows[:, 1:-1] + rows[:, :-2]
    return bend.square().sum(-1).mean()
