r"""Triangular filter bank between FFT bins and perceptual bands (Bark, mel, log, linear).

Differences from the original library, on purpose:

* ``f_max=None`` means the Nyquist frequency ``sr / 2`` (the original raised ``TypeError``).
* With ``low_half_triangle=True`` the first band is a low half triangle: 1 up to the first
  edge, falling to 0 at the first triangle's peak, and 0 above. The original computed it as
  ``1 - sum(triangles)`` over the whole spectrum, so the lowest band also covered the top of
  the spectrum (above the last peak, including everything above ``f_max``). Here that top
  region belongs to the *last* band, which stays at 1 above its peak (a high half triangle),
  so the bands still sum to one at every bin and a flat band response is a flat spectrum.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.scale import SCALES, from_scale, to_scale

#: Sample rate of the filter bank when none is given.
DEFAULT_FILTERBANK_SR = 44100


def triangular_filterbank_matrix(
    num_frequency_bins: int,
    num_filters: int = 50,
    scale: str = "bark_traunmuller",
    f_min: float = 40.0,
    f_max: float | None = None,
    sr: float = DEFAULT_FILTERBANK_SR,
    low_half_triangle: bool = True,
    bin_spacing: float | None = None,
) -> Tensor:
    r"""Band weights ``W`` of shape ``(F, K)`` (float64), bins ``f_i = i \cdot \Delta``.

    :math:`\Delta` is ``bin_spacing``, by default :math:`(sr/2)/(F-1)` (the bins of an
    even-length ``n_fft = 2F - 2`` FFT, DC to Nyquist); a zero-phase FIR of ``2F - 1`` taps
    passes :math:`sr/(2F - 1)` (see :mod:`grafx.processors.core.fir`).

    Band edges are evenly spaced on ``scale`` between ``f_min`` and ``f_max``. Without
    ``low_half_triangle`` there are ``K`` full triangles on ``K + 2`` edges. With it, there are
    ``K - 1`` triangles on ``K + 1`` edges ``p_0 .. p_K``; band 0 is the half triangle that is 1
    up to ``p_0`` and falls to 0 at ``p_1``, and the last band stays at 1 above its peak
    ``p_{K-1}``, so the bands sum to one at every bin.

    Args:
        num_frequency_bins: number of FFT bins ``F`` (``n_fft // 2 + 1``).
        num_filters: number of bands ``K``.
        scale: one of :data:`grafx.processors.core.scale.SCALES`.
        f_min: lowest edge in Hz.
        f_max: highest edge in Hz; ``None`` means ``sr / 2``. Values above ``sr / 2`` are
            clipped with a warning.
        sr: sample rate in Hz.
        low_half_triangle: make band 0 a low half triangle (a low shelf) as described above.
        bin_spacing: Hz between bins (see above).

    Returns:
        The weights, ``(F, K)``.
    """
    if scale not in SCALES:
        raise ConfigError(f"TriangularFilterBank: unknown scale {scale!r}; use one of {SCALES}")
    if num_frequency_bins < 2 or num_filters < 1:
        raise ConfigError(
            "TriangularFilterBank: need num_frequency_bins >= 2 and num_filters >= 1, got "
            f"{num_frequency_bins} and {num_filters}"
        )
    nyquist = sr / 2
    if f_max is None:
        f_max = nyquist
    if f_max > nyquist:
        warnings.warn(
            f"TriangularFilterBank: f_max={f_max} is above sr/2={nyquist}; using {nyquist}",
            stacklevel=2,
        )
        f_max = nyquist
    if not 0 <= f_min < f_max or (scale == "log" and f_min <= 0):
        raise ConfigError(
            f"TriangularFilterBank: need 0 <= f_min < f_max (f_min > 0 for 'log'), "
            f"got f_min={f_min}, f_max={f_max}"
        )
    spacing = nyquist / (num_frequency_bins - 1) if bin_spacing is None else bin_spacing
    bins = torch.arange(num_frequency_bins, dtype=torch.float64) * spacing
    num_triangles = num_filters - 1 if low_half_triangle else num_filters
    edges_on_scale = torch.linspace(
        float(to_scale(float(f_min), scale)),
        float(to_scale(float(f_max), scale)),
        num_triangles + 2,
        dtype=torch.float64,
    )
    edges = from_scale(edges_on_scale, scale)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    f = bins[:, None]
    rising = (f - lower) / (centre - lower)
    falling = (upper - f) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if low_half_triangle:
        if num_triangles == 0:
            low = torch.ones_like(bins)
        else:
            low = torch.where(bins < edges[1], 1.0 - triangles[:, 0], torch.zeros_like(bins))
            last = torch.where(bins >= edges[-2], torch.ones_like(bins), triangles[:, -1])
            triangles = torch.cat([triangles[:, :-1], last[:, None]], dim=-1)
        triangles = torch.cat([low[:, None], triangles], dim=-1)
    empty = (triangles.sum(0) == 0).nonzero().flatten().tolist()
    if empty:
        warnings.warn(
            f"TriangularFilterBank: bands {empty} cover no frequency bin; use more bins or "
            "fewer filters",
            stacklevel=2,
        )
    return triangles


class TriangularFilterBank(nn.Module):
    r"""Map band energies to bin energies (synthesis) or bins to bands (analysis).

    See :func:`triangular_filterbank_matrix` for the arguments and the band layout.
    ``forward(energy, mode="synthesis")`` computes ``energy (..., K) @ W^T -> (..., F)``;
    ``mode="analysis"`` computes ``energy (..., F) @ W_n -> (..., K)``, where ``W_n`` is ``W``
    with each column divided by its sum (a weighted average of the bins in each band).
    """

    synthesis_weights: Tensor
    analysis_weights: Tensor

    #: The original's static constructor of the weights ``(F, K)``, same arguments.
    compute_matrix = staticmethod(triangular_filterbank_matrix)

    def __init__(
        self,
        num_frequency_bins: int,
        num_filters: int = 50,
        scale: str = "bark_traunmuller",
        f_min: float = 40.0,
        f_max: float | None = None,
        sr: float = DEFAULT_FILTERBANK_SR,
        low_half_triangle: bool = True,
        bin_spacing: float | None = None,
    ):
        super().__init__()
        self.num_frequency_bins = num_frequency_bins
        self.num_filters = num_filters
        weights = triangular_filterbank_matrix(
            num_frequency_bins, num_filters, scale, f_min, f_max, sr, low_half_triangle, bin_spacing
        )
        column_sums = weights.sum(0, keepdim=True)
        normalized = weights / torch.where(
            column_sums > 0, column_sums, torch.ones_like(column_sums)
        )
        self.register_buffer("synthesis_weights", weights, persistent=False)
        self.register_buffer("analysis_weights", normalized, persistent=False)

    def _matrix(self, mode: str, like: Tensor) -> Tensor:
        if mode not in ("synthesis", "analysis"):
            raise ParameterError(
                f"TriangularFilterBank: unknown mode {mode!r}; use 'synthesis' or 'analysis'"
            )
        weights = self.synthesis_weights if mode == "synthesis" else self.analysis_weights
        return weights.to(dtype=like.dtype, device=like.device)

    def forward(self, energy: Tensor, mode: str = "synthesis") -> Tensor:
        """Apply the bank over the last dimension of ``energy``; see the class docstring."""
        weights = self._matrix(mode, energy)
        if mode == "synthesis":
            if energy.shape[-1] != self.num_filters:
                raise ParameterError(
                    f"TriangularFilterBank: synthesis expects {self.num_filters} bands in the "
                    f"last dim, got shape {tuple(energy.shape)}"
                )
            return energy @ weights.T
        if energy.shape[-1] != self.num_frequency_bins:
            raise ParameterError(
                f"TriangularFilterBank: analysis expects {self.num_frequency_bins} bins in the "
                f"last dim, got shape {tuple(energy.shape)}"
            )
        return energy @ weights
