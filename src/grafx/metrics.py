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

Mono audio ``(1, L)`` is used as dual mono ``(2, L)`` by every metric.

Every metric and descriptor is streamed: the audio is read in blocks of
:data:`BLOCK_SAMPLES` samples (with enough samples either side for the longest frame) and
each value is accumulated over the blocks, so memory does not grow with the length. The
results are the whole signal's, not averages of blocks: the STFT losses see exactly the
frames of the whole signal's centred STFT and sum their terms (spectral convergence from the
summed squares, the log distance from the summed absolute differences), the loudness filters
carry their state across blocks, and the band levels sum the frames' power spectra; a block
size changes them only by rounding (:func:`stream_comparison` measures several mixes against
one target in one pass).

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
  :math:`s = (l - r)/2`: the power of the long-term spectrum (Hann frames of about 0.7 s,
  summed) between the band edges
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

import copy
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    "METRIC_KEYS",
    "BLOCK_SAMPLES",
    "Reader",
    "tensor_reader",
    "stream_comparison",
    "band_frame_size",
    "blockwise_loss",
]

#: Settings of the ``stft_distance`` metric (keywords of ``MultiResolutionSTFTLoss``).
STFT_DISTANCE_SETTINGS: dict = {"fft_sizes": (512, 1024, 2048), "w_sc": 1.0, "w_log_mag": 1.0}

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
        import pyloudnorm  # type: ignore[import-untyped]  # no stubs
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
    block_samples: int | None = None,
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
        block_samples: samples per streamed block (default :data:`BLOCK_SAMPLES`); the
            values do not depend on it beyond rounding.

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
    _check_audio(estimate, target, sample_rate, target_sample_rate)
    results = stream_comparison(
        tensor_reader(target),
        {"estimate": tensor_reader(estimate)},
        target.shape[-1],
        sample_rate,
        descriptors=False,
        block_samples=block_samples,
    )
    return results["estimate"]


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


def band_levels(
    audio: np.ndarray | Tensor,
    sample_rate: float,
    centres: np.ndarray,
    frame_size: int | None = None,
) -> np.ndarray:
    """Band levels in dB of ``audio`` ``(..., L)``: the mean square of the part of the signal
    whose frequency lies in ``[fc 10^-1/20, fc 10^1/20)``, ``(..., B)``.

    Measured on the long-term power spectrum: periodic-Hann frames of ``frame_size`` samples
    (default :func:`band_frame_size`) every quarter frame, laid over the zero-padded signal so
    that every sample is covered by four frames, their one-sided power spectra summed and
    scaled by Parseval's relation so that the levels of all bins together give the mean square
    of the signal. A band with no bin is ``nan``; a silent band is -200 dB. The spectra are
    summed frame by frame, so a signal streamed in blocks gives the same levels.
    """
    data = _numpy(audio)
    lead, length = data.shape[:-1], data.shape[-1]
    rows = data.reshape(-1, length)
    power = _BandPower(sample_rate, length, frame_size, rows=rows.shape[0], mid_side=False)
    pad = 2 * power.reach
    padded = np.zeros((rows.shape[0], length + 2 * pad))
    padded[:, pad : pad + length] = rows
    power.update(_Block(padded, 0, length, pad, length))
    return power.levels(centres).reshape(*lead, len(centres))


