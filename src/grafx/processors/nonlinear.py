r"""Memoryless distortion processors: tanh, piecewise tanh, power series, Chebyshev series.

Graph nodes around :mod:`grafx.processors.functional.nonlinear`. All are elementwise and
channel-agnostic (any ``C``); gains and hardnesses are natural logs (clamped to +-20,
see :func:`~grafx.processors.functional.nonlinear.gain_from_log_gain`), thresholds sigmoids, weights
tanh'd. They are rate-free (no sample rate): the same curve at any rate (the harmonics they create
alias differently at different rates, as in any memoryless waveshaper).
"""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.functional.nonlinear import (
    chebyshev_series,
    gain_from_log_gain,
    per_node,
    piecewise_tanh_distortion,
    power_series,
    remove_dc,
    tanh_distortion,
)


def threshold_from_z(z_threshold: Tensor) -> Tensor:
    r"""Join threshold :math:`k = \sigma(z)`, in ``(0, 1)``."""
    return torch.sigmoid(z_threshold)


def z_from_threshold(threshold: Tensor) -> Tensor:
    """Inverse of :func:`threshold_from_z`."""
    return torch.logit(threshold)


def basis_weight_from_z(basis_weights: Tensor) -> Tensor:
    r"""Series coefficient :math:`c_k = \tanh(w_k)`, in ``(-1, 1)``."""
    return torch.tanh(basis_weights)


def z_from_basis_weight(coeffs: Tensor) -> Tensor:
    """Inverse of :func:`basis_weight_from_z`."""
    return torch.atanh(coeffs)


def _given(owner: Processor, key: str, value: Tensor | None) -> Tensor:
    """``value``, which this configuration of ``owner`` needs (``parameter_size`` lists it)."""
    if value is None:
        raise ParameterError(f"{type(owner).__name__}: missing parameter {key!r}")
    return value


class _GainStaged(Processor):
    """Shared pre/post gain handling of the tanh-type distortions."""

    def __init__(self, pre_post_gain: bool, inverse_post_gain: bool, remove_dc: bool):
        super().__init__()
        self.pre_post_gain = pre_post_gain
        self.inverse_post_gain = inverse_post_gain
        self.remove_dc = remove_dc

    def gain_sizes(self) -> ParameterSize:
        sizes: ParameterSize = {}
        if self.pre_post_gain:
            sizes["log_pre_gain"] = 1
            if not self.inverse_post_gain:
                sizes["log_post_gain"] = 1
        return sizes

    def pre(self, x: Tensor, log_pre_gain: Tensor | None) -> Tensor:
        if self.remove_dc:
            x = remove_dc(x)
        if self.pre_post_gain:
            x = x * gain_from_log_gain(per_node(_given(self, "log_pre_gain", log_pre_gain)))
        return x

    def post(self, y: Tensor, log_pre_gain: Tensor | None, log_post_gain: Tensor | None) -> Tensor:
        if not self.pre_post_gain:
            return y
        if self.inverse_post_gain:
            log_gain = -_given(self, "log_pre_gain", log_pre_gain)
        else:
            log_gain = _given(self, "log_post_gain", log_post_gain)
        return y * gain_from_log_gain(per_node(log_gain))


class TanhDistortion(_GainStaged):
    r"""Tanh waveshaper with optional bias and pre/post gains.

    .. math:: y = g_\mathrm{post}\big(\tanh(g_\mathrm{pre} u + b)
              - \overline{\tanh(g_\mathrm{pre} u + b)}\big)

    (the bar: each channel's time average, so a bias leaves no DC; the original library
    subtracted :math:`\tanh b`, which leaves DC; see
    :func:`grafx.processors.functional.nonlinear.tanh_distortion`)

    with :math:`g_\mathrm{pre} = e^{\texttt{log\_pre\_gain}}` and :math:`g_\mathrm{post} =
    1/g_\mathrm{pre}` (``inverse_post_gain``) or :math:`e^{\texttt{log\_post\_gain}}`.

    Args:
        pre_post_gain: learn a pre-gain (and a post-gain).
        inverse_post_gain: the post-gain is the inverse of the pre-gain (small signals pass at
            unit gain).
        remove_dc: subtract each channel's mean before shaping.
        use_bias: learn a bias ``bias`` (an asymmetric curve; the output's DC is removed).
    """

    def __init__(
        self,
        pre_post_gain: bool = True,
        inverse_post_gain: bool = True,
        remove_dc: bool = False,
        use_bias: bool = False,
    ):
        super().__init__(pre_post_gain, inverse_post_gain, remove_dc)
        self.use_bias = use_bias

    def forward(
        self,
        input_signals: Tensor,
        log_pre_gain: Tensor | None = None,
        log_post_gain: Tensor | None = None,
        bias: Tensor | None = None,
    ) -> Tensor:
        """Distort ``(B, C, L)`` audio; parameters ``(B, 1)`` each."""
        u = self.pre(input_signals, log_pre_gain)
        y = tanh_distortion(u, bias if self.use_bias else None)
        return self.post(y, log_pre_gain, log_post_gain)

    def parameter_size(self) -> ParameterSize:
        sizes = self.gain_sizes()
        if self.use_bias:
            sizes["bias"] = 1
        return sizes


