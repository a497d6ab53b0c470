r"""Filter designs: unconstrained parameters to biquad coefficients, and FIR filtering.

Every design returns unnormalised ``Bs, As`` of shape ``(..., 3)`` ready for
:class:`grafx.processors.core.iir.IIRFilter`; recursive designs pass their denominators through
:func:`grafx.processors.core.iir.normalized_stable_biquad`, so no parameter value can make a filter unstable.

Every design is computed in float64 (:func:`grafx.processors.core.utils.design_dtype`) and
returns float64 coefficients whatever the parameters' dtype; the filters keep them in float64
and return the input's dtype.

Common activations (as in the original library; zeros give :math:`\omega_0 = \pi/2`, ``Q = 1``,
``A = 1``):

.. math:: \omega_0 = \pi\,\sigma(w_0), \quad 1/Q = e^{q_\mathrm{inv}}, \quad
          \alpha = \sin(\omega_0)/(2Q), \quad A = e^{\ell}

The RBJ designs follow Robert Bristow-Johnson's "Audio EQ Cookbook".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.core.iir import (
    STABILITY_MARGIN,
    normalized_stable_biquad,
    pole_radius,
    stable_biquad_denominator,
)
from grafx.processors.core.utils import to_design_dtype

RBJ_KINDS = (
    "lowpass",
    "highpass",
    "bandpass",
    "bandreject",
    "allpass",
    "peaking",
    "lowshelf",
    "highshelf",
)


#: Bounds :func:`rbj_biquad` puts on ``q_inv`` (``1/Q`` from 1e-3 to 1e3) and ``log_gain``
#: (``A`` from 1e-3 to 1e3: a peak or shelf of +-120 dB), applied before the exponentials so
#: that no raw value overflows; no ordinary setting reaches them.
Q_INV_MAX = 3 * math.log(10.0)
LOG_GAIN_MAX = 3 * math.log(10.0)


def omega_from_w0(w0: Tensor) -> Tensor:
    r"""Angular frequency :math:`\omega_0 = \pi\,\sigma(w_0)` in radians per sample."""
    return math.pi * torch.sigmoid(w0)


def w0_from_omega(omega: Tensor) -> Tensor:
    r"""Inverse of :func:`omega_from_w0`: :math:`\operatorname{logit}(\omega_0/\pi)`."""
    return torch.logit(omega / math.pi)


def inv_q_from_q_inv(q_inv: Tensor) -> Tensor:
    """``1/Q = exp(q_inv)``."""
    return torch.exp(q_inv)


def q_inv_from_inv_q(inv_q: Tensor) -> Tensor:
    """Inverse of :func:`inv_q_from_q_inv`: ``log(1/Q)``."""
    return torch.log(inv_q)


def amplitude_from_log_gain(log_gain: Tensor) -> Tensor:
    """RBJ amplitude ``A = exp(log_gain)`` (a peaking filter's centre gain is ``A**2``)."""
    return torch.exp(log_gain)


def log_gain_from_amplitude(amplitude: Tensor) -> Tensor:
    """Inverse of :func:`amplitude_from_log_gain`."""
    return torch.log(amplitude)


def rbj_biquad(
    kind: str, w0: Tensor, q_inv: Tensor, log_gain: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""RBJ cookbook biquad from unconstrained parameters.

    Args:
        kind: one of :data:`RBJ_KINDS`.
        w0: pre-sigmoid cutoff/centre, any shape ``S``.
        q_inv: log inverse quality factor, shape ``S``.
        log_gain: log amplitude ``A`` (``peaking``, ``lowshelf``, ``highshelf`` only), shape ``S``.

    ``q_inv`` and ``log_gain`` are clamped to :data:`Q_INV_MAX` and :data:`LOG_GAIN_MAX`; a
    design whose poles come closer to the unit circle than the stability margin has its poles
    and zeros contracted together (:func:`_contract_to_stable`), so every raw value gives a
    filter no louder than its cookbook design, with finite gradients.

    Returns:
        Normalised, stable ``Bs, As``, each ``(*S, 3)``, float64 (module docstring). Unlike
        the original library the low-pass has its cookbook polarity (DC gain +1, not -1).
    """
    w0, q_inv = to_design_dtype(w0, q_inv)
    log_gain = None if log_gain is None else log_gain.to(w0.dtype)
    omega = omega_from_w0(w0)
    cos, sin = torch.cos(omega), torch.sin(omega)
    alpha = sin * inv_q_from_q_inv(q_inv.clamp(-Q_INV_MAX, Q_INV_MAX)) / 2
    one = torch.ones_like(cos)
    if kind in ("peaking", "lowshelf", "highshelf"):
        if log_gain is None:
            raise ConfigError(f"rbj_biquad: kind {kind!r} needs log_gain")
        amp = amplitude_from_log_gain(log_gain.clamp(-LOG_GAIN_MAX, LOG_GAIN_MAX))
    if kind == "lowpass":
        b = [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "bandpass":
        b = [alpha, torch.zeros_like(alpha), -alpha]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "bandreject":
        b = [one, -2 * cos, one]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "allpass":
        b = [1 - alpha, -2 * cos, 1 + alpha]
        a = [1 + alpha, -2 * cos, 1 - alpha]
    elif kind == "peaking":
        b = [1 + alpha * amp, -2 * cos, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        sign = 1 if kind == "lowshelf" else -1
        root = 2 * torch.sqrt(amp) * alpha
        plus, minus = amp + 1, amp - 1
        b = [
            amp * (plus - sign * minus * cos + root),
            sign * 2 * amp * (minus - sign * plus * cos),
            amp * (plus - sign * minus * cos - root),
        ]
        a = [
            plus + sign * minus * cos + root,
            -sign * 2 * (minus + sign * plus * cos),
            plus + sign * minus * cos - root,
        ]
    else:
        raise ConfigError(f"rbj_biquad: unknown kind {kind!r}; use one of {RBJ_KINDS}")
    return normalized_stable_biquad(*_contract_to_stable(torch.stack(b, -1), torch.stack(a, -1)))


def _contract_to_stable(b: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    r"""Move the poles *and zeros* of ``b / a (..., 3)`` towards the origin by one factor.

    Where the largest pole radius :math:`r` exceeds :math:`\rho = 1 - \delta`
    (:data:`~grafx.processors.core.iir.STABILITY_MARGIN`), both polynomials are evaluated at
    :math:`z/c` with :math:`c = \rho / r` (:math:`b_i \to b_i c^i`, :math:`a_i \to a_i c^i`):
    the response becomes :math:`H(z/c)`, the cookbook response on a circle of radius
    :math:`1/c > 1`, which the maximum modulus principle bounds by its peak on the unit circle.
    Clamping the denominator alone (as :func:`normalized_stable_biquad` does) would break the
    near cancellation of a cookbook pole-zero pair and amplify by up to 1e27. Elsewhere
    :math:`c = 1` and the coefficients are unchanged bit for bit. The factor is not
    differentiated.
    """
    with torch.no_grad():
        radius = pole_radius(a)
        factor = torch.where(
            radius > 1 - STABILITY_MARGIN,
            (1 - STABILITY_MARGIN) / radius.clamp_min(1 - STABILITY_MARGIN),
            torch.ones_like(radius),
        )
        powers = factor[..., None] ** torch.arange(3, dtype=a.dtype, device=a.device)
    return b * powers, a * powers


def biquad_from_raw(
    Bs: Tensor, A1_pre: Tensor, A2_pre: Tensor, A0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""Direct-form biquad from unconstrained coefficients (``BiquadFilter``).

    .. math:: b = B_s + [1, 0, 0], \quad a_1 = 2\tanh\tilde A_1, \quad
              a_2 = \tfrac12\big((2 - |a_1|)\tanh\tilde A_2 + |a_1|\big)

    which spans the stability triangle (then kept strictly inside it). With ``A0`` given, the
    section carries an explicit leading coefficient :math:`a_0 = e^{A_0}` and is normalised by
    it: the filter is :math:`b / (a_0 (1 + a_1 z^{-1} + a_2 z^{-2}))`.

    Args:
        Bs: numerator offsets, ``(..., 3)``.
        A1_pre: ``(...)``.
        A2_pre: ``(...)``.
        A0: optional log leading coefficient, ``(...)``.

    Returns:
        Normalised ``Bs, As``, each ``(..., 3)``, float64.
    """
    Bs, A1_pre, A2_pre = to_design_dtype(Bs, A1_pre, A2_pre)
    A0 = None if A0 is None else A0.to(Bs.dtype)
    identity = torch.zeros_like(Bs)
    identity[..., 0] = 1
    b = Bs + identity
    a1 = 2 * torch.tanh(A1_pre)
    a2 = ((2 - a1.abs()) * torch.tanh(A2_pre) + a1.abs()) / 2
    a1, a2 = stable_biquad_denominator(a1, a2)
    if A0 is not None:
        b = b * torch.exp(-A0)[..., None]
    return b, torch.stack([torch.ones_like(a1), a1, a2], dim=-1)


def _squash_to_disk(points: Tensor) -> tuple[Tensor, Tensor]:
    r"""Map ``(re, im)`` pairs into the open unit disk by :math:`p \tanh(|p|)/|p|`.

    Returns the real part and the squared radius of the result; smooth at :math:`p = 0`
    (the original divided by :math:`|p| + 10^{-5}`, whose gradient at 0 is undefined).
    """
    re, im = points[..., 0], points[..., 1]
    radius_sq = re.square() + im.square()
    tiny = torch.finfo(points.dtype).tiny
    radius = torch.sqrt(radius_sq + tiny)
    factor = torch.tanh(radius) / radius
    return re * factor, radius_sq * factor.square()


def pole_zero_biquad(poles: Tensor, zeros: Tensor) -> tuple[Tensor, Tensor]:
    r"""One biquad per conjugate pole pair and zero pair.

    Poles :math:`p` are squashed into the unit disk, :math:`\tilde p = p\tanh|p|/|p|`, and give
    :math:`a = [1, -2\,\mathrm{Re}\,\tilde p, |\tilde p|^2]` (the original used the *unsquashed*
    radius in :math:`a_2`, which could be unstable); zeros are free:
    :math:`b = [1, -2\,\mathrm{Re}\,q, |q|^2]`.

    Args:
        poles: ``(..., 2)`` real and imaginary parts.
        zeros: ``(..., 2)`` real and imaginary parts.

    Returns:
        ``Bs, As``, each ``(..., 3)``, float64.
    """
    poles, zeros = to_design_dtype(poles, zeros)
    pole_re, pole_radius_sq = _squash_to_disk(poles)
    a1, a2 = stable_biquad_denominator(-2 * pole_re, pole_radius_sq)
    zero_re, zero_im = zeros[..., 0], zeros[..., 1]
    ones = torch.ones_like(zero_re)
    Bs = torch.stack([ones, -2 * zero_re, zero_re.square() + zero_im.square()], dim=-1)
    return Bs, torch.stack([torch.ones_like(a1), a1, a2], dim=-1)


def svf_biquad(
    twoR: Tensor, G: Tensor, c_hp: Tensor, c_bp: Tensor, c_lp: Tensor
) -> tuple[Tensor, Tensor]:
    r"""State-variable filter (bilinear transform) mixing high-, band- and low-pass outputs.

    .. math:: g = \tan\!\big(\tfrac{\pi}{2}\sigma(\tilde G)\big), \quad
              2R = \mathrm{softplus}(\widetilde{2R})/\ln 2 + 0.01

    .. math:: b = [c_{hp} + c_{bp} g + c_{lp} g^2,\ 2 c_{lp} g^2 - 2 c_{hp},\
              c_{hp} - c_{bp} g + c_{lp} g^2], \quad
              a = [1 + g^2 + 2Rg,\ 2g^2 - 2,\ 1 + g^2 - 2Rg]

    Returns:
        Normalised, stable ``Bs, As``, each ``(..., 3)``, float64.
    """
    twoR, G, c_hp, c_bp, c_lp = to_design_dtype(twoR, G, c_hp, c_bp, c_lp)
    g = torch.tan(math.pi / 2 * torch.sigmoid(G))
    two_r = torch.nn.functional.softplus(twoR) / math.log(2) + 0.01
    g2 = g.square()
    b = torch.stack(
        [c_hp + c_bp * g + c_lp * g2, 2 * c_lp * g2 - 2 * c_hp, c_hp - c_bp * g + c_lp * g2], -1
    )
    a = torch.stack([1 + g2 + two_r * g, 2 * g2 - 2, 1 + g2 - two_r * g], -1)
    return normalized_stable_biquad(b, a)
