r"""Metrics of a mix against its target: mix loss, STFT distance, SNR and loudness difference.

:func:`mix_metrics` measures a whole mix ``(C, L)`` against a target of the same shape and
returns four numbers (computed in float64 on the input's device; the loudness on the CPU):

``mix_loss``
    :class:`~grafx.losses.MixLoss`, the mixing-graphs paper's A-weighted multi-resolution mel
    STFT loss on left/right, mid and side (lower is better; 0 for identical audio).
``stft_distance``
    :class:`~grafx.losses.MultiResolutionSTFTLoss` with :data:`STFT_DISTANCE_SETTINGS`: FFT
    sizes 512, 1024 and 2048, Hann windows of the FFT size, hop a quarter of it, linear
    frequency bins, spectral convergence plus log-magnitude L1, averaged over the resolutions,
    on the left and right channels together (lower is better; 0 for identical audio).
``snr_db``
    Signal-to-noise ratio of the estimate, the target being the signal and their difference
    the noise, over every channel and sample (higher is better):

    .. math:: \mathrm{SNR} = 10 \log_{10}
              \frac{\sum_{c,n} y_c[n]^2}{\sum_{c,n} (y_c[n] - \hat y_c[n])^2}

``loudness_diff_lu``
    Integrated loudness (ITU-R BS.1770-4, K-weighted and gated, through ``pyloudnorm``) of the
    estimate minus that of the target, in LU: positive means the estimate is louder (0 is
    best).

Mono audio ``(1, L)`` is used as dual mono ``(2, L)`` by every metric. Audio longer than
:data:`CHUNK_SECONDS` has ``mix_loss`` and ``stft_distance`` averaged over chunks of that
length (weighted by length); ``snr_db`` and ``loudness_diff_lu`` always cover the whole.

Silent or short input gives IEEE values rather than errors, so a comparison never fails
halfway through a report:

- identical estimate and target: ``snr_db`` is ``+inf``;
- a silent target (all zeros): ``snr_db`` is ``-inf`` (``nan`` if the estimate is silent too);
- a signal whose every 400 ms block is below -70 LUFS (BS.1770's absolute gate, e.g. digital
  silence) has loudness :math:`-\infty`, so ``loudness_diff_lu`` is ``+inf`` or ``-inf``, or
  ``nan`` when both are that quiet;
- audio shorter than one 400 ms loudness block: ``loudness_diff_lu`` is ``nan``;
- the two STFT losses stay finite on silence (their magnitudes are floored, see
  :mod:`grafx.losses`).

Mix descriptors
---------------
What a mixing engineer reads first: tonal balance, loudness, stereo image and dynamics.
:func:`mix_descriptors` measures one stereo mix, :func:`descriptor_errors` an estimate against a
target, both in float64 numpy on the CPU:

- third-octave band levels (:func:`band_levels`) of mid :math:`m = (l + r)/2` and side
  :math:`s = (l - r)/2`: the power of the whole-signal spectrum between the band edges
  :math:`f_c 10^{\pm 1/20}` (IEC 61260 base-ten bands, centres :math:`1000 \cdot 10^{k/10}`
  Hz from 31.6 Hz to the last band whose upper edge is below the Nyquist frequency), in dB
  relative to a full-scale mean square (a full-scale sine is -3.01 dB in its band);
- stereo width per band: side level minus mid level in dB (-inf for dual mono, 0 dB when the
  channels are uncorrelated and equally loud);
- integrated loudness (BS.1770-4, LUFS) and loudness range (:func:`loudness_range`, EBU Tech
  3342, LU);
- crest factor (:func:`crest_factor_db`): peak over RMS of the whole mix, in dB.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from grafx.errors import AudioError, MissingDependencyError

__all__ = [
    "STFT_DISTANCE_SETTINGS",
    "mix_metrics",
    "snr_db",
    "integrated_loudness",
    "third_octave_centres",
    "band_levels",
    "loudness_range",
    "crest_factor_db",
    "MixDescriptors",
    "mix_descriptors",
    "descriptor_errors",
    "compare_descriptors",
    "DESCRIPTOR_KEYS",
    "mix_summary",
]

#: Settings of the ``stft_distance`` metric (keywords of ``MultiResolutionSTFTLoss``).
STFT_DISTANCE_SETTINGS: dict = {"fft_sizes": (512, 1024, 2048), "w_sc": 1.0, "w_log_mag": 1.0}

#: Longer audio has its two STFT metrics measured per chunk of this many seconds (the last
#: chunk holding the remainder) and averaged weighted by length, so that memory stays bounded.
CHUNK_SECONDS = 20.0

#: BS.1770's gating block in seconds; shorter audio has no integrated loudness.
LOUDNESS_BLOCK_S = 0.4


def snr_db(estimate: Tensor, target: Tensor) -> float:
    r"""Signal-to-noise ratio :math:`10\log_{10}(\sum y^2 / \sum (y - \hat y)^2)` in dB.

    Args:
        estimate: audio, any shape.
        target: audio, the same shape.

    Returns:
        The SNR; ``+inf`` when they are equal, ``-inf`` for a silent target (``nan`` if both
        are silent).
    """
    signal = float(target.double().square().sum())
    noise = float((target.double() - estimate.double()).square().sum())
    if noise == 0.0:
        return math.nan if signal == 0.0 else math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def integrated_loudness(audio: Tensor, sample_rate: float) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 through ``pyloudnorm``).

    Args:
        audio: ``(C, L)`` with ``C <= 5`` channels (BS.1770 channel order).
        sample_rate: in Hz.

    Returns:
        The loudness; ``-inf`` when every block is below the -70 LUFS gate; ``nan`` when the
        audio is shorter than one 400 ms block.
    """
    try:
        import pyloudnorm
    except ImportError:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "grafx.metrics needs pyloudnorm (a core dependency): pip install pyloudnorm"
        ) from None
    if audio.shape[-1] < LOUDNESS_BLOCK_S * sample_rate:
        return math.nan
    data = audio.detach().to("cpu", torch.float64).numpy().T
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(data))


