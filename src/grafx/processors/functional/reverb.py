r"""Noise-based artificial reverberation: impulse responses shaped from noise, and their use.

Two ways to shape noise into a room-like impulse response (IR):

* :func:`stft_masked_noise_ir`: a time-frequency magnitude mask on the STFT of noise, each
  frequency bin decaying exponentially (Lee et al., "Differentiable artificial reverberation",
  2022).
* :func:`filtered_noise_shaping_ir`: band-split noise, each band with its own exponential decay
  and gain.

:func:`apply_normalized_ir` normalises the IR to unit energy and convolves it with the input in one of
the channel modes ``"mono"``, ``"stereo"``, ``"midside"`` or ``"pseudo_midside"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import AudioError
from grafx.processors.core.convolution import convolve
from grafx.processors.core.midside import apply_processor_channel, ms_to_lr
from grafx.processors.core.noise import decay_rate_from_ms
from grafx.processors.core.utils import normalize_impulse

#: The STFT mask's log-magnitudes are divided by this before ``exp`` (as in the original).
STFT_MASK_LOG_SCALE = 8.0

REVERB_CHANNELS = ("mono", "stereo", "midside", "pseudo_midside")


def stft_mask_log_magnitude(
    init_log_magnitude: Tensor,
    delta_log_magnitude: Tensor,
    num_frames: int,
    gain_env_log_magnitude: Tensor | None = None,
) -> Tensor:
    r"""Log-magnitude of the STFT reverb mask, per channel, bin and frame.

    .. math::
        \log |H_c[k, m]| = \big(H^0_c[k] - \mathrm{softplus}(H^\Delta_c[k])\, m + G_c[m]\big) / 8

    so bin ``k`` decays by :math:`\mathrm{softplus}(H^\Delta_c[k]) / 8` nepers per hop.

    Args:
        init_log_magnitude: :math:`H^0`, ``(B, C, F)``.
        delta_log_magnitude: :math:`H^\Delta`, ``(B, C, F)``.
        num_frames: number of STFT frames ``M``.
        gain_env_log_magnitude: optional :math:`G`, ``(B, C, M)``.

    Returns:
        ``(B, C, F, M)``.
    """
    frames = torch.arange(
        num_frames, dtype=init_log_magnitude.dtype, device=init_log_magnitude.device
    )
    decay = F.softplus(delta_log_magnitude)[..., None] * frames
    log_mag = init_log_magnitude[..., None] - decay
    if gain_env_log_magnitude is not None:
        log_mag = log_mag + gain_env_log_magnitude[..., None, :]
    return log_mag / STFT_MASK_LOG_SCALE


def stft_masked_noise_ir(
    noise_stft: Tensor,
    init_log_magnitude: Tensor,
    delta_log_magnitude: Tensor,
    window: Tensor,
    n_fft: int,
    hop_length: int,
    ir_len: int,
    gain_env_log_magnitude: Tensor | None = None,
) -> Tensor:
    r"""Impulse responses from a magnitude-masked noise STFT.

    The mask of :func:`stft_mask_log_magnitude` multiplies the noise STFT, and the inverse STFT
    (``center=True``) gives an IR of ``ir_len`` samples.

    Args:
        noise_stft: complex STFT of the noise, ``(C, F, M)`` (shared by the batch) or
            ``(B, C, F, M)``.
        init_log_magnitude: ``(B, C, F)``.
        delta_log_magnitude: ``(B, C, F)``.
        window: analysis/synthesis window, ``(n_fft,)``.
        n_fft, hop_length: STFT sizes; ``F = n_fft // 2 + 1``.
        ir_len: IR length ``N``.
        gain_env_log_magnitude: optional ``(B, C, M)``.

    Returns:
        IRs, ``(B, C, N)``.
    """
    num_frames = noise_stft.shape[-1]
    log_mag = stft_mask_log_magnitude(
        init_log_magnitude, delta_log_magnitude, num_frames, gain_env_log_magnitude
    )
    masked = noise_stft * torch.exp(log_mag)
    batch, channels = masked.shape[:2]
    irs = torch.istft(
        masked.reshape(batch * channels, *masked.shape[-2:]),
        n_fft=n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        length=ir_len,
    )
    return irs.reshape(batch, channels, ir_len)


def band_decay_rate(
    log_decay: Tensor, sr: float, min_decay_ms: float, max_decay_ms: float
) -> Tensor:
    r"""Per-sample log-amplitude slope of each band, between the fastest and slowest decay.

    .. math:: r = r_{\min} + \sigma(\ell)\,(r_{\max} - r_{\min}),
              \quad r_{t} = \ln(10^{-3}) / (t \cdot f_s / 1000)

    where :math:`r_{\min}` is the slope that drops 60 dB in ``min_decay_ms`` and :math:`r_{\max}`
    the one for ``max_decay_ms``. :math:`\ell \to -\infty` gives the shortest decay.
    """
    fast = decay_rate_from_ms(min_decay_ms, sr)
    slow = decay_rate_from_ms(max_decay_ms, sr)
    return fast + torch.sigmoid(log_decay) * (slow - fast)


def filtered_noise_shaping_ir(
    noise_bands: Tensor,
    log_decay: Tensor,
    log_gain: Tensor,
    sr: float,
    min_decay_ms: float,
    max_decay_ms: float,
    log_fade_in: Tensor | None = None,
    z_fade_in_gain: Tensor | None = None,
) -> Tensor:
    r"""Impulse responses from band-split noise with a decaying envelope per band.

    .. math::
        h_c[n] = \sum_k e^{g_{c,k}}\, e_{c,k}[n]\, \nu_{c,k}[n], \qquad
        e_{c,k}[n] = e^{n r_{c,k}} - \sigma(z_{c,k})\, e^{n \rho_{c,k}}

    with :math:`r` from :func:`band_decay_rate`, and the optional fade-in term using the faster
    slope :math:`\rho = r + \sigma(\phi)(r_{\min} - r)` (``log_fade_in`` = :math:`\phi`), so the
    envelope starts at :math:`1 - \sigma(z)` and rises towards the plain decay.

    Args:
        noise_bands: band-split noise :math:`\nu`, ``(C, K, N)``.
        log_decay: ``(B, C, K)``.
        log_gain: natural-log band gains :math:`g`, ``(B, C, K)``.
        sr: sample rate in Hz.
        min_decay_ms, max_decay_ms: range of the 60 dB decay time.
        log_fade_in, z_fade_in_gain: optional fade-in parameters, ``(B, C, K)`` each.

    Returns:
        IRs, ``(B, C, N)``.
    """
    ir_len = noise_bands.shape[-1]
    rate = band_decay_rate(log_decay, sr, min_decay_ms, max_decay_ms)
    envelope = exponential_envelope(rate, log_gain, ir_len)
    if log_fade_in is not None and z_fade_in_gain is not None:
        fastest = decay_rate_from_ms(min_decay_ms, sr)
        fade_rate = rate + torch.sigmoid(log_fade_in) * (fastest - rate)
        # sigma(z) e^{g} e^{n rho} = exp(n rho + g + log sigma(z)), log sigma(z) = -softplus(-z).
        fade_log_gain = log_gain - F.softplus(-z_fade_in_gain)
        envelope = envelope - exponential_envelope(fade_rate, fade_log_gain, ir_len)
    return (envelope * noise_bands.to(envelope.dtype)).sum(-2)


def exponential_envelope(rate: Tensor, log_gain: Tensor, length: int, block: int = 256) -> Tensor:
    r"""Scaled exponentials :math:`e^{g + r n}` for :math:`n = 0 .. N-1`, ``(..., N)``.

    Computed as the outer product of a coarse and a fine exponential,
    :math:`e^{g + r b j} \cdot e^{r i}` with :math:`n = b j + i`, so only about
    :math:`N / b + b` exponentials are evaluated instead of :math:`N` (the full-size
    ``exp`` dominated the filtered-noise reverb's forward pass).

    Args:
        rate: per-sample log-amplitude slopes :math:`r`, ``(...)``.
        log_gain: natural-log gains :math:`g`, ``(...)``.
        length: number of samples ``N``.
        block: fine block length ``b``.
    """
    num_blocks = -(-length // block)
    steps = torch.arange(max(block, 1), dtype=rate.dtype, device=rate.device)
    starts = torch.arange(num_blocks, dtype=rate.dtype, device=rate.device) * block
    coarse = torch.exp(log_gain[..., None] + rate[..., None] * starts)
    fine = torch.exp(rate[..., None] * steps)
    envelope = coarse[..., :, None] * fine[..., None, :]
    return envelope.flatten(-2)[..., :length]


def apply_normalized_ir(
    input_signals: Tensor, ir: Tensor, processor_channel: str, owner: str = "reverb"
) -> Tensor:
    r"""Normalise impulse responses to unit energy and convolve them with the input (causal).

    Modes:
        ``"mono"``: one IR ``(B, 1, N)`` filters every input channel; ``C`` is kept.
        ``"stereo"``: left/right IRs ``(B, 2, N)`` filter left/right; a mono input becomes stereo.
        ``"midside"``: the stereo input is converted to mid/side, filtered by the two IRs, and
        converted back.
        ``"pseudo_midside"``: the two IRs are read as mid/side and converted to left/right
        (:math:`h_l = h_m + h_s`, :math:`h_r = h_m - h_s`) before filtering as in ``"stereo"``.

    Args:
        input_signals: ``(B, C, L)``.
        ir: ``(B, 1 or 2, N)``.
        processor_channel: one of :data:`REVERB_CHANNELS`.
        owner: name used in error messages.

    Returns:
        Wet output, ``(B, C', L)``.
    """
    channels = input_signals.shape[-2]
    if processor_channel != "mono" and channels not in (1, 2):
        raise AudioError(
            f"{owner}: processor_channel={processor_channel!r} takes mono or stereo input, "
            f"got C={channels}"
        )
    if processor_channel == "pseudo_midside":
        ir = ms_to_lr(ir)
    ir = normalize_impulse(ir)
    return apply_processor_channel(
        input_signals,
        "midside" if processor_channel == "midside" else "stereo",
        lambda x: convolve(x, ir.to(x.dtype), mode="causal"),
        owner,
    )
