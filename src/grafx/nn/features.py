r"""Audio features a predictor reads: band levels of the stems and the target, and how each
stem's bands and level sit in the target.

Bands are :data:`NUM_BANDS` log-spaced bands from 40 Hz to ``min(16 kHz, 0.45 f_s)`` of a Hann
STFT of about 46 ms, so the features mean the same at any sample rate. For each stem :math:`k`
and band :math:`b`, the band gain :math:`g_{kb}` solves the least-squares fit of the target's
mid power over time as a sum of the stems' mid powers,
:math:`\min_g \sum_t (P^y_b(t) - \sum_k g_{kb} P^k_b(t))^2` (powers of uncorrelated sources
add), which tells an EQ or a fader what the target did to the stem; the broadband
per-channel gains are :func:`grafx.baseline.least_squares_gain_mix`'s. Levels are in dB / 20.

Example:
    >>> stems = torch.randn(3, 2, 8000, generator=torch.Generator().manual_seed(0))
    >>> s, t = mix_features(stems, stems[0] + 0.5 * stems[1], 16000)
    >>> tuple(s.shape), tuple(t.shape)
    ((3, 68), (34,))
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.baseline import least_squares_gain_mix
from grafx.errors import AudioError

__all__ = ["NUM_BANDS", "STEM_FEATURES", "TARGET_FEATURES", "band_powers", "mix_features"]

#: Number of analysis bands.
NUM_BANDS = 16
#: Size of one stem's feature vector and of the target's.
STEM_FEATURES = 4 * NUM_BANDS + 4
TARGET_FEATURES = 2 * NUM_BANDS + 2

_FLOOR = 1e-10


def _filterbank(num_bins: int, sample_rate: float, dtype, device) -> Tensor:
    top = min(16000.0, 0.45 * sample_rate)
    edges = torch.logspace(math.log10(40.0), math.log10(top), NUM_BANDS + 1, dtype=torch.float64)
    bins = torch.linspace(0, sample_rate / 2, num_bins, dtype=torch.float64)
    weights = ((bins >= edges[:-1, None]) & (bins < edges[1:, None])).double()
    centre = (edges[:-1] * edges[1:]).sqrt()
    nearest = (bins[None] - centre[:, None]).abs().argmin(1)
    weights[torch.arange(NUM_BANDS), nearest] = 1.0  # a band narrower than a bin keeps one
    return weights.to(dtype=dtype, device=device)


def band_powers(signals: Tensor, sample_rate: float) -> Tensor:
    """Mean power per band and frame of the mid and side of stereo signals.

    Args:
        signals: ``(N, 2, L)``.
        sample_rate: in Hz.

    Returns:
        ``(N, 2, NUM_BANDS, T)``: mid then side.
    """
    fft_size = 2 ** max(8, round(math.log2(0.046 * sample_rate)))
    mid_side = torch.stack([signals.sum(1), signals[:, 0] - signals[:, 1]], 1) / 2
    window = torch.hann_window(fft_size, dtype=signals.dtype, device=signals.device)
    flat = mid_side.reshape(-1, mid_side.shape[-1])
    spec = torch.view_as_real(
        torch.stft(flat, fft_size, fft_size // 2, window=window, center=True, return_complex=True)
    )
    spec = spec.square().sum(-1)
    bank = _filterbank(spec.shape[-2], sample_rate, spec.dtype, spec.device)
    bands = torch.einsum("bf,nft->nbt", bank, spec) / bank.sum(1)[:, None]
    return bands.reshape(*mid_side.shape[:2], NUM_BANDS, -1)


def _db(power: Tensor) -> Tensor:
    return 10 * torch.log10(power.clamp_min(_FLOOR)) / 20


def mix_features(stems: Tensor, target: Tensor, sample_rate: float) -> tuple[Tensor, Tensor]:
    """Features of stems in a target mix (no gradient).

    Args:
        stems: ``(K, C, L)``, C = 1 or 2.
        target: ``(C, L)``, the same length.
        sample_rate: in Hz.

    Returns:
        ``(stem_features (K, STEM_FEATURES), target_features (TARGET_FEATURES,))`` float32:
        per stem its mid band levels, side-to-mid band ratios, band gains into the target and
        their level over time (std of the band levels), its broadband gains into the target's
        left and right, and its crest factor and overall level; for the target its mid band
        levels, side-to-mid ratios, crest factor and overall level.

    Raises:
        AudioError: bad shapes or lengths.
    """

    if stems.ndim != 3 or stems.shape[1] not in (1, 2) or stems.shape[0] < 1:
        raise AudioError(f"stems must be (K, C, L) with C = 1 or 2, got {tuple(stems.shape)}")
    if target.ndim != 2 or target.shape[0] not in (1, 2) or target.shape[-1] != stems.shape[-1]:
        raise AudioError(
            f"target must be (C, L) with L = {stems.shape[-1]}, got {tuple(target.shape)}"
        )
    with torch.no_grad():
        x = stems.detach().to("cpu", torch.float64).expand(-1, 2, -1)
        y = target.detach().to("cpu", torch.float64).expand(2, -1)
        # float32 spectra are plenty for levels; the least squares run in float64
        powers = band_powers(torch.cat([x, y[None]]).float(), sample_rate).double()
        stem_p, target_p = powers[:-1], powers[-1]
        mid_db, side_db = _db(stem_p[:, 0].mean(-1)), _db(stem_p[:, 1].mean(-1))
        design = stem_p[:, 0].permute(1, 2, 0)  # (B, T, K)
        scale = design.abs().amax(dim=(1, 2), keepdim=True).clamp_min(_FLOOR)
        solution = torch.linalg.lstsq(
            design / scale, (target_p[0] / scale[..., 0])[..., None], driver="gelsd"
        ).solution[..., 0]  # (B, K)
        band_gain = _db(solution.T.clamp_min(1e-4)).clamp(-2.0, 2.0)
        motion = (
            (_db(stem_p[:, 0]) - mid_db[..., None]).std(-1) if stem_p.shape[-1] > 1 else 0 * mid_db
        )
        gains = least_squares_gain_mix(x, y).gains.T  # (2, K)
        broadband = (20 * torch.log10(gains.abs().clamp_min(1e-3)) / 20).T
        stem_features = torch.cat(
            [
                mid_db,
                (side_db - mid_db).clamp(-2, 1),
                band_gain,
                motion,
                broadband,
                _crest_and_level(x),
            ],
            dim=1,
        )
        target_features = torch.cat(
            [
                _db(target_p[0].mean(-1)),
                (_db(target_p[1].mean(-1)) - _db(target_p[0].mean(-1))).clamp(-2, 1),
                _crest_and_level(y[None])[0],
            ]
        )
    return stem_features.float(), target_features.float()


def _crest_and_level(signals: Tensor) -> Tensor:
    """``(N, 2)``: peak-to-RMS ratio and RMS level, dB / 20, of ``(N, C, L)``."""
    rms = signals.square().mean(dim=(1, 2)).clamp_min(_FLOOR).sqrt()
    peak = signals.abs().amax(dim=(1, 2)).clamp_min(_FLOOR)
    return torch.stack([torch.log10(peak / rms), torch.log10(rms)], dim=1)
