r"""The dry/wet blend, written once: :math:`y = w\, f(u) + (1 - w)\, u`, :math:`w = \sigma(\omega)`.

It is the mixing-graphs paper's per-processor dry/wet weight (Lee et al., DAFx 2024) and grafx's
*node gate*: the render engine applies it to every node whose type's parameter dict holds the
reserved key :data:`DRYWET_KEY` (see :func:`grafx.render.render_grafx` and :mod:`grafx.gates`),
and :class:`~grafx.processors.container.DryWet` applies it around one wrapped processor. Both
call :func:`drywet_blend`, so the two give the same audio to the last bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "DRYWET_KEY",
    "EDGE_GATE_KEY",
    "drywet_blend",
    "mix_from_drywet_weight",
    "drywet_weight_from_mix",
]

#: The reserved parameter key of a node's dry/wet weight (its gate), shape ``(N_t, 1)``.
DRYWET_KEY = "drywet_weight"

#: The reserved top-level parameter key of the edge gates, shape ``(E, 1)``: row ``e`` is
#: :math:`\omega_e` of the ``e``-th edge (column ``e`` of ``edge_indices``), and the edge
#: carries :math:`\sigma(\omega_e)` times its source's signal (see :mod:`grafx.gates`).
EDGE_GATE_KEY = "edge_gate"


def mix_from_drywet_weight(drywet_weight: Tensor) -> Tensor:
    r"""Wet proportion :math:`w = \sigma(\omega)` from the unconstrained ``drywet_weight``."""
    return torch.sigmoid(drywet_weight)


def drywet_weight_from_mix(mix: Tensor | float) -> Tensor:
    r"""Inverse of :func:`mix_from_drywet_weight`: :math:`\omega = \log(w / (1 - w))`.

    ``mix = 0`` and ``1`` give :math:`\mp\infty`, which the sigmoid maps back to exactly 0 and 1.
    """
    return torch.logit(torch.as_tensor(mix))


def drywet_blend(wet: Tensor, dry: Tensor, drywet_weight: Tensor) -> Tensor:
    r"""Blend a processor's output with its input by a learnable weight.

    .. math:: y = w\, \mathrm{wet} + (1 - w)\, \mathrm{dry}, \qquad w = \sigma(\omega)

    computed as ``torch.lerp(dry, wet, w)``, which is exact at both ends: :math:`w = 0`
    (:math:`\omega = -\infty`) returns ``dry`` and :math:`w = 1` returns ``wet``, bit for bit.

    Args:
        wet: the processor's output, ``(B, C, L)``.
        dry: its input, ``(B, C', L)`` with ``C'`` equal to ``C`` or 1 (mono broadcasts).
        drywet_weight: :math:`\omega`, one value or one per row: ``()``, ``(1,)``, ``(B,)`` or
            ``(B, 1)``.

    Returns:
        ``(B, max(C, C'), L)`` in ``wet``'s dtype.
    """
    mix = mix_from_drywet_weight(drywet_weight).reshape(-1, 1, 1).to(wet.dtype)
    return torch.lerp(dry, wet, mix)
