r"""Pan laws and a panner as pure functions.

A pan position :math:`p \in [-1, 1]` (left to right) sets the angle
:math:`\theta = \tfrac{\pi}{4}(p + 1)` and the fraction :math:`t = (p + 1)/2`; the left and
right gains of each law are

* ``"constant_power"``: :math:`(\cos\theta, \sin\theta)`, -3 dB each in the centre, constant
  :math:`g_l^2 + g_r^2 = 1`;
* ``"-4.5dB"``: :math:`(\sqrt{(1 - t)\cos\theta}, \sqrt{t \sin\theta})`, the geometric mean of
  the other two, -4.5 dB in the centre;
* ``"linear"``: :math:`(1 - t, t)`, -6 dB in the centre, constant :math:`g_l + g_r = 1`.

With ``normalize_center`` the gains are divided by the law's centre gain (unity in the centre,
as the mixing console's gain/pan node). Gains are computed as logs; :math:`p` is kept
:math:`10^{-6}` inside :math:`\pm 1` so that a hard pan has a tiny gain and finite gradients.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PAN_LAWS = ("constant_power", "-4.5dB", "linear")

#: Natural log of each law's centre gain (left = right).
CENTER_LOG_GAIN = {
    "constant_power": -0.5 * math.log(2.0),
    "-4.5dB": -0.75 * math.log(2.0),
    "linear": -math.log(2.0),
}


def pan_from_z_pan(z_pan: Tensor) -> Tensor:
    r"""Pan position :math:`p = \tanh(z)` in :math:`(-1, 1)`."""
    return torch.tanh(z_pan)


def z_pan_from_pan(pan: Tensor) -> Tensor:
    """Inverse of :func:`pan_from_z_pan` (for ``-1 < pan < 1``)."""
    return torch.atanh(pan)


def pan_law_log_gains(pan: Tensor, law: str = "constant_power") -> Tensor:
    """Natural-log ``(left, right)`` gains, ``(..., 2)``, of a pan law at ``pan (...)``."""
    pan = pan.clamp(-1 + 1e-6, 1 - 1e-6)
    theta = math.pi / 4 * (pan + 1)
    power = torch.stack([torch.log(torch.cos(theta)), torch.log(torch.sin(theta))], -1)
    if law == "constant_power":
        return power
    t = (pan + 1) / 2
    linear = torch.stack([torch.log1p(-t), torch.log(t)], -1)
    if law == "linear":
        return linear
    return 0.5 * (linear + power)  # "-4.5dB"


def panner(
    input_signals: Tensor,
    pan: Tensor,
    log_gain: Tensor,
    law: str = "constant_power",
    normalize_center: bool = False,
) -> Tensor:
    r"""Pan and scale: :math:`y_c = e^{v}\, g_c(p)\, u_c`, :math:`c \in \{l, r\}`.

    Args:
        input_signals: ``(B, C, L)``, ``C`` 1 (broadcast to both sides) or 2 (a balance control).
        pan: :math:`p`, ``(B, 1)``, or ``(B, 1, L)`` per sample (automation).
        log_gain: :math:`v`, ``(B, 1)``, or ``(B, 1, L)`` per sample.
        law: one of :data:`PAN_LAWS`.
        normalize_center: unity gain in the centre.

    Returns:
        Stereo audio, ``(B, 2, L)``.
    """
    law_gains = pan_law_log_gains(pan[:, 0], law)  # (B, 2), or (B, L, 2) per sample
    if law_gains.ndim == 3:
        law_gains = law_gains.transpose(1, 2)
    if law_gains.ndim == 3 or log_gain.ndim == 3:  # automated: (B, 2, L) and (B, 1, L)
        law_gains = law_gains if law_gains.ndim == 3 else law_gains[..., None]
        log_gain = log_gain if log_gain.ndim == 3 else log_gain[..., None]
    log_gains = log_gain + law_gains
    if normalize_center:
        log_gains = log_gains - CENTER_LOG_GAIN[law]
    gains = torch.exp(log_gains)
    return input_signals * (gains if gains.ndim == 3 else gains[..., None])