def _loudness_difference(estimate: float, target: float) -> float:
    if math.isinf(estimate) and math.isinf(target) and estimate == target:
        return math.nan
    return estimate - target


def _check_audio(estimate: Tensor, target: Tensor, sample_rate, target_sample_rate) -> None:
    from grafx.io.audio import check_finite

    for name, audio in (("estimate", estimate), ("target", target)):
        if not isinstance(audio, Tensor):
            raise AudioError(f"mix_metrics: {name} must be a torch.Tensor, got {type(audio)}")
        if audio.ndim != 2 or audio.shape[0] not in (1, 2):
            raise AudioError(
                f"mix_metrics: {name} must be mono or stereo audio (C, L) with C = 1 or 2, "
                f"got shape {tuple(audio.shape)}"
            )
    if estimate.shape != target.shape:
        raise AudioError(
            f"mix_metrics: estimate {tuple(estimate.shape)} and target {tuple(target.shape)} "
            "must have the same shape (channels, samples)"
        )
    if estimate.shape[-1] < 1:
        raise AudioError("mix_metrics: the audio has no samples")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Real)
        or not math.isfinite(sample_rate)
        or sample_rate <= 0
    ):
        raise AudioError(f"mix_metrics: sample_rate must be a positive number, got {sample_rate!r}")
    if target_sample_rate is not None and target_sample_rate != sample_rate:
        raise AudioError(
            f"mix_metrics: the estimate is at {sample_rate} Hz but the target at "
            f"{target_sample_rate} Hz; resample one of them first (grafx.io.audio.resample)"
        )
    check_finite(estimate, "mix_metrics: estimate")
    check_finite(target, "mix_metrics: target")


