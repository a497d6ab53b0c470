r"""Noise-based reverbs: STFT-masked noise and filtered-noise shaping (graph nodes).

Both output the *wet* signal only, with an energy-normalised impulse response (IR), so the
overall level is not a parameter: wrap them in :class:`~grafx.processors.container.DryWet` or
follow them with a gain. Noise is reproducible: each class takes a ``seed`` (default 0) or a
``generator``, and the default noise is drawn once at construction and kept as a buffer, so a fit
sees the same reverb at every step.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.deprecation import warn_deprecated
from grafx.processors.core.midside import check_processor_channel
from grafx.processors.core.noise import filtered_noise, make_generator, uniform_noise
from grafx.processors.core.rate import apply_ir_at_rate, check_rate, reference_or
from grafx.processors.functional.reverb import (
    REVERB_CHANNELS,
    filtered_noise_shaping_ir,
    stft_masked_noise_ir,
)

__all__ = ["STFTMaskedNoiseReverb", "FilteredNoiseShapingReverb", "MidSideFilteredNoiseReverb"]

_NOISE_RANDOMNESS = ("pseudo-random", "fixed")

#: The rate FilteredNoiseShapingReverb assumes when no ``sr`` is given (the original's default).
DEFAULT_SAMPLE_RATE = 30000
#: Its highest crossover when no ``f_max`` is given, lowered to ``sr / 2`` at low rates.
DEFAULT_F_MAX = 15000.0


class SampleRateWarning(UserWarning):
    """A processor whose behaviour depends on the sample rate was built without one."""


class STFTMaskedNoiseReverb(Processor):
    r"""Reverb whose IR is noise shaped by a decaying time-frequency magnitude mask.

    Two uniform noises in :math:`[-1, 1)` (mid and side, or left and right) are analysed with a
    periodic Hann STFT (``center=True``). Each bin :math:`k` of channel :math:`c` is scaled by

    .. math::
        |H_c[k, m]| = \exp\!\big((H^0_c[k] - \mathrm{softplus}(H^\Delta_c[k])\, m + G_c[m]) / 8\big)

    at frame :math:`m` (the division by 8 is the original's scaling, kept so that zero
    parameters give a decay of about 0.35 s at 44.1 kHz), and the inverse STFT gives an IR of
    ``ir_len`` samples. The IR is normalised to unit energy and convolved with the input (exact FFT
    convolution of a fast length). See
    :func:`grafx.processors.functional.reverb.stft_masked_noise_ir`.

    Channel modes (``processor_channel``): ``"pseudo_midside"`` (default; the two IRs are mid and
    side, converted to left/right), ``"stereo"``, ``"midside"`` (the input is filtered in M/S) and
    ``"mono"`` (one IR for every channel).

    Differences from the original (bugs fixed): ``"mono"`` filters every channel with one IR and
    keeps the input's channel count (the original returned stereo), so its parameters are
    ``(1, F)`` in that mode; an unknown ``processor_channel`` raises :class:`ConfigError` at
    construction (the original failed at the first forward); the noise is seeded.

    Args:
        ir_len: IR length ``N`` in samples.
        processor_channel: ``"pseudo_midside"``, ``"stereo"``, ``"midside"`` or ``"mono"``.
        n_fft: STFT size; ``F = n_fft // 2 + 1`` bins.
        hop_length: STFT hop; ``M = 1 + ir_len // hop_length`` frames.
        fixed_noise: keep one noise (drawn at construction) for every call; otherwise draw fresh
            noise per call and per node from the module's generator.
        gain_envelope: add a per-frame log-gain ``gain_env_log_magnitude`` ``(C, M)``.
        flashfftconv: accepted for compatibility; the exact FFT path is always used.
        max_input_len: accepted for compatibility.
        seed: seed of the noise generator (``None``: seeded by the operating system).
        generator: a ``torch.Generator`` to draw from instead of ``seed``.
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate at which ``ir_len``, ``n_fft``, ``hop_length`` (so the
            parameters' bins and frames) are defined (default ``sample_rate``, 44.1 kHz); at
            another ``sample_rate`` the IR is made there, normalised and resampled
            (:func:`~grafx.processors.core.rate.apply_ir_at_rate`): the same reverb in Hz and
            seconds.
    """

    ignored_arguments = ("flashfftconv", "max_input_len")
    sample_rate_argument = "sample_rate"
    window: Tensor
    noise: Tensor

    def __init__(
        self,
        ir_len: int = 60000,
        processor_channel: str = "pseudo_midside",
        n_fft: int = 384,
        hop_length: int = 192,
        fixed_noise: bool = True,
        gain_envelope: bool = False,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        self.sample_rate = check_rate(name, sample_rate)
        self.reference_rate = reference_or(name, reference_rate, self.sample_rate)
        self.processor_channel = check_processor_channel(processor_channel, name, REVERB_CHANNELS)
        if ir_len < 1 or n_fft < 2 or hop_length < 1:
            raise ConfigError(
                f"{name}: ir_len, n_fft and hop_length must be positive (n_fft >= 2), got "
                f"{ir_len}, {n_fft}, {hop_length}"
            )
        self.ir_len = int(ir_len)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.fixed_noise = bool(fixed_noise)
        self.gain_envelope = bool(gain_envelope)
        self.max_input_len = max_input_len
        self.num_channels = 1 if processor_channel == "mono" else 2
        self.num_bins = self.n_fft // 2 + 1
        self.num_frames = 1 + self.ir_len // self.hop_length
        self.generator = make_generator(seed, generator)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        noise = uniform_noise((self.num_channels, self.ir_len), self.generator, torch.float64)
        self.register_buffer("noise", noise if self.fixed_noise else noise[:0], persistent=False)
        self._stft_cache: dict = {}

    def _stft(self, noise: Tensor) -> Tensor:
        window = self.window.to(dtype=noise.dtype, device=noise.device)
        lead = noise.shape[:-1]
        spec = torch.stft(
            noise.reshape(-1, noise.shape[-1]),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=window,
            center=True,
            return_complex=True,
        )
        return spec.reshape(*lead, *spec.shape[-2:])

    def noise_stft(self, batch_size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """STFT of the noise: the cached fixed one ``(C, F, M)``, or fresh ``(B, C, F, M)``."""
        if not self.fixed_noise:
            noise = uniform_noise(
                (batch_size, self.num_channels, self.ir_len), self.generator, dtype, device
            )
            return self._stft(noise)
        noise = self.noise.to(dtype=dtype, device=device)
        if torch.is_inference_mode_enabled():
            # An inference tensor in the cache would break later training calls.
            return self._stft(noise)
        key = (dtype, str(device), self.noise.data_ptr())
        if key not in self._stft_cache:
            self._stft_cache = {key: self._stft(noise)}
        return self._stft_cache[key]

    def impulse_response(
        self,
        init_log_magnitude: Tensor,
        delta_log_magnitude: Tensor,
        gain_env_log_magnitude: Tensor | None = None,
    ) -> Tensor:
        """The raw (not normalised) IRs, ``(B, C, ir_len)``, before any mid/side conversion."""
        noise_stft = self.noise_stft(
            init_log_magnitude.shape[0], init_log_magnitude.dtype, init_log_magnitude.device
        )
        return stft_masked_noise_ir(
            noise_stft,
            init_log_magnitude,
            delta_log_magnitude,
            self.window.to(dtype=init_log_magnitude.dtype, device=init_log_magnitude.device),
            self.n_fft,
            self.hop_length,
            self.ir_len,
            gain_env_log_magnitude,
        )

    def forward(
        self,
        input_signals: Tensor,
        init_log_magnitude: Tensor,
        delta_log_magnitude: Tensor,
        gain_env_log_magnitude: Tensor | None = None,
    ) -> Tensor:
        """Reverberate ``input_signals (B, C, L)``; parameters ``(B, *parameter_size()[k])``.

        Returns:
            The wet signal, ``(B, C', L)``: ``C' = C`` for ``"mono"``/``"midside"``, else 2.
        """
        ir = self.impulse_response(init_log_magnitude, delta_log_magnitude, gain_env_log_magnitude)
        return apply_ir_at_rate(
            input_signals,
            ir,
            self.processor_channel,
            type(self).__name__,
            self.reference_rate,
            self.sample_rate,
        )

    def parameter_size(self) -> ParameterSize:
        size: ParameterSize = {
            "init_log_magnitude": (self.num_channels, self.num_bins),
            "delta_log_magnitude": (self.num_channels, self.num_bins),
        }
        if self.gain_envelope:
            size["gain_env_log_magnitude"] = (self.num_channels, self.num_frames)
        return size


class MidSideFilteredNoiseReverb(STFTMaskedNoiseReverb):
    """Deprecated name of ``STFTMaskedNoiseReverb(processor_channel="pseudo_midside")``.

    Kept for code written for grafx 0.5 (the seed documentation uses it): same parameters
    (``init_log_magnitude`` and ``delta_log_magnitude``, ``(2, 193)`` by default) and the same
    output. Warns once per process with a :class:`DeprecationWarning`. Rate-bound: its lengths
    are samples at whatever rate it is given (the new name takes ``sample_rate``).
    """

    rate_bound = "a deprecated name without a sample rate; STFTMaskedNoiseReverb takes one"

    def __init__(
        self,
        ir_len: int = 60000,
        n_fft: int = 384,
        hop_length: int = 192,
        fixed_noise: bool = True,
        gain_envelope: bool = False,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
    ):
        warn_deprecated(
            "MidSideFilteredNoiseReverb",
            'STFTMaskedNoiseReverb(processor_channel="pseudo_midside")',
        )
        super().__init__(
            ir_len=ir_len,
            processor_channel="pseudo_midside",
            n_fft=n_fft,
            hop_length=hop_length,
            fixed_noise=fixed_noise,
            gain_envelope=gain_envelope,
            flashfftconv=flashfftconv,
            max_input_len=max_input_len,
            seed=seed,
            generator=generator,
        )


class FilteredNoiseShapingReverb(Processor):
    r"""Reverb whose IR is band-split noise with an exponential decay and a gain per band.

    .. math::
        h_c[n] = \sum_{k} e^{g_{c,k}}\, e^{n r_{c,k}}\, \nu_{c,k}[n], \qquad
        r_{c,k} = r_{\min} + \sigma(\ell_{c,k})\,(r_{\max} - r_{\min})

    where :math:`\nu_{c,k}` is uniform noise split into ``num_bands`` bands by Butterworth
    crossovers spaced on ``scale`` between ``f_min`` and ``f_max``, and :math:`r_t` is the
    per-sample log-amplitude slope that drops 60 dB in :math:`t` ms (:math:`r_{\min}` for
    ``min_decay_ms``, :math:`r_{\max}` for ``max_decay_ms``). With ``use_fade_in`` a faster
    decaying copy weighted by :math:`\sigma(z)` is subtracted, giving a fade-in. The IR is
    normalised to unit energy and convolved with the input. See
    :func:`grafx.processors.functional.reverb.filtered_noise_shaping_ir`.

    Noise: ``"fixed"`` (default) keeps one band-split noise of ``ir_len`` samples, the same at
    every call, so a fit sees the same reverb at every step; ``"pseudo-random"`` (the original's
    default) keeps ``5 * ir_len`` samples and takes a random crop of ``ir_len`` per call (the same
    crop for the whole batch) from the module's seeded generator, so the sequence of crops is
    reproducible.

    Differences from the original (bugs fixed): ``log_gain`` is a natural-log gain,
    :math:`e^{g}` (the original multiplied by it linearly, so it could flip polarity);
    ``"pseudo_midside"`` works (the original's constructor crashed on it); the noise is seeded,
    and fixed by default.

    Args:
        ir_len: IR length ``N``.
        num_bands: number of bands ``K``.
        processor_channel: ``"midside"`` (default, stereo input), ``"stereo"``,
            ``"pseudo_midside"`` or ``"mono"``; ``C = 1`` for mono, else 2.
        f_min, f_max: lowest and highest band edge in Hz; ``f_max=None`` is
            ``min(15000, sr / 2)`` (so ``sr=16000`` alone works; it raised before).
        scale: crossover spacing, ``"log"`` or ``"linear"``.
        sr: sample rate in Hz of the audio: the decay times and the crossovers are set for it.
            Give it: without it a :class:`SampleRateWarning` says that 30 kHz is assumed (the
            original's silent default, wrong elsewhere: with ``log_decay = 0`` the 60 dB
            decay is 97.6 ms at 30 kHz but 66.4 ms when the audio is at 44.1 kHz).
        zerophase: zero-phase (forward-backward) crossover filters.
        order: Butterworth order of each crossover filter.
        noise_randomness: ``"fixed"`` (default) or ``"pseudo-random"``.
        use_fade_in: add the ``log_fade_in`` and ``z_fade_in_gain`` parameters.
        min_decay_ms, max_decay_ms: range of the 60 dB decay time of each band.
        flashfftconv, max_input_len: accepted for compatibility.
        seed: seed of the noise generator (``None``: seeded by the operating system).
        generator: a ``torch.Generator`` to draw from instead of ``seed``.
        reference_rate: the rate at which the IR (``ir_len`` samples, noise, crossovers,
            decays) is made (default ``sr``); at another ``sr`` it is normalised there and
            resampled (:func:`~grafx.processors.core.rate.apply_ir_at_rate`).
    """

    ignored_arguments = ("flashfftconv", "max_input_len")
    sample_rate_argument = "sr"
    assumed_sample_rate = float(DEFAULT_SAMPLE_RATE)
    noise: Tensor

    def __init__(
        self,
        ir_len: int = 60000,
        num_bands: int = 12,
        processor_channel: str = "midside",
        f_min: float = 31.5,
        f_max: float | None = None,
        scale: str = "log",
        sr: float | None = None,
        zerophase: bool = True,
        order: int = 2,
        noise_randomness: str = "fixed",
        use_fade_in: bool = False,
        min_decay_ms: float = 50,
        max_decay_ms: float = 2000,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        reference_rate: float | None = None,
    ):
        super().__init__()
        name = type(self).__name__
        self.processor_channel = check_processor_channel(processor_channel, name, REVERB_CHANNELS)
        if noise_randomness not in _NOISE_RANDOMNESS:
            raise ConfigError(
                f"{name}: unknown noise_randomness {noise_randomness!r}; "
                f"use one of {_NOISE_RANDOMNESS}"
            )
        if not 0 < min_decay_ms <= max_decay_ms:
            raise ConfigError(
                f"{name}: need 0 < min_decay_ms <= max_decay_ms, got {min_decay_ms}, {max_decay_ms}"
            )
        if sr is None:
            warnings.warn(
                f"{name}: no sr given; decay times and crossovers assume {DEFAULT_SAMPLE_RATE} Hz "
                "(the original's default), so at another rate every decay time is scaled by "
                f"{DEFAULT_SAMPLE_RATE}/rate (a 97.6 ms T60 plays as 66.4 ms at 44.1 kHz); pass "
                "the sample rate of the audio as sr=...",
                SampleRateWarning,
                stacklevel=2,
            )
            sr = DEFAULT_SAMPLE_RATE
        self.sr = check_rate(name, sr, "sr")
        self.reference_rate = reference_or(name, reference_rate, self.sr)
        sr = self.reference_rate  # the IR is made at the reference rate
        if f_max is None:
            f_max = min(DEFAULT_F_MAX, sr / 2)
        if not 0 < f_min < f_max <= sr / 2:
            raise ConfigError(
                f"{name}: need 0 < f_min < f_max <= sr / 2, got f_min={f_min}, f_max={f_max}, "
                f"sr={sr}"
            )
        self.ir_len = int(ir_len)
        self.num_bands = int(num_bands)
        self.num_channels = 1 if processor_channel == "mono" else 2
        self.noise_randomness = noise_randomness
        self.use_fade_in = bool(use_fade_in)
        self.min_decay_ms = float(min_decay_ms)
        self.max_decay_ms = float(max_decay_ms)
        self.max_input_len = max_input_len
        self.generator = make_generator(seed, generator)
        noise_len = self.ir_len * (5 if noise_randomness == "pseudo-random" else 1)
        noise = filtered_noise(
            noise_len,
            self.num_channels,
            self.num_bands,
            f_min,
            f_max,
            scale,
            sr,
            zerophase,
            order,
            generator=self.generator,
        )
        self.register_buffer("noise", noise.float(), persistent=False)

    def noise_crop(self) -> Tensor:
        """The band noise used by the next call, ``(C, K, ir_len)``."""
        if self.noise_randomness == "fixed":
            return self.noise
        start = int(
            torch.randint(0, self.noise.shape[-1] - self.ir_len + 1, (), generator=self.generator)
        )
        return self.noise[..., start : start + self.ir_len]

    def impulse_response(
        self,
        log_decay: Tensor,
        log_gain: Tensor,
        log_fade_in: Tensor | None = None,
        z_fade_in_gain: Tensor | None = None,
        noise_bands: Tensor | None = None,
    ) -> Tensor:
        """The raw (not normalised) IRs, ``(B, C, ir_len)``, before any mid/side conversion."""
        if noise_bands is None:
            noise_bands = self.noise_crop()
        return filtered_noise_shaping_ir(
            noise_bands.to(dtype=log_decay.dtype, device=log_decay.device),
            log_decay,
            log_gain,
            self.reference_rate,
            self.min_decay_ms,
            self.max_decay_ms,
            log_fade_in if self.use_fade_in else None,
            z_fade_in_gain if self.use_fade_in else None,
        )

    def forward(
        self,
        input_signals: Tensor,
        log_decay: Tensor,
        log_gain: Tensor,
        log_fade_in: Tensor | None = None,
        z_fade_in_gain: Tensor | None = None,
    ) -> Tensor:
        """Reverberate ``input_signals (B, C, L)``; parameters ``(B, C, K)`` each.

        Returns:
            The wet signal, ``(B, C', L)``: ``C' = C`` for ``"mono"``/``"midside"``, else 2.
        """
        ir = self.impulse_response(log_decay, log_gain, log_fade_in, z_fade_in_gain)
        return apply_ir_at_rate(
            input_signals,
            ir,
            self.processor_channel,
            type(self).__name__,
            self.reference_rate,
            self.sr,
        )

    def parameter_size(self) -> ParameterSize:
        shape = (self.num_channels, self.num_bands)
        size: ParameterSize = {"log_decay": shape, "log_gain": shape}
        if self.use_fade_in:
            size["log_fade_in"] = shape
            size["z_fade_in_gain"] = shape
        return size
