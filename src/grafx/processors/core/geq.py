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

Band interaction (:class:`GraphicEqualizerBiquad` with ``gain_correction=True``, the default).
Neighbouring bands overlap, so the cascade's log-magnitude at a centre is not that band's gain
(all bands at +6 dB gave +8.7 dB). As in Välimäki and Liski, "Accurate cascade graphic
equalizer" (IEEE SPL 2017) and the paper above, the log-magnitude of the cascade is nearly
linear in the band log-gains, :math:`r \approx M g` with the interaction matrix
:math:`M_{mk}` = log-magnitude of band :math:`k` alone at centre :math:`m` per unit of its
log-gain (measured at a prototype gain of +12 dB). Given target log-gains :math:`t` at the
centres, the band gains are :math:`g_0 = M^{-1} t` refined by two steps of
:math:`g_{i+1} = g_i + \tanh(M^{-1}(t - r(g_i)))` with the exact response :math:`r` (the
:math:`\tanh` only bounds steps at absurd settings, beyond +-50 dB; the papers solve
least squares over centres and midpoints; the centres alone are well conditioned here,
:math:`\kappa(M) \approx 2`, and the refinement removes the nonlinearity). Everything is
differentiable. Targets are held within +-24 dB (:data:`MAX_TARGET_GAIN_DB`): the
correction diverges beyond about +-30 dB. Within +-12 dB every centre is within 0.01 dB of its
target, against ``scipy.signal.sosfreqz`` (tested in ``tests/processors/test_eq.py::
test_graphic_eq_hits_its_gains_at_the_band_centres``); uncorrected, the centres of third-octave
or Bark bands miss their gains by up to about 6 dB.
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
#: Log-gain (+12 dB) at which the band-interaction matrix is measured.
PROTOTYPE_LOG_GAIN = 12 * math.log(10) / 20
#: Refinement steps of the interaction correction after the linear solve.
CORRECTION_STEPS = 2
#: Largest cascade gain (dB, either sign) the correction is asked for: targets beyond it are
#: clamped (zero gradient there). Within it the worst centre error over 200 random settings
#: and alternating +-24 dB is 0.31 dB; beyond it the linearisation fails (0.77 dB at +-30 dB,
#: 38 dB at +-40 dB in third octaves).
MAX_TARGET_GAIN_DB = 24.0
#: Largest band gain (dB, either sign) of :func:`geq_biquad_coefficients`: a bound no corrected
#: band comes near, that keeps :math:`e^{\ell}` and the design finite for any raw value.
MAX_BAND_GAIN_DB = 120.0


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
    r"""Peaking-band coefficients (module docstring).

    Args:
        log_gains: natural-log peak gains, ``(..., K)``, clamped to
            :math:`\pm` :data:`MAX_BAND_GAIN_DB`.
        omegas: centres in radians per sample, ``(K,)``.
        bandwidths: bandwidths in radians per sample, ``(K,)``.
        c: edge-gain exponent.

    Returns:
        Normalised, stable ``Bs, As``, each ``(..., K, 3)``, float64 whatever the dtype of
        ``log_gains`` (see :func:`grafx.processors.core.utils.design_dtype`).
    """
    (log_gains,) = to_design_dtype(log_gains)
    bound = MAX_BAND_GAIN_DB * math.log(10) / 20
    log_gains = log_gains.clamp(-bound, bound)
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


def biquad_log_magnitude(Bs: Tensor, As: Tensor, omegas: Tensor) -> Tensor:
    r"""Natural-log magnitude :math:`\ln|B(e^{j\omega})/A(e^{j\omega})|` of each biquad.

    Real arithmetic only (no complex dtype), so it runs and differentiates on any device.

    Args:
        Bs, As: ``(..., K, 3)``.
        omegas: frequencies in radians per sample, ``(M,)``.

    Returns:
        ``(..., M, K)``.
    """
    taps = torch.arange(3, dtype=omegas.dtype, device=omegas.device)
    phase = omegas[:, None] * taps  # (M, 3)
    cos, sin = torch.cos(phase).to(Bs), torch.sin(phase).to(Bs)

    def log_abs(c: Tensor) -> Tensor:
        c = c[..., None, :, :]  # (..., 1, K, 3)
        real = (c * cos[:, None, :]).sum(-1)
        imag = (c * sin[:, None, :]).sum(-1)
        return 0.5 * torch.log(real.square() + imag.square())

    return log_abs(Bs) - log_abs(As)


