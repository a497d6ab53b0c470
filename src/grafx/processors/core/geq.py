r"""Band filters of a graphic equaliser: fixed-frequency peaking biquads (Liski et al., 2017).

Each band :math:`k` has a centre :math:`\omega_k` and a bandwidth :math:`B_k` (radians) and a
gain :math:`g = e^{\ell}` from its log-gain :math:`\ell`. Following Liski and Välimäki, "The
quest for the best graphic equalizer" (DAFx 2017), the gain at the band edges is
:math:`\tilde g = g^{c}` with :math:`c = 0.4`, which fixes

.. math:: \beta = \tan(B/2) \sqrt{\frac{|1 - \tilde g^2|}{|g^2 - \tilde g^2|}}
          = \tan(B/2) \sqrt{\frac{\sinh(c\ell)}{\sinh((1-c)\ell)}\, e^{-\ell}},

.. math:: b = [1 + g\beta,\ -2\cos\omega_k,\ 1 - g\beta], \quad
          a = [1 + \beta,\ -2\cos\omega_k,\ 1 - \beta].

The second form is evaluated stably for any :math:`\ell` and takes its limit
:math:`\sqrt{c/(1-c)}\tan(B/2)` at :math:`\ell = 0`; the original switched to a plain
:math:`\tan(B/2)` when :math:`|\ell| < 10^{-3}`, a (harmless) jump in the bandwidth.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError
from grafx.processors.core.iir import normalized_stable_biquad
from grafx.processors.core.utils import to_design_dtype

#: Centres and bandwidths (Hz) of the 24 critical bands of the Bark scale.
BARK_CENTERS = (
    50, 150, 250, 350, 450, 570, 700, 840, 1000, 1170, 1370, 1600,
    1850, 2150, 2500, 2900, 3400, 4000, 4800, 5800, 7000, 8500, 10500, 13500,
)  # fmt: skip
BARK_BANDWIDTHS = (
    100, 100, 100, 100, 110, 120, 140, 150, 160, 190, 210, 240,
    280, 320, 380, 450, 550, 700, 900, 1100, 1300, 1800, 2500, 3500,
)  # fmt: skip

GEQ_SCALES = ("bark", "third_octave")

#: Edge-gain exponent :math:`c` of the band design.
NEIGHBOR_GAIN_EXPONENT = 0.4


def geq_band_frequencies(scale: str = "bark", sr: float = 44100) -> tuple[Tensor, Tensor]:
    """Centres and bandwidths in Hz (float64) of the bands below Nyquist.

    ``"bark"``: the 24 critical bands (50 Hz to 13.5 kHz). ``"third_octave"``: 31 bands centred
    at :math:`1000 \\cdot 2^{k/3}`, :math:`k = -17 .. 13` (19.69 Hz to 20.16 kHz), bandwidth
    :math:`f_c (2^{1/6} - 2^{-1/6})`. Bands with :math:`f_c \\ge sr/2` are dropped.
    """
    if scale == "bark":
        centers = torch.tensor(BARK_CENTERS, dtype=torch.float64)
        widths = torch.tensor(BARK_BANDWIDTHS, dtype=torch.float64)
    elif scale in ("third_octave", "third_oct"):
        centers = 1000.0 * 2.0 ** (torch.arange(-17, 14, dtype=torch.float64) / 3)
        widths = centers * (2 ** (1 / 6) - 2 ** (-1 / 6))
    else:
        raise ConfigError(f"GraphicEqualizer: unknown scale {scale!r}; use one of {GEQ_SCALES}")
    keep = centers < sr / 2
    return centers[keep], widths[keep]


def _sinh_ratio(x: Tensor, c: float) -> Tensor:
    r""":math:`\sinh(c|x|)/\sinh((1-c)|x|)`, overflow-free, with its limit :math:`c/(1-c)` at 0."""
    ax = x.abs()
    small = ax < 1e-6
    safe = torch.where(small, torch.ones_like(ax), ax)
    ratio = (
        torch.exp((2 * c - 1) * safe)
        * torch.expm1(-2 * c * safe)
        / torch.expm1(-2 * (1 - c) * safe)
    )
    return torch.where(small, torch.full_like(ax, c / (1 - c)), ratio)


def geq_biquad_coefficients(
    log_gains: Tensor, omegas: Tensor, bandwidths: Tensor, c: float = NEIGHBOR_GAIN_EXPONENT
) -> tuple[Tensor, Tensor]:
    """Peaking-band coefficients (module docstring).

    Args:
        log_gains: natural-log peak gains, ``(..., K)``.
        omegas: centres in radians per sample, ``(K,)``.
        bandwidths: bandwidths in radians per sample, ``(K,)``.
        c: edge-gain exponent.

    Returns:
        Normalised, stable ``Bs, As``, each ``(..., K, 3)``, float64 whatever the dtype of
        ``log_gains`` (see :func:`grafx.processors.core.utils.design_dtype`).
    """
    (log_gains,) = to_design_dtype(log_gains)
    omegas = omegas.to(log_gains)
    bandwidths = bandwidths.to(log_gains)
    gain = torch.exp(log_gains)
    # |1 - g~^2| / |g^2 - g~^2| = sinh(c l) / sinh((1 - c) l) * exp(-l) for both signs of l.
    beta = torch.tan(bandwidths / 2) * torch.sqrt(_sinh_ratio(log_gains, c) * torch.exp(-log_gains))
    cos = -2 * torch.cos(omegas).expand_as(gain)
    one = torch.ones_like(gain)
    Bs = torch.stack([one + gain * beta, cos, one - gain * beta], dim=-1)
    As = torch.stack([one + beta, cos, one - beta], dim=-1)
    return normalized_stable_biquad(Bs, As)


class GraphicEqualizerBiquad(nn.Module):
    """Fixed-band peaking biquads of a graphic EQ; ``forward(log_gains (..., K)) -> (Bs, As)``.

    Args:
        scale: ``"bark"`` (24 bands) or ``"third_octave"`` (31 bands), truncated below Nyquist.
        sr: sample rate in Hz.
    """

    def __init__(self, scale: str = "bark", sr: float = 44100):
        super().__init__()
        centers, widths = geq_band_frequencies(scale, sr)
        self.scale = scale
        self.sr = sr
        self.num_bands = len(centers)
        self.register_buffer("center_frequencies", centers, persistent=False)
        self.register_buffer("omegas", 2 * math.pi * centers / sr, persistent=False)
        self.register_buffer("bandwidths", 2 * math.pi * widths / sr, persistent=False)

    def forward(self, log_gains: Tensor) -> tuple[Tensor, Tensor]:
        """``log_gains (..., K)`` to ``Bs, As (..., K, 3)``."""
        return geq_biquad_coefficients(log_gains, self.omegas, self.bandwidths)
