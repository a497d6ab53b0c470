r"""Zeroth-order gradients of black-box audio effects: finite differences and SPSA.

A black box :math:`y = f(x; u)` gives audio :math:`y` for audio :math:`x` and parameters
:math:`u \in [0, 1]^P` (normalised to their ranges), and no gradient. Backpropagation needs the
vector-Jacobian product :math:`J_u^\top g` for the incoming gradient :math:`g = \partial
\mathcal{L} / \partial y`. Both estimators here evaluate :math:`f` at pairs of points
:math:`u \pm h\,d_k` and weight each direction :math:`d_k` by the directional derivative of
:math:`\langle g, y \rangle`:

.. math::

    \hat{\nabla}_u = \frac{1}{N} \sum_{k} \frac{\langle g,\, f(x; c + h d_k)
        - f(x; c - h d_k)\rangle}{2h}\, d_k

* **central finite differences** (``"finite_difference"``): :math:`d_k = e_k`, the ``P`` unit
  vectors, :math:`N = 1`: ``2P`` evaluations, exact up to :math:`O(h^2)`;
* **SPSA** (``"spsa"``, Spall, "Multivariate stochastic approximation using a simultaneous
  perturbation gradient approximation", IEEE TAC 1992): :math:`d_k \in \{-1, +1\}^P`
  Rademacher, :math:`N` samples: ``2N`` evaluations whatever ``P``; unbiased up to
  :math:`O(h^2)`, with a variance that falls as :math:`1/N` (for an exactly linear :math:`f` the
  expected cosine to the true gradient is about :math:`\sqrt{N / (N + P - 1)}`).

The centre :math:`c` is :math:`u` moved at least :math:`h` inside the unit cube, so every point
evaluated is in range (near a bound the estimate is the slope just inside it).

The gradient with respect to the input audio is an estimate too (``input_grad``):

* ``"straight_through"``: :math:`\partial y / \partial x = I` (summed over the output channels
  when a mono input gives stereo): right for effects that are close to identity (mild EQ,
  dynamics at low ratio), biased for anything else;
* ``"gain"``: the effect linearised as a per-channel gain :math:`y \approx a x` fitted by least
  squares in the forward pass, :math:`a = \langle x, y \rangle / \langle x, x \rangle`, so
  :math:`\partial \mathcal{L} / \partial x = a\, g`: right for compressors, gates and
  distortion in their linear region, and it never passes more gradient than the effect passes
  signal;
* ``"none"``: no gradient to the input (the black box is a leaf for what precedes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ConfigError

__all__ = ["ESTIMATORS", "INPUT_GRADS", "Estimator", "BlackBoxFunction", "directions"]

ESTIMATORS = ("spsa", "finite_difference")
INPUT_GRADS = ("straight_through", "gain", "none")

#: ``evaluate(audio (B, C, L), points (B, S, P)) -> (B, S, C_out, L)``, no gradient.
Evaluate = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Estimator:
    """How a black box's gradients are estimated.

    Args:
        method: ``"spsa"`` or ``"finite_difference"``.
        num_samples: SPSA's number of perturbation pairs :math:`N` (ignored by finite
            differences, which use one pair per parameter).
        step: the perturbation :math:`h`, in normalised units (a fraction of each parameter's
            range), in ``(0, 0.5)``.
        input_grad: ``"straight_through"``, ``"gain"`` or ``"none"`` (module docstring).
    """

    method: str = "spsa"
    num_samples: int = 8
    step: float = 0.01
    input_grad: str = "straight_through"

    def __post_init__(self) -> None:
        if self.method not in ESTIMATORS:
            raise ConfigError(
                f"estimator: unknown method {self.method!r}; choose from {ESTIMATORS}"
            )
        if int(self.num_samples) != self.num_samples or self.num_samples < 1:
            raise ConfigError(
                f"estimator: num_samples must be an integer >= 1, got {self.num_samples}"
            )
        if not 0 < self.step < 0.5:
            raise ConfigError(f"estimator: step must be in (0, 0.5), got {self.step}")
        if self.input_grad not in INPUT_GRADS:
            raise ConfigError(
                f"estimator: unknown input_grad {self.input_grad!r}; choose from {INPUT_GRADS}"
            )

    def evaluations_per_node(self, num_params: int) -> int:
        """Black-box calls per node in one backward pass."""
        return 2 * (num_params if self.method == "finite_difference" else self.num_samples)


def directions(
    method: str, batch: int, num_params: int, num_samples: int, generator: torch.Generator
) -> tuple[Tensor, float]:
    """Perturbation directions ``(B, S, P)`` (float64, CPU) and the normalisation :math:`N`.

    Finite differences: the unit vectors, ``S = P``, ``N = 1``. SPSA: Rademacher signs drawn
    from ``generator``, ``S = N = num_samples``, independent per node.
    """
    if method == "finite_difference":
        eye = torch.eye(num_params, dtype=torch.float64)
        return eye.expand(batch, num_params, num_params), 1.0
    signs = torch.randint(0, 2, (batch, num_samples, num_params), generator=generator)
    return signs.to(torch.float64) * 2 - 1, float(num_samples)


def _input_gradient(kind: str, x: Tensor, y: Tensor, grad_y: Tensor) -> Tensor | None:
    if kind == "none":
        return None
    if kind == "gain":
        gain = (x * y).sum(-1, keepdim=True) / (x * x).sum(-1, keepdim=True).clamp_min(1e-12)
        grad_y = grad_y * gain
    if grad_y.shape[1] != x.shape[1]:  # mono in, several channels out
        return grad_y.sum(1, keepdim=True)
    return grad_y


class BlackBoxFunction(torch.autograd.Function):
    """``y = f(x; u)`` forward through ``evaluate``; backward by :class:`Estimator`.

    ``apply(x, u, evaluate, estimator, generator)``: ``x`` ``(B, C, L)``, ``u`` ``(B, P)`` in
    ``[0, 1]``; returns ``(B, C_out, L)`` in ``x``'s dtype and device. ``evaluate`` receives
    every point of one pass at once (the forward point, or all ``2S`` perturbed points of every
    node) so it can run them in parallel.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        u: Tensor,
        evaluate: Evaluate,
        estimator: Estimator,
        generator: torch.Generator,
    ) -> Tensor:
        y = evaluate(x, u.detach()[:, None, :])[:, 0]
        ctx.evaluate, ctx.estimator, ctx.generator = evaluate, estimator, generator
        ctx.save_for_backward(x, u, y)
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        x, u, y = ctx.saved_tensors
        estimator: Estimator = ctx.estimator
        grad_x: Tensor | None = None
        grad_u: Tensor | None = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_gradient(estimator.input_grad, x, y, grad_y)
        if ctx.needs_input_grad[1] and u.shape[1] > 0:
            grad_u = estimate_parameter_gradient(
                ctx.evaluate, x, u, grad_y, estimator, ctx.generator
            )
        return grad_x, grad_u, None, None, None


