r"""The dry/wet blend, written once: :math:`y = w\, f(u) + (1 - w)\, u`, :math:`w = \sigma(\omega)`.

It is the mixing-graphs paper's per-processor dry/wet weight (Lee et al., DAFx 2024) and grafx's
*node gate*: the render engine applies it to every node whose type's parameter dict holds the
reserved key :data:`DRYWET_KEY` (see :func:`grafx.render.render_grafx` and :mod:`grafx.gates`),
and :class:`~grafx.processors.container.DryWet` applies it around one wrapped processor. Both
call :func:`drywet_blend`, so the two give the same audio to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.core.utils import broadcast_shapes

__all__ = [
    "row_dots",
    "DRYWET_KEY",
    "EDGE_GATE_KEY",
    "check_edge_gate_key_free",
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


def check_edge_gate_key_free(node_types: Iterable[str]) -> None:
    """Raise :class:`~grafx.errors.ParameterError` if a node type is named :data:`EDGE_GATE_KEY`.

    The edge gates share the top level of the parameter dict with the node types, so a type of
    that name would be read as the gates (by :func:`grafx.gates.add_edge_gates` and the render
    engine alike).
    """
    if EDGE_GATE_KEY in node_types:
        raise ParameterError(
            f"the graph has a node type named {EDGE_GATE_KEY!r}, the reserved key of the edge "
            "gates; rename that type"
        )


def mix_from_drywet_weight(drywet_weight: Tensor) -> Tensor:
    r"""Wet proportion :math:`w = \sigma(\omega)` from the unconstrained ``drywet_weight``.

    Computed as :math:`1 / (1 + e^{-\omega})` (exactly 0 and 1 at :math:`\mp\infty`) with the
    backward :math:`w (1 - w)`: unlike ``torch.sigmoid``, whose small-tensor and vectorised
    kernels differ in the last bit, it gives one value per :math:`\omega` whatever the
    tensor's size, so a gate automated with a flat curve (one value per sample) blends exactly
    like the static gate.
    """
    return _Sigmoid.apply(drywet_weight)


class _Sigmoid(torch.autograd.Function):
    """``1 / (1 + exp(-x))`` with the backward ``y (1 - y)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        # 1 / (1 + exp(-x)), each step written into the one new tensor (a per-sample gate is
        # as long as the audio; three temporaries of that size cost more than the arithmetic).
        y = torch.neg(x)
        y.exp_().add_(1).reciprocal_()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


def drywet_weight_from_mix(mix: Tensor | float) -> Tensor:
    r"""Inverse of :func:`mix_from_drywet_weight`: :math:`\omega = \log(w / (1 - w))`.

    ``mix = 0`` and ``1`` give :math:`\mp\infty`, which the sigmoid maps back to exactly 0 and 1.
    """
    return torch.logit(torch.as_tensor(mix))


def drywet_blend(
    wet: Tensor, dry: Tensor, drywet_weight: Tensor, overwrite_wet: bool = False
) -> Tensor:
    r"""Blend a processor's output with its input by a learnable weight.

    .. math:: y = w\, \mathrm{wet} + (1 - w)\, \mathrm{dry}, \qquad w = \sigma(\omega)

    computed as ``torch.lerp(dry, wet, w)``, which is exact at both ends: :math:`w = 0`
    (:math:`\omega = -\infty`) returns ``dry`` and :math:`w = 1` returns ``wet``, bit for bit.

    Args:
        wet: the processor's output, ``(B, C, L)``.
        dry: its input, ``(B, C', L)`` with ``C'`` equal to ``C`` or 1 (mono broadcasts).
        drywet_weight: :math:`\omega`, one value or one per row: ``()``, ``(1,)``, ``(B,)`` or
            ``(B, 1)``; or one per row and sample, ``(B, 1, L)`` (automation).
        overwrite_wet: the caller owns ``wet`` (nothing else reads its memory: it shares no
            storage with ``dry`` or any tensor kept), so the blend may be written into it
            when no gradient is recorded and it has the result's shape and dtype (the same
            values, one signal-sized allocation fewer).

    Returns:
        ``(B, max(C, C'), L)`` in ``wet``'s dtype.
    """
    if drywet_weight.ndim == 3:
        mix = mix_from_drywet_weight(drywet_weight).to(wet.dtype)
    else:
        mix = mix_from_drywet_weight(drywet_weight).reshape(-1, 1, 1).to(wet.dtype)
    recorded = torch.is_grad_enabled() and (
        wet.requires_grad or dry.requires_grad or mix.requires_grad
    )
    if recorded:
        if drywet_weight.ndim == 3:
            return torch.lerp(dry, wet, mix)
        return _Blend.apply(dry, wet, mix)
    if overwrite_wet and _can_write_into(wet, dry, mix):
        return torch.lerp(dry, wet, mix, out=wet)
    return torch.lerp(dry, wet, mix)


