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
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from grafx.errors import AudioError, MissingDependencyError

__all__ = ["STFT_DISTANCE_SETTINGS", "mix_metrics", "snr_db", "integrated_loudness"]

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