def estimate_parameter_gradient(
    evaluate: Evaluate,
    x: Tensor,
    u: Tensor,
    grad_y: Tensor,
    estimator: Estimator,
    generator: torch.Generator,
) -> Tensor:
    r"""The estimate :math:`\hat\nabla_u` of the module docstring, ``(B, P)`` like ``u``.

    Args:
        evaluate: the black box on many points, as in :class:`BlackBoxFunction`.
        x: input audio, ``(B, C, L)``.
        u: normalised parameters, ``(B, P)`` in ``[0, 1]``.
        grad_y: incoming gradient, ``(B, C_out, L)``.
        estimator: method, samples, step.
        generator: the source of SPSA's signs.
    """
    batch, num_params = u.shape
    step = estimator.step
    d, norm = directions(estimator.method, batch, num_params, estimator.num_samples, generator)
    d = d.to(device=u.device, dtype=u.dtype)
    centre = u.detach().clamp(step, 1 - step)[:, None, :]
    points = torch.cat([centre + step * d, centre - step * d], 1)  # (B, 2S, P)
    outputs = evaluate(x, points)  # (B, 2S, C_out, L)
    num_dirs = d.shape[1]
    difference = outputs[:, :num_dirs] - outputs[:, num_dirs:]
    slope = (difference * grad_y[:, None]).sum((-2, -1)) / (2 * step)  # (B, S)
    return (slope.to(u.dtype)[:, :, None] * d).sum(1) / norm
