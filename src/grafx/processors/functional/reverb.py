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

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

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
    rates, log_gains = [rate], [log_gain]
    if log_fade_in is not None and z_fade_in_gain is not None:
        fastest = decay_rate_from_ms(min_decay_ms, sr)
        fade_rate = rate + torch.sigmoid(log_fade_in) * (fastest - rate)
        # sigma(z) e^{g} e^{n rho} = exp(n rho + g + log sigma(z)), log sigma(z) = -softplus(-z).
        rates.append(fade_rate)
        log_gains.append(log_gain - F.softplus(-z_fade_in_gain))
    noise = noise_bands.to(rate.dtype)
    if noise.requires_grad or noise.shape[0] != rate.shape[-2]:
        # A learnable noise (plain autograd also differentiates it) or one broadcast over channels.
        envelope = exponential_envelope(rates[0], log_gains[0], ir_len)
        for r, g in zip(rates[1:], log_gains[1:], strict=True):
            envelope = envelope - exponential_envelope(r, g, ir_len)
        return (envelope * noise).sum(-2)
    return _ShapedNoise.apply(noise, torch.stack(rates, -1), torch.stack(log_gains, -1))


#: Elements of one chunk's ``(B, C, K, T)`` work buffer in :class:`_ShapedNoise` on one thread:
#: 8 MiB in float32, so a chunk's products stay in the last-level cache between the op that
#: makes them and the one that reduces them. The buffers are allocated once per call and reused
#: by every chunk (``out=`` and in-place ops), so no chunk pays for fresh pages.
_SHAPED_NOISE_CHUNK_ELEMENTS = 2**21

#: With several intra-op threads the chunks are this many times larger: each op is a fork and
#: join of the thread team, and on a busy machine every join waits for a thread that is not
#: running, so fewer, larger ops won there (``benchmarks/bench_reverb_ir.py``).
_THREADED_CHUNK_FACTOR = 4