def _k_weighted(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    import pyloudnorm  # type: ignore[import-untyped]  # no stubs

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
    return _range_of_windows(power)


def _range_of_windows(power: np.ndarray) -> float:
    """EBU Tech 3342 loudness range (LU) of the K-weighted mean squares of 3 s windows: the
    spread from the 10th to the 95th percentile of the windows' loudness above the absolute
    (-70 LUFS) and relative (-20 LU) gates; NaN when no window passes."""
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


def mix_descriptors(mix, sample_rate: float, block_samples: int | None = None) -> MixDescriptors:
    """Band levels of mid and side, width per band, loudness, loudness range and crest factor,
    streamed over blocks of ``block_samples`` samples (default :data:`BLOCK_SAMPLES`).

    Args:
        mix: stereo audio ``(2, L)`` (``(1, L)``: dual mono), tensor or numpy.
        sample_rate: in Hz.
        block_samples: samples per block; the values do not depend on it beyond rounding.
    """
    if not isinstance(mix, Tensor):
        mix = np.asarray(mix, dtype=np.float64)
    if mix.ndim != 2 or mix.shape[0] not in (1, 2):
        raise AudioError(
            f"mix_descriptors: expected audio (C, L), C = 1 or 2, got {tuple(mix.shape)}"
        )
    length = mix.shape[-1]
    block = _block_size(block_samples)
    descriptors = _Descriptors(sample_rate, length)
    read, pad = tensor_reader(mix), 2 * descriptors.bands.reach
    for start, stop in _block_bounds(length, block):
        descriptors.update(_Block(read(start - pad, stop + pad), start, stop, pad, length))
    return descriptors.result()


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
    block_samples: int | None = None,
) -> dict:
    """Mix descriptors of an estimate against a target of the same shape and rate (each
    streamed by :func:`mix_descriptors` in blocks of ``block_samples``).

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
        mix_descriptors(estimate, sample_rate, block_samples),
        mix_descriptors(target, sample_rate, block_samples),
        band_range,
    )


#: The keys of :func:`mix_metrics`.
METRIC_KEYS = ("mix_loss", "stft_distance", "snr_db", "loudness_diff_lu")

#: The scalar descriptor errors that :func:`mix_summary` adds to :func:`mix_metrics`.
DESCRIPTOR_KEYS = (
    "band_rms_db",
    "band_max_db",
    "side_band_rms_db",
    "width_rms_db",
    "loudness_range_diff_lu",
    "crest_diff_db",
)


def mix_summary(
    estimate: Tensor, target: Tensor, sample_rate: float, block_samples: int | None = None
) -> dict:
    """:func:`mix_metrics` plus the scalar errors of :func:`descriptor_errors`
    (:data:`DESCRIPTOR_KEYS`) and, under ``"bands"``, its per-band errors, in one streamed
    pass (:func:`stream_comparison`)."""
    _check_audio(estimate, target, sample_rate, None)
    values = stream_comparison(
        tensor_reader(target),
        {"estimate": tensor_reader(estimate)},
        target.shape[-1],
        sample_rate,
        block_samples=block_samples,
    )["estimate"]
    metrics: dict = {key: values[key] for key in METRIC_KEYS}
    metrics.update({key: values[key] for key in DESCRIPTOR_KEYS})
    metrics["bands"] = values["bands"]
    return metrics


# ---------------------------------------------------------------------------------------------
# Streaming: every metric and descriptor is accumulated over blocks of samples.
# ---------------------------------------------------------------------------------------------

#: Samples per block of the streamed measurements (memory is bounded by it, not the length).
BLOCK_SAMPLES = 1 << 16

#: Reads samples ``[start, stop)`` of a signal as float64 ``(2, stop - start)``, zeros outside it.
Reader = Callable[[int, int], np.ndarray]


def tensor_reader(audio: Tensor | np.ndarray) -> Reader:
    """A :data:`Reader` of audio ``(C, L)`` (C = 1 is used as dual mono): each read converts
    only the samples asked for to float64 on the CPU, zero outside ``[0, L)``."""
    length = audio.shape[-1]

    def read(start: int, stop: int) -> np.ndarray:
        out = np.zeros((2, stop - start))
        lo, hi = max(start, 0), min(stop, length)
        if hi > lo:
            piece = audio[:, lo:hi]
            values = (
                piece.detach().to("cpu", torch.float64).numpy()
                if isinstance(piece, Tensor)
                else np.asarray(piece, dtype=np.float64)
            )
            out[:, lo - start : hi - start] = values
        return out

    return read


@dataclass
class _Block:
    """Samples ``[start - pad, stop + pad)`` of a signal of ``length`` samples, ``(2, n)``."""

    data: np.ndarray
    start: int
    stop: int
    pad: int
    length: int
    cache: dict = field(default_factory=dict)

    def samples(self) -> np.ndarray:
        """The block's own samples ``[start, stop)``."""
        return self.data[:, self.pad : self.pad + self.stop - self.start]

    def frames(self, hop: int, total: int) -> tuple[int, int]:
        """The frames ``[t0, t1)`` of a grid with ``total`` frames anchored at ``t * hop`` that
        this block owns (every frame is owned by exactly one block)."""
        first = -(-self.start // hop)
        last = total if self.stop >= self.length else min(-(-self.stop // hop), total)
        return first, last

    def segment(self, t0: int, t1: int, hop: int, lead: int, size: int) -> np.ndarray:
        """The samples of frames ``t0 .. t1 - 1``, frame ``t`` being ``[t hop - lead, ... +
        size)``: ``(2, (t1 - t0 - 1) hop + size)``."""
        offset = self.start - self.pad
        begin = t0 * hop - lead - offset
        end = (t1 - 1) * hop - lead + size - offset
        if begin < 0 or end > self.data.shape[-1]:  # pragma: no cover - the pad covers it
            raise AssertionError("streamed block: frame outside the padded block")
        return self.data[:, begin:end]


def _block_bounds(length: int, block: int) -> list[tuple[int, int]]:
    return [(start, min(start + block, length)) for start in range(0, length, block)]


def _block_size(block_samples: int | None) -> int:
    block = BLOCK_SAMPLES if block_samples is None else block_samples
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
        raise AudioError(f"block_samples must be a positive integer, got {block_samples!r}")
    return int(block)


class _SpectralLoss:
    """Streams a :class:`~grafx.losses.StereoSTFTLoss` (``MixLoss``) or
    :class:`~grafx.losses.MultiResolutionSTFTLoss` on stereo audio: the same frames as the whole
    signal's centred STFT, the sums of each term accumulated (exact up to rounding)."""

    def __init__(self, loss: Any, kind: str):
        from grafx.losses import StereoSTFTLoss

        self.kind = kind  # names the loss's weighting in the blocks' caches
        self.resolutions: list[Any]
        if isinstance(loss, StereoSTFTLoss):
            self.resolutions = list(loss.loss.losses)
            self.terms: list[tuple[float, float | None]] = [(loss.w_lr, None)]
            self.terms += [(w, s) for w, s in ((loss.w_mid, 1.0), (loss.w_side, -1.0)) if w]
        else:
            self.resolutions = list(loss.losses)
            self.terms = [(1.0, None)]
        # per resolution and term: sum (Y - X)^2, sum Y^2, sum |ln Y - ln X|, count
        self.sums = np.zeros((len(self.resolutions), len(self.terms), 4))

    @property
    def reach(self) -> int:
        return max(r.fft_size for r in self.resolutions)

    def update(self, estimate: _Block, target: _Block) -> None:
        for i, resolution in enumerate(self.resolutions):
            hop = resolution.hop_length
            t0, t1 = target.frames(hop, 1 + target.length // hop)
            if t1 <= t0:
                continue
            for j, (_, sign) in enumerate(self.terms):
                x = self._magnitude(estimate, resolution, sign, t0, t1)
                y = self._magnitude(target, resolution, sign, t0, t1)
                self.sums[i, j] += (
                    float((y - x).square().sum()),
                    float(y.square().sum()),
                    float((torch.log(y) - torch.log(x)).abs().sum()),
                    y.numel(),
                )

    def _magnitude(
        self, block: _Block, resolution: Any, sign: float | None, t0: int, t1: int
    ) -> Tensor:
        """Weighted magnitudes of a term's frames, cached on the block: several estimates
        share the target's, and losses with the same resolution share the spectra."""
        n, hop, win = resolution.fft_size, resolution.hop_length, resolution.win_length
        weighted = resolution.weights is not None
        key = ("magnitude", n, hop, win, weighted, self.kind, sign)
        if key not in block.cache:
            spectra_key = ("spectra", n, hop, win)
            if spectra_key not in block.cache:
                segment = torch.from_numpy(block.segment(t0, t1, hop, n // 2, n))
                block.cache[spectra_key] = torch.stft(
                    segment,
                    n_fft=n,
                    hop_length=hop,
                    win_length=win,
                    window=resolution.window.to(torch.float64),
                    center=False,
                    return_complex=True,
                )
            spectra = block.cache[spectra_key]
            if sign is not None:
                spectra = 0.5 * (spectra[0] + sign * spectra[1])
            block.cache[key] = resolution.weighted_magnitude(spectra)
        return block.cache[key]

    def result(self) -> float:
        total = 0.0
        for i, resolution in enumerate(self.resolutions):
            for j, (weight, _) in enumerate(self.terms):
                diff, norm, log_sum, count = self.sums[i, j]
                term = 0.0
                if resolution.w_sc:
                    term += resolution.w_sc * math.sqrt(diff) / (math.sqrt(norm) + resolution.eps)
                if resolution.w_log_mag:
                    term += resolution.w_log_mag * log_sum / count
                total += weight * term
        return float(total / len(self.resolutions))


class _Loudness:
    """Streams BS.1770-4 integrated loudness (``pyloudnorm``'s gating blocks) and the EBU Tech
    3342 loudness range of stereo audio: the K-weighting filters carry their state from block
    to block, and the K-weighted energy is summed per segment between block edges."""

    def __init__(self, sample_rate: float, length: int):
        try:
            import pyloudnorm  # type: ignore[import-untyped]  # no stubs
        except ImportError:  # pragma: no cover - a core dependency
            raise MissingDependencyError(
                "grafx.metrics needs pyloudnorm (a core dependency): pip install pyloudnorm"
            ) from None
        self.stages = [
            (float(s.passband_gain), np.asarray(s.b, float), np.asarray(s.a, float))
            for s in pyloudnorm.Meter(sample_rate)._filters.values()
        ]
        self.states: list[np.ndarray | None] = [None] * len(self.stages)
        self.rate, self.length = float(sample_rate), length
        # pyloudnorm's gating blocks (its own float expressions, so the same sample indices)
        gate, step = LOUDNESS_BLOCK_S, 1.0 - 0.75
        count = int(np.round((length / sample_rate - gate) / (gate * step))) + 1
        j = np.arange(max(count, 0))
        lower = (gate * (j * step) * sample_rate).astype(np.int64)
        upper = (gate * (j * step + 1) * sample_rate).astype(np.int64)
        self.gate_blocks = (np.minimum(lower, length), np.minimum(upper, length))
        window, hop = round(3.0 * sample_rate), round(0.1 * sample_rate)
        starts = np.arange(0, length - window + 1, hop, dtype=np.int64)
        self.range_windows = (starts, starts + window)
        self.window = window
        edges = np.concatenate([[0, length], *self.gate_blocks, *self.range_windows])
        self.edges = np.unique(edges)
        self.energy = np.zeros(len(self.edges) - 1)

    def update(self, block: _Block) -> None:
        from scipy.signal import lfilter, lfilter_zi

        x = block.samples()
        for i, (gain, b, a) in enumerate(self.stages):
            state = self.states[i]
            if state is None:
                state = np.zeros((2, len(lfilter_zi(b, a))))
            y, self.states[i] = lfilter(b, a, x, axis=-1, zi=state)
            x = gain * y
        squares = np.square(x).sum(0)
        first = int(np.searchsorted(self.edges, block.start, side="right")) - 1
        last = int(np.searchsorted(self.edges, block.stop, side="left"))
        cuts = np.clip(self.edges[first:last], block.start, block.stop) - block.start
        self.energy[first:last] += np.add.reduceat(squares, cuts) if squares.size else 0.0

    def _sums(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([[0.0], np.cumsum(self.energy)])
        index = np.searchsorted(self.edges, np.concatenate([lower, upper]))
        return cumulative[index[len(lower) :]] - cumulative[index[: len(lower)]]

    def integrated(self) -> float:
        if self.length < LOUDNESS_BLOCK_S * self.rate:
            return math.nan
        z = self._sums(*self.gate_blocks) / (LOUDNESS_BLOCK_S * self.rate)
        with np.errstate(divide="ignore", invalid="ignore"):
            loudness = -0.691 + 10.0 * np.log10(z)
            above = loudness >= -70.0
            relative = -0.691 + 10.0 * np.log10(np.mean(z[above])) - 10.0 if above.any() else np.nan
            kept = (loudness > relative) & (loudness > -70.0)
            mean = float(np.mean(z[kept])) if kept.any() else 0.0
            return float(-0.691 + 10.0 * np.log10(mean))

    def range(self) -> float:
        if self.length < self.window:
            return math.nan
        return _range_of_windows(self._sums(*self.range_windows) / self.window)


def band_frame_size(sample_rate: float) -> int:
    """FFT size of the band levels at ``sample_rate``: the smallest power of two whose bin
    spacing is at most a quarter of the width of the lowest third-octave band (31.6 Hz,
    7.3 Hz wide): 32768 at 44.1 and 48 kHz."""
    width = 31.62 * (10.0 ** (1 / 20) - 10.0 ** (-1 / 20))
    return 1 << max(4, math.ceil(math.log2(4.0 * sample_rate / width)))


class _BandPower:
    """Streams the long-term power spectrum of mid and side (see :func:`band_levels`)."""

    def __init__(
        self,
        sample_rate: float,
        length: int,
        frame_size: int | None = None,
        rows: int = 2,
        mid_side: bool = True,
    ):
        self.size = band_frame_size(sample_rate) if frame_size is None else int(frame_size)
        if self.size < 4 or self.size % 4:
            raise AudioError(f"band levels: frame_size must be a multiple of 4, got {frame_size!r}")
        self.mid_side = mid_side
        self.hop = self.size // 4
        self.rate, self.length = float(sample_rate), length
        self.total = -(-length // self.hop) + 3  # frame t is [(t - 3) hop, (t + 1) hop)
        n = np.arange(self.size)
        self.window = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.size)  # periodic Hann
        self.power = np.zeros((rows, self.size // 2 + 1))

    @property
    def reach(self) -> int:
        return self.size

    def update(self, block: _Block) -> None:
        t0, t1 = block.frames(self.hop, self.total)
        if t1 <= t0:
            return
        segment = block.segment(t0, t1, self.hop, self.size - self.hop, self.size)
        if self.mid_side:
            segment = np.stack([segment[0] + segment[1], segment[0] - segment[1]]) * 0.5
        frames = np.lib.stride_tricks.sliding_window_view(segment, self.size, axis=-1)
        for start in range(0, t1 - t0, 64):  # 64 frames at a time
            chunk = frames[:, start * self.hop : (start + 63) * self.hop + 1 : self.hop]
            spectra = np.fft.rfft(chunk * self.window, axis=-1)
            self.power += (spectra.real**2 + spectra.imag**2).sum(1)

    def levels(self, centres: np.ndarray) -> np.ndarray:
        """Band levels ``(rows, B)`` in dB (mid and side, for stereo audio)."""
        power = self.power.copy()
        power[:, 1 : (self.size + 1) // 2] *= 2.0  # one-sided
        # Parseval: the frames' squared windows sum to `cover` at every sample
        cover = float(np.sum(self.window[:: self.hop] ** 2))
        power /= self.size * cover * self.length
        freqs = np.arange(self.size // 2 + 1) * self.rate / self.size
        lower, upper = centres * 10.0 ** (-1 / 20), centres * 10.0 ** (1 / 20)
        cumulative = np.concatenate([np.zeros((len(power), 1)), np.cumsum(power, -1)], -1)
        lo, hi = np.searchsorted(freqs, lower), np.searchsorted(freqs, upper)
        energy = cumulative[:, hi] - cumulative[:, lo]
        with np.errstate(divide="ignore"):
            levels = 10.0 * np.log10(np.maximum(energy, _POWER_FLOOR))
        levels[:, hi == lo] = np.nan
        return levels


class _Peak:
    """Streams the peak and the sum of squares of stereo audio (the crest factor)."""

    def __init__(self) -> None:
        self.peak, self.squares, self.count = 0.0, 0.0, 0

    def update(self, block: _Block) -> None:
        x = block.samples()
        if x.size:
            self.peak = max(self.peak, float(np.max(np.abs(x))))
            self.squares += float(np.sum(np.square(x)))
            self.count += x.size

    def crest_db(self) -> float:
        rms = math.sqrt(self.squares / self.count) if self.count else 0.0
        if rms == 0.0:
            return math.nan
        return 20.0 * math.log10(self.peak / rms)


class _Descriptors:
    """Streams :class:`MixDescriptors` of one signal."""

    def __init__(self, sample_rate: float, length: int, frame_size: int | None = None):
        self.rate = sample_rate
        self.bands = _BandPower(sample_rate, length, frame_size)
        self.loudness = _Loudness(sample_rate, length)
        self.peak = _Peak()

    def update(self, block: _Block) -> None:
        self.bands.update(block)
        self.loudness.update(block)
        self.peak.update(block)

    def result(self) -> MixDescriptors:
        centres = third_octave_centres(self.rate)
        levels = self.bands.levels(centres)
        return MixDescriptors(
            centres=centres,
            mid_db=levels[0],
            side_db=levels[1],
            width_db=levels[1] - levels[0],
            loudness_lufs=self.loudness.integrated(),
            loudness_range_lu=self.loudness.range(),
            crest_db=self.peak.crest_db(),
        )


class _Comparison:
    """Streams the metrics (and optionally the descriptors) of one estimate against a target."""

    def __init__(self, sample_rate: float, length: int, descriptors: bool):
        from grafx.losses import MixLoss, MultiResolutionSTFTLoss

        self.mix_loss = _SpectralLoss(MixLoss(sample_rate).double(), "mix_loss")
        distance = MultiResolutionSTFTLoss(**STFT_DISTANCE_SETTINGS).double()
        self.distance = _SpectralLoss(distance, "stft_distance")
        self.signal = self.noise = 0.0
        self.descriptors = _Descriptors(sample_rate, length) if descriptors else None
        self.loudness = (
            self.descriptors.loudness if self.descriptors else _Loudness(sample_rate, length)
        )

    @property
    def reach(self) -> int:
        reach = max(self.mix_loss.reach, self.distance.reach)
        return max(reach, self.descriptors.bands.reach) if self.descriptors else reach

    def update(self, estimate: _Block, target: _Block) -> None:
        self.mix_loss.update(estimate, target)
        self.distance.update(estimate, target)
        x, y = estimate.samples(), target.samples()
        self.signal += float(np.sum(np.square(y)))
        self.noise += float(np.sum(np.square(y - x)))
        if self.descriptors is not None:
            self.descriptors.update(estimate)
        else:
            self.loudness.update(estimate)

    def metrics(self, target_loudness: float) -> dict[str, float]:
        return {
            "mix_loss": self.mix_loss.result(),
            "stft_distance": self.distance.result(),
            "snr_db": _snr(self.signal, self.noise),
            "loudness_diff_lu": _loudness_difference(self.loudness.integrated(), target_loudness),
        }


def _snr(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.nan if signal == 0.0 else math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def stream_comparison(
    target: Reader,
    estimates: Mapping[str, Reader],
    length: int,
    sample_rate: float,
    *,
    descriptors: bool = True,
    block_samples: int | None = None,
) -> dict[str, dict]:
    """Metrics and descriptor errors of several estimates against one target, in one pass over
    blocks of ``block_samples`` samples (memory bounded by the block, not the length).

    Args:
        target: reads the target, stereo (see :data:`Reader`).
        estimates: ``{name: reader}`` of the mixes to measure.
        length: samples of every signal.
        sample_rate: in Hz.
        descriptors: also the mix descriptors (:func:`descriptor_errors`).
        block_samples: samples per block (default :data:`BLOCK_SAMPLES`); the results do not
            depend on it beyond rounding.

    Returns:
        ``{name: {**mix_metrics, **descriptor_errors}}`` (the latter only with
        ``descriptors``), each as :func:`mix_metrics` and :func:`descriptor_errors` return.
    """
    block = _block_size(block_samples)
    comparisons = {name: _Comparison(sample_rate, length, descriptors) for name in estimates}
    own: _Descriptors | _Loudness = (
        _Descriptors(sample_rate, length) if descriptors else _Loudness(sample_rate, length)
    )
    reach = max([c.reach for c in comparisons.values()] + [_BandPower(sample_rate, 1).reach])
    pad = 2 * reach
    for start, stop in _block_bounds(length, block):
        target_block = _Block(target(start - pad, stop + pad), start, stop, pad, length)
        own.update(target_block)
        for name, read in estimates.items():
            estimate_block = _Block(read(start - pad, stop + pad), start, stop, pad, length)
            comparisons[name].update(estimate_block, target_block)
    if isinstance(own, _Descriptors):
        target_descriptors = own.result()
        target_loudness = target_descriptors.loudness_lufs
    else:
        target_loudness = own.integrated()
    results = {}
    for name, comparison in comparisons.items():
        values: dict = comparison.metrics(target_loudness)
        if comparison.descriptors is not None:
            errors = compare_descriptors(comparison.descriptors.result(), target_descriptors)
            errors.pop("loudness_diff_lu")
            values.update(errors)
        results[name] = values
    return results


class _BandLossStream:
    """Streams :class:`~grafx.losses.BandLoss` in two passes: the target's mean band powers
    (its floors), then the per-band sums of the frames' log-power differences."""

    def __init__(self, loss: Any, length: int, stereo: bool):
        self.loss, self.length = loss, length
        self.sizes = list(loss.resolutions)
        self.weights = [w.detach().to("cpu", torch.float64) for w in loss.band_weights]
        self.windows = [torch.hann_window(n, dtype=torch.float64) for n in self.sizes]
        self.terms: list[tuple[str, float, float | None]] = [("lr", loss.w_lr, None)]
        if stereo:
            for name, weight, sign in (("mid", loss.w_mid, 1.0), ("side", loss.w_side, -1.0)):
                if weight or (name == "mid" and loss.w_side and loss.side_floor_db is not None):
                    self.terms.append((name, weight, sign))
        rows = {"lr": 2 if stereo else 1, "mid": 1, "side": 1}
        self.rows = rows
        self.target_sums = {
            name: [torch.zeros(rows[name], w.shape[0], dtype=torch.float64) for w in self.weights]
            for name, _, _ in self.terms
        }
        self.distance = {
            name: [torch.zeros(rows[name], w.shape[0], dtype=torch.float64) for w in self.weights]
            for name, _, _ in self.terms
        }
        self.floors: dict[str, list[Tensor]] = {}

    @property
    def reach(self) -> int:
        return max(self.sizes)

    def _powers(self, block: _Block, name: str, sign: float | None) -> list[Tensor]:
        out = []
        for n, weights, window in zip(self.sizes, self.weights, self.windows, strict=True):
            hop = n // 4
            t0, t1 = block.frames(hop, 1 + self.length // hop)
            if t1 <= t0:
                out.append(torch.zeros(self.rows[name], weights.shape[0], 0, dtype=torch.float64))
                continue
            segment = torch.from_numpy(block.segment(t0, t1, hop, n // 2, n))
            if sign is None:
                signal = segment[: self.rows[name]]
            else:
                signal = (0.5 * (segment[0] + sign * segment[1]))[None]
            spec = torch.stft(signal, n, hop, n, window, center=False, return_complex=True)
            power = (spec.real.square() + spec.imag.square()) / window.square().sum()
            out.append(weights @ power)
        return out

    def update_target(self, target: _Block) -> None:
        for name, _, sign in self.terms:
            for total, power in zip(
                self.target_sums[name], self._powers(target, name, sign), strict=True
            ):
                total += power.sum(-1)

    def finish_target(self) -> None:
        counts = [1 + self.length // (n // 4) for n in self.sizes]
        means = {
            name: [s / c for s, c in zip(sums, counts, strict=True)]
            for name, sums in self.target_sums.items()
        }
        mean_power = torch.cat([m.reshape(-1) for m in means["lr"]]).mean()
        floor = (mean_power * 10.0 ** (self.loss.floor_db / 10.0)).clamp_min(1e-30)
        plain = [floor.expand(1, 1)] * len(self.sizes)
        side = plain
        if "mid" in means and self.loss.side_floor_db is not None:
            scale = 10.0 ** (self.loss.side_floor_db / 10.0)
            side = [torch.maximum(floor, m * scale) for m in means["mid"]]
        self.floors = {name: side if name == "side" else plain for name, _, _ in self.terms}

    def update(self, estimate: _Block, target: _Block) -> None:
        for name, weight, sign in self.terms:
            if not weight:
                continue
            pairs = zip(
                self._powers(estimate, name, sign),
                self._powers(target, name, sign),
                self.floors[name],
                self.distance[name],
                strict=True,
            )
            for p, q, f, total in pairs:
                f = f[..., None]
                total += (0.5 * (torch.log(p + f) - torch.log(q + f)).abs()).sum(-1)

    def result(self) -> float:
        counts = [1 + self.length // (n // 4) for n in self.sizes]
        total = 0.0
        for name, weight, _ in self.terms:
            if weight:
                per_band = [
                    (s / c).mean(0) for s, c in zip(self.distance[name], counts, strict=True)
                ]
                total += weight * float(torch.cat(per_band).mean())
        return total


def blockwise_loss(
    loss: Any, estimate: Tensor, target: Tensor, block_samples: int | None = None
) -> float:
    """The value of a loss on whole signals, computed by blocks of samples without gradients.

    :class:`~grafx.losses.BandLoss` (two passes: the target's floors, then the distances),
    :class:`~grafx.losses.MixLoss` and the other :class:`~grafx.losses.StereoSTFTLoss` and
    :class:`~grafx.losses.MultiResolutionSTFTLoss` are streamed on the CPU in float64 over
    the whole signal's frames, so the value equals ``loss(estimate, target)`` up to rounding
    while memory is bounded by the block; any other loss, or audio with a batch dimension, is
    called on the whole signals (under :func:`torch.no_grad`).

    Args:
        loss: the loss module.
        estimate, target: audio ``(C, L)``, C = 1 or 2, of the same shape.
        block_samples: samples per block (default :data:`BLOCK_SAMPLES`).
    """
    from grafx.losses import BandLoss, MultiResolutionSTFTLoss, StereoSTFTLoss, check_pair

    check_pair(estimate, target, "blockwise_loss")
    streamable = isinstance(loss, (BandLoss, StereoSTFTLoss, MultiResolutionSTFTLoss))
    if not streamable or estimate.ndim != 2 or estimate.shape[0] not in (1, 2):
        with torch.no_grad():
            return float(loss(estimate, target))
    block, length = _block_size(block_samples), target.shape[-1]
    stereo = estimate.shape[0] == 2
    read_estimate, read_target = tensor_reader(estimate), tensor_reader(target)
    if isinstance(loss, BandLoss):
        stream = _BandLossStream(loss, length, stereo)
        pad = 2 * stream.reach
        blocks = _block_bounds(length, block)
        for start, stop in blocks:
            stream.update_target(
                _Block(read_target(start - pad, stop + pad), start, stop, pad, length)
            )
        stream.finish_target()
        for start, stop in blocks:
            stream.update(
                _Block(read_estimate(start - pad, stop + pad), start, stop, pad, length),
                _Block(read_target(start - pad, stop + pad), start, stop, pad, length),
            )
        return stream.result()
    spectral = _SpectralLoss(copy.deepcopy(loss).to("cpu", torch.float64), "loss")
    if not stereo:
        spectral.terms = spectral.terms[:1]
        spectral.sums = spectral.sums[:, :1]
    pad = 2 * spectral.reach
    for start, stop in _block_bounds(length, block):
        spectral.update(
            _Block(read_estimate(start - pad, stop + pad), start, stop, pad, length),
            _Block(read_target(start - pad, stop + pad), start, stop, pad, length),
        )
    return spectral.result()
