r"""Multi-resolution STFT losses for fitting a graph's output to a target mix.

One resolution compares the short-time magnitudes :math:`X` (estimate) and :math:`Y` (target)
with two terms (Arik et al. 2019; Yamamoto et al. 2020):

.. math::
    \mathcal{L}_\mathrm{sc} = \frac{\lVert Y - X \rVert_F}{\lVert Y \rVert_F + \epsilon},
    \qquad
    \mathcal{L}_\mathrm{log} = \operatorname{mean} \lvert \ln Y - \ln X \rvert.

Magnitudes are :math:`\sqrt{\lvert S \rvert^2 + \epsilon}`, so silence gives finite values and
finite gradients. Optional frequency weightings: a triangular mel filterbank (``num_mels``) and
the IEC 61672 A-weighting curve (``a_weighting``), both applied to the magnitudes.
:class:`MultiResolutionSTFTLoss` averages several FFT sizes, and :class:`StereoSTFTLoss` applies
it to left/right and to mid/side with separate weights. :class:`MixLoss` is the mixing-graphs
paper's loss (Lee et al., DAFx 2024): all of these, with the paper's settings.

:class:`BandLoss` is grafx's default objective (:data:`DEFAULT_LOSS`, made by
:func:`make_loss`): log band-power differences in fractional-octave bands, every band weighted
alike, so that a level error in any band from 40 Hz to 16 kHz costs about the same and an
error of the whole mix costs as much as one in every band (see its docstring and the table in
``benchmarks/README.md``). :data:`LOSSES` names both objectives for ``grafx fit --loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from grafx.errors import AudioError, ConfigError

__all__ = [
    "a_weighting_db",
    "mel_filterbank",
    "stft",
    "floored_magnitude",
    "stft_magnitude",
    "spectral_convergence",
    "log_magnitude_distance",
    "STFTLoss",
    "MultiResolutionSTFTLoss",
    "StereoSTFTLoss",
    "MixLoss",
    "BandLoss",
    "LOSSES",
    "DEFAULT_LOSS",
    "make_loss",
    "loss_settings",
    "default_mix_loss",
]


def a_weighting_db(frequencies: Tensor) -> Tensor:
    r"""IEC 61672-1 A-weighting in dB, 0 dB at 1 kHz.

    .. math:: R_A(f) = \frac{12194^2 f^4}{(f^2 + 20.6^2)\sqrt{(f^2 + 107.7^2)(f^2 + 737.9^2)}
              (f^2 + 12194^2)}, \quad A(f) = 20\log_{10} R_A(f) + 2.0

    Args:
        frequencies: frequencies in Hz, any shape.

    Returns:
        Weights in dB, same shape; :math:`-\infty` is avoided by flooring :math:`f` at 1e-3 Hz.
    """
    f2 = frequencies.clamp_min(1e-3) ** 2
    ra = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * torch.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    return 20.0 * torch.log10(ra) + 2.0


def _hz_to_mel(hz: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    num_bins: int,
    num_mels: int,
    sample_rate: float,
    f_min: float = 0.0,
    f_max: float | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Triangular HTK-mel filterbank mapping ``num_bins`` linear bins to ``num_mels`` bands.

    Band :math:`m` rises from mel point :math:`p_{m}` to :math:`p_{m+1}` and falls to
    :math:`p_{m+2}`, where the :math:`M + 2` points are equally spaced in
    :math:`\mathrm{mel}(f) = 2595\log_{10}(1 + f/700)` between ``f_min`` and ``f_max``.

    Args:
        num_bins: linear-frequency bins, :math:`F = n_\mathrm{fft}/2 + 1`, spanning 0 to fs/2.
        num_mels: number of bands :math:`M`.
        sample_rate: sample rate in Hz.
        f_min: lowest band edge in Hz.
        f_max: highest band edge in Hz; ``None`` is fs/2.

    Returns:
        Weights ``(M, F)``; ``weights @ magnitude`` gives band magnitudes.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ConfigError(
            f"mel_filterbank: need 0 <= f_min < f_max <= sample_rate/2, "
            f"got f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}"
        )
    bins = torch.linspace(0, sample_rate / 2, num_bins, dtype=torch.float64)
    mel_lo, mel_hi = _hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    points = _mel_to_hz(torch.linspace(mel_lo, mel_hi, num_mels + 2, dtype=torch.float64))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rise = (bins - lower) / (centre - lower)
    fall = (upper - bins) / (upper - centre)
    weights = torch.minimum(rise, fall).clamp_min(0.0)
    return weights.to(dtype=dtype, device=device)


def stft(
    signals: Tensor, fft_size: int, hop_length: int, win_length: int, window: Tensor | None = None
) -> Tensor:
    r"""Hann-windowed complex STFT, frames centred with zero padding.

    Args:
        signals: audio, ``(..., L)``.
        fft_size: FFT length :math:`N`.
        hop_length: hop between frames.
        win_length: Hann window length (``<= fft_size``; zero-padded to it).
        window: the periodic Hann window of ``win_length`` (built if not given).

    Returns:
        Complex spectra ``(..., N/2 + 1, T)`` with ``T = 1 + L // hop_length``.
    """
    lead = signals.shape[:-1]
    flat = signals.reshape(-1, signals.shape[-1])
    if window is None:
        window = torch.hann_window(win_length, dtype=signals.dtype, device=signals.device)
    spec = torch.stft(
        flat,
        n_fft=fft_size,
        hop_length=hop_length,
        win_length=win_length,
        window=window.to(dtype=signals.dtype, device=signals.device),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def floored_magnitude(spectra: Tensor, eps: float = 1e-8) -> Tensor:
    r""":math:`\sqrt{\lvert S \rvert^2 + \epsilon}` of complex spectra."""
    return torch.sqrt(spectra.real.square() + spectra.imag.square() + eps)


def stft_magnitude(
    signals: Tensor, fft_size: int, hop_length: int, win_length: int, eps: float = 1e-8
) -> Tensor:
    r"""Hann-windowed STFT magnitude :math:`\sqrt{\lvert S \rvert^2 + \epsilon}`.

    Frames are centred with zero padding (so any length works, even shorter than the FFT).

    Args:
        signals: audio, ``(..., L)``.
        fft_size: FFT length :math:`N`.
        hop_length: hop between frames.
        win_length: Hann window length (``<= fft_size``; zero-padded to it).
        eps: added to the power before the square root, for finite gradients on silence.

    Returns:
        Magnitudes ``(..., N/2 + 1, T)`` with ``T = 1 + L // hop_length``.
    """
    return floored_magnitude(stft(signals, fft_size, hop_length, win_length), eps)


def spectral_convergence(estimate_mag: Tensor, target_mag: Tensor, eps: float = 1e-8) -> Tensor:
    r""":math:`\lVert Y - X \rVert_F / (\lVert Y \rVert_F + \epsilon)` over the whole tensor."""
    return torch.linalg.vector_norm(target_mag - estimate_mag) / (
        torch.linalg.vector_norm(target_mag) + eps
    )


def log_magnitude_distance(estimate_mag: Tensor, target_mag: Tensor) -> Tensor:
    r""":math:`\operatorname{mean}\lvert \ln Y - \ln X \rvert` (magnitudes are already floored)."""
    return (torch.log(target_mag) - torch.log(estimate_mag)).abs().mean()


class STFTLoss(nn.Module):
    r"""Spectral convergence plus log-magnitude L1 at one STFT resolution.

    .. math:: \mathcal{L} = w_\mathrm{sc}\mathcal{L}_\mathrm{sc} + w_\mathrm{log}\mathcal{L}_\mathrm{log}

    Args:
        fft_size: FFT length.
        hop_length: hop; ``None`` is ``fft_size // 4``.
        win_length: window length; ``None`` is ``fft_size``.
        w_sc: weight of the spectral convergence term.
        w_log_mag: weight of the log-magnitude term.
        num_mels: if given, compare ``num_mels`` mel-band magnitudes instead of linear bins.
        a_weighting: if True, weight bins by the A-weighting curve (needs ``sample_rate``).
        sample_rate: sample rate in Hz; needed by ``num_mels`` and ``a_weighting``.
        eps: power floor (see :func:`stft_magnitude`) and spectral-convergence guard.
    """

    weights: Tensor | None
    window: Tensor

    def __init__(
        self,
        fft_size: int = 1024,
        hop_length: int | None = None,
        win_length: int | None = None,
        w_sc: float = 1.0,
        w_log_mag: float = 1.0,
        num_mels: int | None = None,
        a_weighting: bool = False,
        sample_rate: float | None = None,
        eps: float = 1e-8,
    ):
        super().__init__()
        win_length = fft_size if win_length is None else win_length
        hop_length = fft_size // 4 if hop_length is None else hop_length
        if fft_size < 2 or not 0 < win_length <= fft_size or hop_length < 1:
            raise ConfigError(
                f"STFTLoss: need fft_size >= 2, 0 < win_length <= fft_size and hop_length >= 1, "
                f"got fft_size={fft_size}, win_length={win_length}, hop_length={hop_length}"
            )
        if (num_mels is not None or a_weighting) and sample_rate is None:
            raise ConfigError("STFTLoss: num_mels and a_weighting need sample_rate")
        rate = 0.0 if sample_rate is None else float(sample_rate)  # used only where given
        self.fft_size, self.hop_length, self.win_length = fft_size, hop_length, win_length
        self.w_sc, self.w_log_mag, self.eps = w_sc, w_log_mag, eps
        num_bins = fft_size // 2 + 1
        weights = torch.eye(num_bins, dtype=torch.float64)
        if a_weighting:
            freqs = torch.linspace(0, rate / 2, num_bins, dtype=torch.float64)
            weights = weights * 10.0 ** (a_weighting_db(freqs) / 20.0)
        if num_mels is not None:
            weights = mel_filterbank(num_bins, num_mels, rate).double() @ weights
        self.register_buffer(
            "weights", weights if (num_mels or a_weighting) else None, persistent=False
        )
        self.register_buffer(
            "window", torch.hann_window(win_length, dtype=torch.float64), persistent=False
        )

    def spectrum(self, signals: Tensor) -> Tensor:
        """Complex STFT ``(..., N/2 + 1, T)`` of audio ``(..., L)`` (linear in the audio)."""
        return stft(signals, self.fft_size, self.hop_length, self.win_length, self.window)

    def weighted_magnitude(self, spectra: Tensor) -> Tensor:
        """Weighted, floored magnitudes ``(..., F', T)`` of complex spectra."""
        mag = floored_magnitude(spectra, self.eps)
        if self.weights is None:
            return mag
        # Floored before and after weighting: finite gradients and a finite log on silence.
        weighted = self.weights.to(mag.dtype) @ mag
        return torch.sqrt(weighted.square() + self.eps)

    def magnitude(self, signals: Tensor) -> Tensor:
        """Weighted magnitudes ``(..., F', T)`` of audio ``(..., L)``."""
        return self.weighted_magnitude(self.spectrum(signals))

    def compare(self, estimate_mag: Tensor, target_mag: Tensor) -> Tensor:
        """The weighted terms between two magnitude tensors; a scalar."""
        loss = estimate_mag.new_zeros(())
        if self.w_sc:
            loss = loss + self.w_sc * spectral_convergence(estimate_mag, target_mag, self.eps)
        if self.w_log_mag:
            loss = loss + self.w_log_mag * log_magnitude_distance(estimate_mag, target_mag)
        return loss

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        """Loss between ``estimate`` and ``target``, both ``(..., L)``; returns a scalar."""
        check_pair(estimate, target, type(self).__name__)
        return self.compare(self.magnitude(estimate), self.magnitude(target))


class MultiResolutionSTFTLoss(nn.Module):
    """Mean of :class:`STFTLoss` over several FFT sizes.

    Args:
        fft_sizes: FFT lengths, one per resolution.
        hop_lengths: hops; ``None`` is a quarter of each FFT size.
        win_lengths: window lengths; ``None`` is each FFT size.
        **kwargs: passed to every :class:`STFTLoss` (weights, ``num_mels``, ``a_weighting``,
            ``sample_rate``, ``eps``).
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_lengths: Sequence[int] | None = None,
        win_lengths: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__()
        hops: list[int | None] = [None] * len(fft_sizes)
        windows: list[int | None] = [None] * len(fft_sizes)
        hops = hops if hop_lengths is None else list(hop_lengths)
        windows = windows if win_lengths is None else list(win_lengths)
        if not len(fft_sizes) == len(hops) == len(windows) > 0:
            raise ConfigError(
                "MultiResolutionSTFTLoss: fft_sizes, hop_lengths and win_lengths need the same "
                f"non-zero length, got {len(fft_sizes)}, {len(hops)}, {len(windows)}"
            )
        self.losses = nn.ModuleList(
            STFTLoss(n, h, w, **kwargs) for n, h, w in zip(fft_sizes, hops, windows, strict=True)
        )

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        """Mean loss over resolutions between ``(..., L)`` tensors; returns a scalar."""
        return sum(loss(estimate, target) for loss in self.losses) / len(self.losses)


class StereoSTFTLoss(nn.Module):
    r"""Multi-resolution STFT loss on left/right and on mid/side, weighted.

    .. math:: \mathcal{L} = w_\mathrm{lr}\mathcal{L}(x_{l,r}, y_{l,r})
              + w_\mathrm{mid}\mathcal{L}(x_m, y_m) + w_\mathrm{side}\mathcal{L}(x_s, y_s),
              \quad m = \tfrac{l + r}{2},\ s = \tfrac{l - r}{2}

    Mono audio (``C = 1``) uses only the first term.

    Args:
        w_lr: weight of the left/right term.
        w_mid: weight of the mid term.
        w_side: weight of the side term.
        **kwargs: passed to :class:`MultiResolutionSTFTLoss`.
    """

    def __init__(self, w_lr: float = 1.0, w_mid: float = 0.5, w_side: float = 0.5, **kwargs):
        super().__init__()
        self.w_lr, self.w_mid, self.w_side = w_lr, w_mid, w_side
        self.loss = MultiResolutionSTFTLoss(**kwargs)

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        """Loss between audio tensors ``(..., C, L)`` with ``C`` in {1, 2}; returns a scalar."""
        name = type(self).__name__
        check_pair(estimate, target, name)
        if estimate.ndim < 2 or estimate.shape[-2] not in (1, 2):
            raise AudioError(
                f"{name}: expected audio (..., C, L) with C = 1 or 2, got {tuple(estimate.shape)}"
            )
        stereo = estimate.shape[-2] == 2
        terms: list[tuple[float, float | None]] = [(self.w_lr, None)]
        if stereo:
            terms += [(w, sign) for w, sign in ((self.w_mid, 1.0), (self.w_side, -1.0)) if w]
        total = estimate.new_zeros(())
        resolutions = cast("list[STFTLoss]", list(self.loss.losses))  # a ModuleList of them
        for resolution in resolutions:
            # The STFT is linear: mid and side spectra are sums of the L/R ones, so each
            # signal is transformed once per resolution.
            est, tgt = resolution.spectrum(estimate), resolution.spectrum(target)
            for weight, sign in terms:
                if sign is None:
                    a, b = est, tgt
                else:
                    a = 0.5 * (est[..., 0, :, :] + sign * est[..., 1, :, :])
                    b = 0.5 * (tgt[..., 0, :, :] + sign * tgt[..., 1, :, :])
                term = resolution.compare(
                    resolution.weighted_magnitude(a), resolution.weighted_magnitude(b)
                )
                total = total + weight * term
        return total / len(self.loss.losses)


class MixLoss(StereoSTFTLoss):
    r"""The mix loss of Lee et al., "Searching for Music Mixing Graphs" (DAFx 2024).

    An A-weighted multi-resolution mel STFT loss: FFT sizes 512, 1024 and 4096 (Hann window of
    the FFT size, hop a quarter of it), 96 HTK-mel bands from 0 Hz to fs/2 over A-weighted
    magnitudes; each resolution is spectral convergence plus log-magnitude L1, the resolutions
    are averaged, and the stereo terms are weighted 0.5 (left/right), 0.25 (mid) and 0.25 (side):

    .. math:: \mathcal{L} = 0.5\,\mathcal{L}(x_{l,r}, y_{l,r}) + 0.25\,\mathcal{L}(x_m, y_m)
              + 0.25\,\mathcal{L}(x_s, y_s)

    Band magnitudes are :math:`\sqrt{(W\lvert S \rvert)^2 + \epsilon}` with
    :math:`W` the mel filterbank times the A-weighting gains, so silence is finite. Spectral
    convergence is taken over the whole batch at once.

    Args:
        sample_rate: sample rate of the audio in Hz (places the mel bands and A-weighting).
        eps: power floor (see :class:`STFTLoss`).

    Example:
        >>> loss = MixLoss(sample_rate=30000)
        >>> x = torch.randn(2, 30000)
        >>> float(loss(x, x))
        0.0
    """

    FFT_SIZES = (512, 1024, 4096)
    NUM_MELS = 96

    def __init__(self, sample_rate: float, eps: float = 1e-8):
        if not sample_rate or sample_rate <= 0:
            raise ConfigError(f"MixLoss: sample_rate must be positive, got {sample_rate!r}")
        super().__init__(
            w_lr=0.5,
            w_mid=0.25,
            w_side=0.25,
            fft_sizes=self.FFT_SIZES,
            num_mels=self.NUM_MELS,
            a_weighting=True,
            sample_rate=float(sample_rate),
            eps=eps,
        )
        self.sample_rate = float(sample_rate)

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        """Loss between stereo audio ``(2, L)`` or ``(B, 2, L)``; returns a scalar."""
        if estimate.ndim not in (2, 3) or estimate.shape[-2] != 2:
            raise AudioError(
                f"MixLoss: expected stereo audio (2, L) or (B, 2, L), got {tuple(estimate.shape)}"
            )
        return super().forward(estimate, target)


def check_pair(estimate: Tensor, target: Tensor, owner: str) -> None:
    """Raise :class:`~grafx.errors.AudioError` unless the two tensors can be compared."""
    if estimate.shape != target.shape:
        raise AudioError(
            f"{owner}: estimate {tuple(estimate.shape)} and target {tuple(target.shape)} "
            "must have the same shape"
        )
    if estimate.shape[-1] < 1:
        raise AudioError(f"{owner}: audio has no samples")


class BandLoss(nn.Module):
    r"""Log band-power distance in fractional-octave bands, every band weighted alike.

    The audio is cut into bands of ``1 / bands_per_octave`` octave, centres
    :math:`1000 \cdot 2^{k/b}` Hz from ``f_min`` up to the last band whose upper edge
    :math:`f_c 2^{1/2b}` is at most the Nyquist frequency. Each band is measured at the
    shortest of the STFT resolutions ``fft_sizes`` (Hann window, hop a quarter) whose bin
    spacing is at most half the band's width (the longest one for bands narrower than that),
    as the power of the frame's spectrum between the band edges, a bin counted by the fraction
    of its width inside the band. With :math:`P_{b,t}` the band power of frame :math:`t` of
    the estimate, :math:`Q_{b,t}` the target's and :math:`\varepsilon` a floor ``floor_db``
    below the target's mean band power,

    .. math:: \mathcal{L}_\mathrm{band} = \frac{1}{B} \sum_b \operatorname{mean}_t
              \tfrac12 \bigl\lvert \ln(P_{b,t} + \varepsilon) - \ln(Q_{b,t} + \varepsilon)
              \bigr\rvert,

    the mean over bands of the mean absolute level difference in nepers (1 dB is 0.115).
    A band's error costs the same wherever the band is, and the same error in every band (a
    level error of the whole mix) costs :math:`B` times as much as in one band. The stereo
    terms are weighted as in :class:`MixLoss`: 0.5 left/right, 0.25 mid, 0.25 side. The side
    term's floor is, per band, ``side_floor_db`` below the target's mean mid power in that band
    (or :math:`\varepsilon` if higher): side content that far below the mid is heard as mono,
    and without that floor the log of a near-silent side makes a source panned to the wrong
    side cost less than one in the centre (a barrier between a pan and its mirror image).

    Args:
        sample_rate: in Hz (places the bands).
        bands_per_octave: band resolution :math:`b` (6: sixth-octave bands).
        f_min: lowest band centre in Hz.
        fft_sizes: STFT resolutions, ascending.
        floor_db: power floor relative to the target's mean band power, in dB.
        w_lr, w_mid, w_side: weights of the stereo terms (mono audio: left/right only).
        side_floor_db: the side term's floor relative to the mid band level, in dB (``None``:
            the same floor as the other terms).

    Example:
        >>> loss = BandLoss(sample_rate=44100)
        >>> x = torch.randn(2, 44100, generator=torch.Generator().manual_seed(0))
        >>> round(float(loss(1.122 * x, x)), 3)  # +1 dB everywhere: about 1 dB in nepers
        0.114
    """

    band_weights: list[Tensor]

    def __init__(
        self,
        sample_rate: float,
        bands_per_octave: int = 6,
        f_min: float = 30.0,
        fft_sizes: Sequence[int] = (1024, 4096, 16384),
        floor_db: float = -80.0,
        w_lr: float = 0.5,
        w_mid: float = 0.25,
        w_side: float = 0.25,
        side_floor_db: float | None = -15.0,
    ):
        super().__init__()
        self.side_floor_db = side_floor_db
        if not (isinstance(sample_rate, (int, float)) and sample_rate > 0):
            raise ConfigError(f"BandLoss: sample_rate must be positive, got {sample_rate!r}")
        if not (isinstance(bands_per_octave, int) and bands_per_octave >= 1):
            raise ConfigError(f"BandLoss: bands_per_octave must be >= 1, got {bands_per_octave!r}")
        sizes = sorted(int(n) for n in fft_sizes)
        if not sizes or sizes[0] < 16:
            raise ConfigError(f"BandLoss: fft_sizes must be >= 16, got {list(fft_sizes)}")
        rate = float(sample_rate)
        half = 2.0 ** (0.5 / bands_per_octave)
        k_lo = math.ceil(bands_per_octave * math.log2(f_min / 1000.0) - 1e-9)
        k_hi = math.floor(bands_per_octave * math.log2(rate / 2 / half / 1000.0) + 1e-9)
        if k_hi < k_lo:
            raise ConfigError(f"BandLoss: no band between {f_min} Hz and {rate / 2} Hz")
        centres = 1000.0 * 2.0 ** (
            torch.arange(k_lo, k_hi + 1, dtype=torch.float64) / bands_per_octave
        )
        lower, upper = centres / half, centres * half
        owner = torch.full_like(centres, len(sizes) - 1, dtype=torch.long)
        for index in reversed(range(len(sizes))):
            owner[(upper - lower) / 2 >= rate / sizes[index]] = index
        self.sample_rate, self.bands_per_octave, self.f_min = rate, bands_per_octave, f_min
        self.fft_sizes, self.floor_db = tuple(sizes), floor_db
        self.w_lr, self.w_mid, self.w_side = w_lr, w_mid, w_side
        self.centres = centres
        self.resolutions: list[int] = []
        self.band_weights = []
        for index, n in enumerate(sizes):
            chosen = owner == index
            if not chosen.any():
                continue
            bins = torch.arange(n // 2 + 1, dtype=torch.float64) * rate / n
            spacing = rate / n
            lo_edge, hi_edge = bins - spacing / 2, bins + spacing / 2
            overlap = torch.minimum(hi_edge, upper[chosen, None]) - torch.maximum(
                lo_edge, lower[chosen, None]
            )
            self.resolutions.append(n)
            self.band_weights.append(overlap.clamp_min(0.0) / spacing)  # (B_r, F)
        self._windows = {n: torch.hann_window(n, dtype=torch.float64) for n in self.resolutions}

    def settings(self) -> dict:
        """Name and settings (JSON-ready), as ``metrics.json`` records them."""
        return {
            "name": "band",
            "class": type(self).__name__,
            "sample_rate": self.sample_rate,
            "bands_per_octave": self.bands_per_octave,
            "f_min": self.f_min,
            "fft_sizes": list(self.fft_sizes),
            "floor_db": self.floor_db,
            "side_floor_db": self.side_floor_db,
            "weights": {"lr": self.w_lr, "mid": self.w_mid, "side": self.w_side},
            "bands": len(self.centres),
        }

    def band_power(self, signals: Tensor) -> list[Tensor]:
        """Band powers of audio ``(..., L)``: one ``(..., B_r, T_r)`` tensor per resolution."""
        out = []
        for n, weights in zip(self.resolutions, self.band_weights, strict=True):
            window = self._windows[n].to(dtype=signals.dtype, device=signals.device)
            spec = stft(signals, n, n // 4, n, window)
            power = (spec.real.square() + spec.imag.square()) / window.square().sum()
            out.append(weights.to(dtype=power.dtype, device=power.device) @ power)
        return out

    def _distance(self, estimate: list[Tensor], target: list[Tensor], floors: list) -> Tensor:
        per_band = [
            0.5
            * (torch.log(p + f) - torch.log(q + f)).abs().mean(-1).reshape(-1, p.shape[-2]).mean(0)
            for p, q, f in zip(estimate, target, floors, strict=True)
        ]
        return torch.cat(per_band).mean()

    def forward(self, estimate: Tensor, target: Tensor) -> Tensor:
        """Loss between audio ``(..., C, L)`` with ``C`` in {1, 2}; returns a scalar."""
        name = type(self).__name__
        check_pair(estimate, target, name)
        if estimate.ndim < 2 or estimate.shape[-2] not in (1, 2):
            raise AudioError(
                f"{name}: expected audio (..., C, L) with C = 1 or 2, got {tuple(estimate.shape)}"
            )
        signals = [("lr", self.w_lr, estimate, target)]
        if estimate.shape[-2] == 2:
            for name, weight, sign in (("mid", self.w_mid, 1.0), ("side", self.w_side, -1.0)):
                if weight or (name == "mid" and self.w_side and self.side_floor_db is not None):
                    x = 0.5 * (estimate[..., 0, :] + sign * estimate[..., 1, :])
                    y = 0.5 * (target[..., 0, :] + sign * target[..., 1, :])
                    signals.append((name, weight, x, y))
        target_power = self.band_power(target.detach())
        mean_power = torch.cat([p.mean(-1).reshape(-1) for p in target_power]).mean()
        floor = (mean_power * 10.0 ** (self.floor_db / 10.0)).clamp_min(1e-30)
        plain = [floor] * len(self.resolutions)
        side_floors = plain
        total = estimate.new_zeros(())
        for name, weight, x, y in signals:
            y_power = target_power if y is target else self.band_power(y.detach())
            if name == "mid" and self.side_floor_db is not None:
                # side below the mid's band level by more than side_floor_db is mono to the ear
                scale = 10.0 ** (self.side_floor_db / 10.0)
                side_floors = [
                    torch.maximum(floor, p.mean(-1, keepdim=True) * scale) for p in y_power
                ]
            if weight:
                floors = side_floors if name == "side" else plain
                total = total + weight * self._distance(self.band_power(x), y_power, floors)
        return total


def _paper_settings(loss: MixLoss) -> dict:
    return {
        "name": "paper",
        "class": "MixLoss",
        "sample_rate": loss.sample_rate,
        "fft_sizes": list(MixLoss.FFT_SIZES),
        "num_mels": MixLoss.NUM_MELS,
        "a_weighting": True,
        "weights": {"lr": 0.5, "mid": 0.25, "side": 0.25},
    }


#: The objectives ``grafx fit --loss`` knows, by name: ``{name: (class, one-line summary)}``.
LOSSES: dict[str, tuple[type, str]] = {
    "band": (BandLoss, "log band power in sixth-octave bands, every band alike (the default)"),
    "paper": (MixLoss, "the mixing-graphs paper's A-weighted mel STFT loss (Lee et al. 2024)"),
}
#: The name of the default objective of ``grafx fit``, ``grafx prune`` and :mod:`grafx.fit`.
DEFAULT_LOSS = "band"


def make_loss(name: str, sample_rate: float) -> nn.Module:
    """The objective named ``name`` (a key of :data:`LOSSES`) at ``sample_rate``.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name][0](sample_rate)


def loss_settings(loss: object) -> dict:
    """Name and settings of a loss for ``metrics.json``: those of :data:`LOSSES`' objectives,
    else ``{"name": None, "class": <its class name>}``."""
    if isinstance(loss, BandLoss):
        return loss.settings()
    if isinstance(loss, MixLoss):
        return _paper_settings(loss)
    return {"name": None, "class": type(loss).__name__}


def default_mix_loss(sample_rate: float = 44100) -> nn.Module:
    """The default objective (:data:`DEFAULT_LOSS`) at ``sample_rate``: the one place that names
    it (:func:`grafx.fit.fit_parameters`, :func:`grafx.prune.prune_graph`, the recipe and the
    CLI all take it from here)."""
    return make_loss(DEFAULT_LOSS, sample_rate)