def mix_metrics(
    estimate: Tensor,
    target: Tensor,
    sample_rate: float,
    *,
    target_sample_rate: float | None = None,
) -> dict[str, float]:
    """Mix loss, STFT distance, SNR and loudness difference of a mix against its target.

    See the module docstring for the definition of each value and what silent or short audio
    gives.

    Args:
        estimate: the mix to measure, ``(C, L)`` with ``C`` = 1 (dual mono) or 2.
        target: the reference mix, same shape.
        sample_rate: the sample rate of both, in Hz.
        target_sample_rate: the target's rate, if known separately: a rate other than
            ``sample_rate`` is refused (metrics compare sample by sample).

    Returns:
        ``{"mix_loss", "stft_distance", "snr_db", "loudness_diff_lu"}`` as floats.

    Raises:
        AudioError: not a tensor, not ``(C, L)`` with C in {1, 2}, different shapes, no
            samples, NaN/Inf samples, a non-positive sample rate or different sample rates.

    Example:
        >>> t = torch.arange(8000) / 8000
        >>> target = torch.sin(2 * torch.pi * 440 * t).expand(2, -1) * 0.5
        >>> metrics = mix_metrics(0.5 * target, target, 8000)
        >>> round(metrics["snr_db"], 2), round(metrics["loudness_diff_lu"], 2)
        (6.02, -6.02)
    """
    from grafx.losses import MixLoss, MultiResolutionSTFTLoss

    _check_audio(estimate, target, sample_rate, target_sample_rate)
    estimate = estimate.detach().double()
    target = target.detach().double()
    if estimate.shape[0] == 1:
        estimate, target = estimate.expand(2, -1), target.expand(2, -1)
    device = estimate.device
    mix_loss_fn = MixLoss(sample_rate).to(device)
    distance_fn = MultiResolutionSTFTLoss(**STFT_DISTANCE_SETTINGS).to(device)
    mix_loss = distance = 0.0
    length = target.shape[-1]
    chunk = max(int(CHUNK_SECONDS * sample_rate), 1)
    # Whole chunks, the last one taking the remainder (so none is shorter than a chunk).
    bounds = list(range(0, max(length - chunk, 0) + 1, chunk)) if length > chunk else [0]
    with torch.no_grad():
        for i, start in enumerate(bounds):
            stop = bounds[i + 1] if i + 1 < len(bounds) else length
            weight = (stop - start) / length
            e, t = estimate[:, start:stop], target[:, start:stop]
            mix_loss += weight * float(mix_loss_fn(e, t))
            distance += weight * float(distance_fn(e, t))
    return {
        "mix_loss": float(mix_loss),
        "stft_distance": float(distance),
        "snr_db": snr_db(estimate, target),
        "loudness_diff_lu": _loudness_difference(
            integrated_loudness(estimate, sample_rate), integrated_loudness(target, sample_rate)
        ),
    }


#: Lowest and highest band centres (Hz) that band-error summaries cover.
BAND_RANGE_HZ = (40.0, 16000.0)
#: Power floor of band levels: -200 dB (a silent band).
_POWER_FLOOR = 1e-20


def third_octave_centres(sample_rate: float, f_min: float = 30.0) -> np.ndarray:
    """Exact base-ten third-octave centres :math:`1000 \\cdot 10^{k/10}` Hz from ``f_min`` up to
    the last band whose upper edge :math:`f_c 10^{1/20}` is at most ``sample_rate / 2``."""
    k_lo = math.ceil(10 * math.log10(f_min / 1000.0) - 1e-9)
    k_hi = math.floor(10 * math.log10(sample_rate / 2 / 1000.0) - 0.5 + 1e-9)
    return 1000.0 * 10.0 ** (np.arange(k_lo, k_hi + 1) / 10.0)