def _segments(
    batch: int, length: int, rows: int, block: int
) -> list[tuple[int, int, int, int, int]]:
    """Chunks ``(first item, last item + 1, first sample, blocks, block width)``: whole blocks
    of a group of batch items, then the group's remainder, each of at most
    :data:`_SHAPED_NOISE_CHUNK_ELEMENTS` elements (times :data:`_THREADED_CHUNK_FACTOR` on
    several threads) where one block allows. ``rows``: rows per batch item (``C K``)."""
    full = length // block
    budget = _SHAPED_NOISE_CHUNK_ELEMENTS
    if torch.get_num_threads() > 1:
        budget *= _THREADED_CHUNK_FACTOR
    blocks = max(1, min(full, budget // (rows * block)))
    items = max(1, min(batch, budget // (rows * block * blocks)))
    segments = []
    for b0 in range(0, batch, items):
        b1 = min(b0 + items, batch)
        segments += [
            (b0, b1, j * block, min(blocks, full - j), block) for j in range(0, full, blocks)
        ]
        if full * block < length:
            segments.append((b0, b1, full * block, 1, length - full * block))
    return segments


def _coarse_fine(rate: Tensor, log_gain: Tensor, length: int, block: int) -> tuple[Tensor, Tensor]:
    # The factors of exponential_envelope, computed the same way so the products are identical.
    num_blocks = -(-length // block)
    steps = torch.arange(block, dtype=rate.dtype, device=rate.device)
    starts = torch.arange(num_blocks, dtype=rate.dtype, device=rate.device) * block
    coarse = torch.exp(log_gain[..., None] + rate[..., None] * starts)
    fine = torch.exp(rate[..., None] * steps)
    return coarse, fine


class _ShapedNoise(torch.autograd.Function):
    r""":math:`h[n] = \sum_k \nu_k[n] \big(e^{g_{k,0} + r_{k,0} n} - \sum_{m>0} e^{g_{k,m} + r_{k,m} n}\big)`.

    ``noise (C, K, N)``, ``rates`` and ``log_gains`` ``(B, C, K, M)``; returns ``(B, C, N)``.
    The same numbers as building the ``(B, C, K, N)`` envelope and summing its product with the
    noise (the envelope is the outer product of :func:`exponential_envelope`'s coarse and fine
    factors), computed chunk by chunk of time in one or two reused cache-sized buffers.

    The backward pass keeps and forms nothing of the envelope's size: with
    :math:`p_k[n] = \bar h[n]\,\nu_k[n]` and :math:`n = b j + i`, the gradients
    :math:`\partial L/\partial g = \sum_n p\,e` and :math:`\partial L/\partial r = \sum_n n\,p\,e`
    are :math:`\sum_j e^{g + r b j} (S_0[j], b j S_0[j] + S_1[j])` with the block sums
    :math:`S_0[j] = \sum_i p[bj+i] e^{r i}` and :math:`S_1[j] = \sum_i i\,p[bj+i] e^{r i}`,
    formed per chunk by one product with the fine exponentials, a sum and a matrix-vector
    product with :math:`i`.
    """

    BLOCK = 256

    @staticmethod
    def forward(ctx: Any, noise: Tensor, rates: Tensor, log_gains: Tensor) -> Tensor:
        block = _ShapedNoise.BLOCK
        length = noise.shape[-1]
        batch, channels, bands, terms = rates.shape
        # (M, B, C, K, J) and (M, B, C, K, b).
        coarse, fine = _coarse_fine(rates.movedim(-1, 0), log_gains.movedim(-1, 0), length, block)
        segments = _segments(batch, length, channels * bands, block)
        size = max((b1 - b0) * channels * bands * n * width for b0, b1, _, n, width in segments)
        work = noise.new_empty(size)
        spare = noise.new_empty(size if terms > 1 else 0)
        out = noise.new_empty(batch, channels, length)
        for b0, b1, start, n, width in segments:
            j0, stop = start // block, start + n * width
            shape = (b1 - b0, channels, bands, n, width)
            w = work[: shape[0] * channels * bands * n * width].view(shape)
            c, f = coarse[:, b0:b1, ..., j0 : j0 + n, None], fine[:, b0:b1, ..., None, :width]
            torch.mul(c[0], f[0], out=w)
            for m in range(1, terms):
                s = spare[: w.numel()].view(shape)
                torch.mul(c[m], f[m], out=s)
                w.sub_(s)
            w.mul_(noise[..., start:stop].unflatten(-1, (n, width)))
            torch.sum(w, 2, out=out[b0:b1, :, start:stop].unflatten(-1, (n, width)))
        # The factors are small, (M, B, C, K, J + b): kept rather than made again.
        ctx.save_for_backward(noise, rates, coarse, fine)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[None, Tensor | None, Tensor | None]:
        noise, rates, coarse, fine = ctx.saved_tensors
        block = _ShapedNoise.BLOCK
        length = noise.shape[-1]
        batch, channels, bands, terms = rates.shape
        num_blocks = -(-length // block)
        steps = torch.arange(block, dtype=rates.dtype, device=rates.device)
        segments = _segments(batch, length, channels * bands, block)
        size = max((b1 - b0) * channels * bands * n * width for b0, b1, _, n, width in segments)
        work = rates.new_empty(size)
        spare = rates.new_empty(size if terms > 1 else 0)
        # Block sums S_0 and S_1 per term, (M, 2, B, C, K, J).
        sums = rates.new_empty(terms, 2, batch, channels, bands, num_blocks)
        for b0, b1, start, n, width in segments:
            j0, stop = start // block, start + n * width
            shape = (b1 - b0, channels, bands, n, width)
            product = work[: shape[0] * channels * bands * n * width].view(shape)
            torch.mul(
                grad_out[b0:b1, :, None, start:stop].unflatten(-1, (n, width)),
                noise[..., start:stop].unflatten(-1, (n, width)),
                out=product,
            )
            for m in range(terms):
                if terms == 1:
                    weighted = product.mul_(fine[m, b0:b1, ..., None, :width])
                else:
                    weighted = spare[: product.numel()].view(shape)
                    torch.mul(product, fine[m, b0:b1, ..., None, :width], out=weighted)
                torch.sum(weighted, -1, out=sums[m, 0, b0:b1, ..., j0 : j0 + n])
                sums[m, 1, b0:b1, ..., j0 : j0 + n] = (
                    weighted.view(-1, width) @ steps[:width]
                ).view(shape[:-1])
        offsets = torch.arange(num_blocks, dtype=rates.dtype, device=rates.device) * block
        sign = torch.ones(terms, 1, 1, 1, dtype=rates.dtype, device=rates.device)
        sign[1:] = -1
        grad_gain = (coarse * sums[:, 0]).sum(-1) * sign
        grad_rate = (coarse * (offsets * sums[:, 0] + sums[:, 1])).sum(-1) * sign
        return None, grad_rate.movedim(0, -1), grad_gain.movedim(0, -1)


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
