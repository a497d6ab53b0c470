r"""A look-ahead peak limiter as a pure function.

With the stereo-linked peak :math:`p[n] = \max_c |x_c[n]|`, ceiling :math:`T` and look-ahead
:math:`D` samples, the gain needed at each sample, its minimum over :math:`D` samples, and that
minimum averaged over :math:`D` samples are

.. math::
    g[n] = \min\!\big(1, T / p[n]\big), \quad
    h[n] = \min_{0 \le j < D} g[n - j], \quad
    s[n] = \frac{1}{D} \sum_{0 \le j < D} h[n - j],

and the output is the input delayed by :math:`D - 1` samples times :math:`s`:
:math:`y_c[n] = s[n]\, x_c[n - D + 1]`. Every :math:`h` in the average covers the sample
being output, so :math:`s[n] \le g[n - D + 1]` and :math:`|y| \le T` always (a brick-wall
ceiling with no overshoot), while the gain moves in straight ramps of :math:`D` samples
(attack and release both :math:`D` samples). A signal below the ceiling is only delayed.
The gain is computed as :math:`\exp(\min(0, \ln T - \ln \max(p, 10^{-6} T)))`, finite at
silence and for any :math:`T`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Bound on ``log_threshold`` (:math:`\pm` 174 dB): beyond it :math:`e^{v}` leaves float32.
LOG_THRESHOLD_MAX = 20.0


def threshold_from_log_threshold(log_threshold: Tensor) -> Tensor:
    r"""Amplitude ceiling :math:`T = e^{v}` (``0`` is 0 dBFS), :math:`v` clamped to
    :math:`\pm` :data:`LOG_THRESHOLD_MAX`."""
    return torch.exp(log_threshold.clamp(-LOG_THRESHOLD_MAX, LOG_THRESHOLD_MAX))


def log_threshold_from_threshold(threshold: Tensor) -> Tensor:
    """Inverse of :func:`threshold_from_log_threshold`."""
    return torch.log(threshold)


def limiter_gain(input_signals: Tensor, threshold: Tensor, lookahead_len: int) -> Tensor:
    """The smoothed gain :math:`s[n]`, ``(B, L)``, for ``(B, C, L)`` audio and ``(B, 1)`` ceilings."""
    peak = input_signals.abs().amax(-2)
    log_gain = torch.log(threshold) - torch.log(torch.maximum(peak, 1e-6 * threshold))
    gain = torch.exp(torch.clamp(log_gain, max=0.0))
    D = lookahead_len
    padded = F.pad(gain[:, None], (D - 1, 0), value=1.0)
    held = -F.max_pool1d(-padded, D, stride=1)
    held = F.pad(held, (D - 1, 0), value=1.0)
    return F.avg_pool1d(held, D, stride=1)[:, 0]


def lookahead_limiter(input_signals: Tensor, threshold: Tensor, lookahead_len: int) -> Tensor:
    r"""Limit ``(B, C, L)`` audio to the ceiling ``threshold (B, 1)``; see the module's equation.

    Returns:
        ``(B, C, L)``, delayed by ``lookahead_len - 1`` samples. The product is finally clipped
        to :math:`\pm T`: in exact arithmetic it never leaves that range, and the clip removes
        the rounding of the gain (up to 1.4e-6 relative, +1.2e-5 dB, in float32), so the ceiling
        holds exactly; samples within the ceiling are unchanged.
    """
    gain = limiter_gain(input_signals, threshold, lookahead_len)
    length = input_signals.shape[-1]
    delayed = F.pad(input_signals, (lookahead_len - 1, 0))[..., :length]
    ceiling = threshold[:, :, None].to(input_signals.dtype)
    return torch.clamp(delayed * gain[:, None, :length], -ceiling, ceiling)