def interaction_matrix(
    omegas: Tensor, bandwidths: Tensor, prototype_log_gain: float = PROTOTYPE_LOG_GAIN
) -> Tensor:
    """The band-interaction matrix ``M (K, K)`` of the module docstring, float64.

    ``M[m, k]``: log-magnitude of band ``k`` alone, designed at ``prototype_log_gain``, at the
    centre ``omegas[m]``, divided by ``prototype_log_gain``.
    """
    num_bands = len(omegas)
    gains = torch.eye(num_bands, dtype=torch.float64) * prototype_log_gain
    Bs, As = geq_biquad_coefficients(gains, omegas.double(), bandwidths.double())  # (K, K, 3)
    response = biquad_log_magnitude(Bs, As, omegas.double())  # (K_design, M, K_band)
    return torch.diagonal(response, dim1=0, dim2=2) / prototype_log_gain  # [m, k]


class GraphicEqualizerBiquad(nn.Module):
    """Fixed-band peaking biquads of a graphic EQ; ``forward(log_gains (..., K)) -> (Bs, As)``.

    Args:
        scale: ``"bark"`` (24 bands) or ``"third_octave"`` (31 bands), truncated below Nyquist.
        sr: sample rate in Hz.
        gain_correction: ``log_gains`` are the cascade's log-magnitudes at the band centres,
            reached by the interaction correction of the module docstring (default). False:
            they are the individual bands' gains, uncompensated, as in the original.
    """

    center_frequencies: Tensor
    omegas: Tensor
    bandwidths: Tensor
    inverse_interaction: Tensor | None  # None without bands

    def __init__(self, scale: str = "bark", sr: float = 44100, gain_correction: bool = True):
        super().__init__()
        centers, widths = geq_band_frequencies(scale, sr)
        self.scale = scale
        self.sr = sr
        self.gain_correction = bool(gain_correction)
        self.num_bands = len(centers)
        omegas, bandwidths = 2 * math.pi * centers / sr, 2 * math.pi * widths / sr
        self.register_buffer("center_frequencies", centers, persistent=False)
        self.register_buffer("omegas", omegas, persistent=False)
        self.register_buffer("bandwidths", bandwidths, persistent=False)
        inverse = (
            torch.linalg.inv(interaction_matrix(omegas, bandwidths)) if self.num_bands else None
        )
        self.register_buffer("inverse_interaction", inverse, persistent=False)

    def band_log_gains(self, log_gains: Tensor) -> Tensor:
        r"""Band gains that put the cascade at ``log_gains (..., K)`` at the centres, ``(..., K)``.

        The targets are clamped to :math:`\pm` :data:`MAX_TARGET_GAIN_DB`, where the correction
        is accurate (module docstring)."""
        if self.inverse_interaction is None:  # no bands: nothing interacts
            return log_gains
        (target,) = to_design_dtype(log_gains)
        bound = MAX_TARGET_GAIN_DB * math.log(10) / 20
        target = target.clamp(-bound, bound)
        inverse = self.inverse_interaction.to(target)
        gains = target @ inverse.T
        for _ in range(CORRECTION_STEPS):
            Bs, As = geq_biquad_coefficients(gains, self.omegas, self.bandwidths)
            response = biquad_log_magnitude(Bs, As, self.omegas.to(target)).sum(-1)
            # tanh bounds each step by 1 neper (8.7 dB): a no-op within +-12 dB settings, where
            # steps are below 0.05 neper, and it keeps absurd ones (+-170 dB) from diverging.
            gains = gains + torch.tanh((target - response) @ inverse.T)
        return gains

    def forward(self, log_gains: Tensor) -> tuple[Tensor, Tensor]:
        """``log_gains (..., K)`` to ``Bs, As (..., K, 3)``."""
        if self.gain_correction and self.num_bands:
            log_gains = self.band_log_gains(log_gains)
        return geq_biquad_coefficients(log_gains, self.omegas, self.bandwidths)