def _can_write_into(wet: Tensor, dry: Tensor, mix: Tensor) -> bool:
    """Whether ``torch.lerp(dry, wet, mix)`` can be written into ``wet``: the result has its
    shape and dtype, and each of its elements has its own memory (not expanded, no overlap)."""
    if wet.requires_grad or (wet.is_inference() and not torch.is_inference_mode_enabled()):
        return False
    if dry.dtype != wet.dtype or dry.device != wet.device:
        return False
    if broadcast_shapes(wet.shape, dry.shape, mix.shape) != tuple(wet.shape):
        return False
    if wet.untyped_storage().data_ptr() == dry.untyped_storage().data_ptr():
        return False
    dims = sorted((abs(st), sz) for st, sz in zip(wet.stride(), wet.shape, strict=True) if sz > 1)
    extent = 1
    for stride, size in dims:
        if stride < extent:
            return False
        extent = stride * size
    return True


def row_dots(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum((1, 2))`` of two ``(B, C, L)`` tensors of one shape, as ``(B,)``.

    Up to 64 rows, one BLAS dot per row reads both tensors once and writes nothing; more rows
    (short signals, big batches) use one batched product instead of a Python loop. Inputs are
    made contiguous first, so a row's value does not depend on its layout or on what else is
    batched with it (a fit of several songs packed in one graph gives each song's gates the
    gradients a fit of that song alone gives them; strided dots differ in the last bits, which
    Adam turns into visible differences on gradients near zero).
    """
    a, b = a.contiguous(), b.contiguous()
    if a.shape[0] > 64:
        return torch.linalg.vecdot(a.flatten(1), b.flatten(1))
    return torch.stack([torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b, strict=True)])


class _Blend(torch.autograd.Function):
    """``torch.lerp(dry, wet, mix)`` with a backward that writes only the gradients it returns.

    Autograd's lerp backward also writes ``wet - dry`` and its product with the gradient before
    reducing them to ``mix``'s shape; here the weight's gradient is two dot products per row,
    read from the saved signals. On the console that is about a quarter less time per gate.
    """

    @staticmethod
    def forward(ctx: Any, dry: Tensor, wet: Tensor, mix: Tensor) -> Tensor:
        ctx.save_for_backward(dry, wet, mix)
        return torch.lerp(dry, wet, mix)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        dry, wet, mix = ctx.saved_tensors
        need_dry, need_wet, need_mix = ctx.needs_input_grad
        grad_dry = grad_wet = grad_mix = None
        if need_mix:
            if grad.shape == wet.shape == dry.shape and mix.shape[0] == grad.shape[0]:
                dots = row_dots(grad, wet) - row_dots(grad, dry)
                grad_mix = dots.reshape(mix.shape)
            else:  # broadcast mono, or one weight for every row
                grad_mix = (grad * (wet - dry)).sum_to_size(mix.shape)
        if need_wet:
            grad_wet = (grad * mix).sum_to_size(wet.shape)
        if need_dry:
            grad_dry = (grad * (1 - mix)).sum_to_size(dry.shape)
        return grad_dry, grad_wet, grad_mix