def band_levels(audio: np.ndarray, sample_rate: float, centres: np.ndarray) -> np.ndarray:
    """Band levels in dB of ``audio`` ``(..., L)``: the mean square of the part of the signal
    whose frequency lies in ``[fc 10^-1/20, fc 10^1/20)``, from its whole-signal spectrum
    (Parseval: the levels of all bands together sum to the mean square), ``(..., B)``.

    A band with no spectral bin (audio shorter than about ``1 / bandwidth``) is ``nan``; a
    silent band is -200 dB.
    """
    audio = np.asarray(audio, dtype=np.float64)
    length = audio.shape[-1]
    spectrum = np.fft.rfft(audio, axis=-1)
    power = np.abs(spectrum) ** 2 / length**2
    power[..., 1 : (length + 1) // 2] *= 2.0  # one-sided: every bin but DC and Nyquist twice
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    lower, upper = centres * 10.0 ** (-1 / 20), centres * 10.0 ** (1 / 20)
    cumulative = np.concatenate([np.zeros((*power.shape[:-1], 1)), np.cumsum(power, -1)], -1)
    lo, hi = np.searchsorted(freqs, lower), np.searchsorted(freqs, upper)
    energy = cumulative[..., hi] - cumulative[..., lo]
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(np.maximum(energy, _POWER_FLOOR))
    levels[..., hi == lo] = np.nan
    return levels


def _k_weighted(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    import pyloudnorm

    weighted = np.array(audio, dtype=np.float64, copy=True)
    for stage in pyloudnorm.Meter(sample_rate)._filters.values():
        weighted = np.stack([stage.apply_filter(channel) for channel in weighted])
    return weighted


def loudness_range(audio: np.ndarray, sample_rate: float) -> float:
    """Loudness range in LU (EBU Tech 3342): the spread between the 10th and 95th percentiles
    of the short-term loudness (3 s K-weighted windows every 0.1 s), after an absolute gate at
    -70 LUFS and a relative gate 20 LU below the gated windows' mean power.

    Args:
        audio: ``(C, L)`` numpy or tensor, channels summed with weight 1.
        sample_rate: in Hz.

    Returns:
        The range in LU; ``nan`` for audio shorter than 3 s or with no window above the gates.
    """
    audio = _numpy(audio)
    window, hop = round(3.0 * sample_rate), round(0.1 * sample_rate)
    if audio.shape[-1] < window:
        return math.nan
    squares = np.square(_k_weighted(audio, sample_rate)).sum(0)
    cumulative = np.concatenate([[0.0], np.cumsum(squares)])
    starts = np.arange(0, audio.shape[-1] - window + 1, hop)
    power = (cumulative[starts + window] - cumulative[starts]) / window
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(power)
    gated = power[loudness > -70.0]
    if gated.size == 0:
        return math.nan
    relative = -0.691 + 10.0 * math.log10(gated.mean()) - 20.0
    kept = loudness[(loudness > -70.0) & (loudness > relative)]
    return float(np.percentile(kept, 95) - np.percentile(kept, 10))


def crest_factor_db(audio: np.ndarray) -> float:
    """Peak over RMS of all samples of ``audio`` in dB (3.01 dB for a sine); ``nan`` if silent."""
    audio = _numpy(audio)
    rms = math.sqrt(float(np.mean(np.square(audio))))
    if rms == 0.0:
        return math.nan
    return 20.0 * math.log10(float(np.max(np.abs(audio))) / rms)


def _numpy(audio) -> np.ndarray:
    if isinstance(audio, Tensor):
        return audio.detach().to("cpu", torch.float64).numpy()
    return np.asarray(audio, dtype=np.float64)


@dataclass
class MixDescriptors:
    """What :func:`mix_descriptors` measures of one stereo mix.

    Attributes:
        centres: third-octave band centres in Hz, ``(B,)``.
        mid_db, side_db: band levels of mid and side in dB, ``(B,)``.
        width_db: ``side_db - mid_db``, ``(B,)``.
        loudness_lufs: integrated loudness (BS.1770-4).
        loudness_range_lu: EBU Tech 3342 loudness range.
        crest_db: crest factor of the whole mix.
    """

    centres: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray
    width_db: np.ndarray
    loudness_lufs: float
    loudness_range_lu: float
    crest_db: float


def mix_descriptors(mix, sample_rate: float) -> MixDescriptors:
    """Band levels of mid and side, width per band, loudness, loudness range and crest factor.

    Args:
        mix: stereo audio ``(2, L)`` (``(1, L)``: dual mono), tensor or numpy.
        sample_rate: in Hz.
    """
    audio = _numpy(mix)
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise AudioError(f"mix_descriptors: expected audio (C, L), C = 1 or 2, got {audio.shape}")
    if audio.shape[0] == 1:
        audio = np.concatenate([audio, audio])
    centres = third_octave_centres(sample_rate)
    mid, side = 0.5 * (audio[0] + audio[1]), 0.5 * (audio[0] - audio[1])
    levels = band_levels(np.stack([mid, side]), sample_rate, centres)
    loudness = integrated_loudness(torch.from_numpy(audio), sample_rate)
    return MixDescriptors(
        centres=centres,
        mid_db=levels[0],
        side_db=levels[1],
        width_db=levels[1] - levels[0],
        loudness_lufs=loudness,
        loudness_range_lu=loudness_range(audio, sample_rate),
        crest_db=crest_factor_db(audio),
    )


def _in_range(centres: np.ndarray, band_range: tuple[float, float]) -> np.ndarray:
    return (centres >= band_range[0] * 0.99) & (centres <= band_range[1] * 1.01)


def compare_descriptors(
    estimate: MixDescriptors,
    target: MixDescriptors,
    band_range: tuple[float, float] = BAND_RANGE_HZ,
    audible_db: float = 60.0,
) -> dict:
    """Errors of an estimate's descriptors against a target's (see :func:`descriptor_errors`)."""
    mid_error = estimate.mid_db - target.mid_db
    side_error = estimate.side_db - target.side_db
    width_error = estimate.width_db - target.width_db
    span = _in_range(target.centres, band_range)
    # side bands far below the loudest mid band are inaudible; their errors are not summarised
    audible = target.side_db >= np.nanmax(target.mid_db) - audible_db
    side_span = span & audible

    def rms(values):
        values = values[np.isfinite(values)]
        return float(np.sqrt(np.mean(values**2))) if values.size else math.nan

    def peak(values):
        values = values[np.isfinite(values)]
        return float(np.max(np.abs(values))) if values.size else math.nan

    return {
        "band_rms_db": rms(mid_error[span]),
        "band_max_db": peak(mid_error[span]),
        "side_band_rms_db": rms(side_error[side_span]),
        "side_band_max_db": peak(side_error[side_span]),
        "width_rms_db": rms(width_error[side_span]),
        "loudness_diff_lu": _loudness_difference(estimate.loudness_lufs, target.loudness_lufs),
        "loudness_range_diff_lu": estimate.loudness_range_lu - target.loudness_range_lu,
        "crest_diff_db": estimate.crest_db - target.crest_db,
        "band_range_hz": [float(target.centres[span][0]), float(target.centres[span][-1])]
        if span.any()
        else [],
        "bands": {
            "centre_hz": [round(float(f), 2) for f in target.centres],
            "mid_error_db": [float(v) for v in mid_error],
            "side_error_db": [float(v) for v in side_error],
            "width_error_db": [float(v) for v in width_error],
        },
    }


def descriptor_errors(
    estimate,
    target,
    sample_rate: float,
    band_range: tuple[float, float] = BAND_RANGE_HZ,
) -> dict:
    """Mix descriptors of an estimate against a target of the same shape and rate.

    Returns:
        ``band_rms_db`` and ``band_max_db``: rms and largest absolute mid band-level error over
        the third-octave bands with centres in ``band_range`` (that the rate holds);
        ``side_band_rms_db``, ``side_band_max_db`` and ``width_rms_db``: the same for the side
        levels and the width, over those bands whose target side level is within 60 dB of the
        loudest mid band; ``loudness_diff_lu``, ``loudness_range_diff_lu`` and
        ``crest_diff_db``: estimate minus target; ``band_range_hz``: the first and last centre
        summarised; ``bands``: per-band centres and mid/side/width errors (lists).
    """
    return compare_descriptors(
        mix_descriptors(estimate, sample_rate), mix_descriptors(target, sample_rate), band_range
    )


#: The scalar descriptor errors that :func:`mix_summary` adds to :func:`mix_metrics`.
DESCRIPTOR_KEYS = (
    "band_rms_db",
    "band_max_db",
    "side_band_rms_db",
    "width_rms_db",
    "loudness_range_diff_lu",
    "crest_diff_db",
)


def mix_summary(estimate: Tensor, target: Tensor, sample_rate: float) -> dict:
    """:func:`mix_metrics` plus the scalar errors of :func:`descriptor_errors`
    (:data:`DESCRIPTOR_KEYS`) and, under ``"bands"``, its per-band errors."""
    metrics: dict = dict(mix_metrics(estimate, target, sample_rate))
    errors = descriptor_errors(estimate, target, sample_rate)
    metrics.update({key: errors[key] for key in DESCRIPTOR_KEYS})
    metrics["bands"] = errors["bands"]
    return metrics