class PiecewiseTanhDistortion(_GainStaged):
    r"""Tanh with learnable, asymmetric soft-clipping shoulders, C1-continuous at the joins.

    See :func:`grafx.processors.functional.nonlinear.piecewise_tanh_distortion`. Thresholds
    :math:`k = \sigma(z)` and hardnesses :math:`h = e^{\texttt{log\_hardness}}`; index 0 of both
    ``log_hardness`` and ``z_threshold`` is the positive side, index 1 the negative side.

    Deviations from the original, which is wrong here: the join coefficient is
    :math:`(1 - \tanh^2 k)/h` (the original's :math:`(1 - \tanh k)/h` breaks slope continuity),
    and both parameters use the same side ordering.

    Args:
        pre_post_gain, inverse_post_gain, remove_dc: as in :class:`TanhDistortion`.
    """

    def __init__(
        self, pre_post_gain: bool = True, inverse_post_gain: bool = True, remove_dc: bool = False
    ):
        super().__init__(pre_post_gain, inverse_post_gain, remove_dc)

    def forward(
        self,
        input_signals: Tensor,
        log_hardness: Tensor,
        z_threshold: Tensor,
        log_pre_gain: Tensor | None = None,
        log_post_gain: Tensor | None = None,
    ) -> Tensor:
        """Distort ``(B, C, L)`` audio; ``log_hardness``, ``z_threshold``: ``(B, 2)``."""
        u = self.pre(input_signals, log_pre_gain)
        y = piecewise_tanh_distortion(
            u, gain_from_log_gain(log_hardness), threshold_from_z(z_threshold)
        )
        return self.post(y, log_pre_gain, log_post_gain)

    def parameter_size(self) -> ParameterSize:
        return {"log_hardness": 2, "z_threshold": 2, **self.gain_sizes()}


class _SeriesDistortion(Processor):
    _basis = "power"

    def __init__(
        self,
        max_order: int = 10,
        pre_gain: bool = True,
        remove_dc: bool = False,
        use_tanh: bool = False,
    ):
        super().__init__()
        if int(max_order) < 1:
            raise ConfigError(f"{type(self).__name__}: max_order must be >= 1, got {max_order}")
        self.max_order = int(max_order)
        self.pre_gain = pre_gain
        self.remove_dc = remove_dc
        self.use_tanh = use_tanh

    def forward(
        self,
        input_signals: Tensor,
        basis_weights: Tensor,
        log_pre_gain: Tensor | None = None,
    ) -> Tensor:
        """Distort ``(B, C, L)`` audio; ``basis_weights (B, K)``, ``log_pre_gain (B, 1)``."""
        u = remove_dc(input_signals) if self.remove_dc else input_signals
        if self.pre_gain:
            u = u * gain_from_log_gain(per_node(_given(self, "log_pre_gain", log_pre_gain)))
        coeffs = basis_weight_from_z(basis_weights)
        series = power_series if self._basis == "power" else chebyshev_series
        return series(u, coeffs, self.use_tanh)

    def parameter_size(self) -> ParameterSize:
        sizes: ParameterSize = {"basis_weights": self.max_order}
        if self.pre_gain:
            sizes["log_pre_gain"] = 1
        return sizes


class PowerDistortion(_SeriesDistortion):
    r"""Polynomial waveshaper :math:`y = \sum_{k=1}^{K} \tanh(w_{k-1})\, (g u)^k`.

    ``basis_weights[k]`` weights the power ``k + 1``, ``K = max_order``. With ``use_tanh`` each
    term is :math:`\tanh(w)\tanh((gu)^k)`. Memory does not grow with ``K`` (no ``(K, B, C, L)``
    tensor is kept).

    Deviation: the original summed powers ``0..K-1``, so weight 0 added a constant (DC) offset
    that does not depend on the input at all; grafx uses powers ``1..K``, so a zero input gives
    a zero output and every weight shapes the signal. Zero weights give silence (as in the
    original); set ``basis_weights[0] > 0`` for a linear part.

    Args:
        max_order: the highest power ``K`` (the number of weights).
        pre_gain: learn a pre-gain :math:`g = e^{\texttt{log\_pre\_gain}}`.
        remove_dc: subtract each channel's mean before shaping.
        use_tanh: squash each term by tanh.
    """

    _basis = "power"


class ChebyshevDistortion(_SeriesDistortion):
    r"""Chebyshev waveshaper :math:`y = \sum_{k=1}^{K} \tanh(w_{k-1})\, T_k(g u)`.

    :math:`T_k(\cos\theta) = \cos k\theta`, so weight ``k - 1`` sets the ``k``-th harmonic of a
    full-scale sinusoid. Same options and orders as :class:`PowerDistortion` (orders ``1..K``;
    the original's :math:`T_0` was a constant offset). The original's backward failed with an
    in-place autograd error and built a ``(K, B, C, L)`` tensor in the default dtype; this one
    has an exact backward, memory independent of ``K``, and the input's dtype.
    """

    _basis = "chebyshev"
