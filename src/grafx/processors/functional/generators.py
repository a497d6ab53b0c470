r"""Signal generators as pure functions: band-limited oscillators, additive sinusoids, noise, ADSR.

A generator has no audio input: it makes ``(B, C, L)`` signals from its parameters ``(B, ...)``
and a length ``L`` (``num_samples``). Time is :math:`t = n / f_s`, :math:`n = 0, \dots, L - 1`.

Oscillators are sums of harmonics, each kept only below the Nyquist frequency, so they do not
alias at any frequency (band-limited by construction, not by an anti-aliasing filter):

.. math:: y[n] = g \sum_{k=1}^{K} a_k\, [k f < f_s / 2]\, \sin(2\pi k \varphi[n]),
    \qquad \varphi[n] = \operatorname{frac}(f n / f_s)

with the Fourier series of each waveform (:func:`harmonic_amplitudes`); as :math:`K` grows they
tend to ``scipy.signal``'s ``sawtooth(2 pi f t)``, ``square(2 pi f t)`` and (a quarter period
later) ``sawtooth(2 pi f t + pi / 2, 0.5)``. The phase :math:`\varphi` is reduced in float64 so
that long float32 signals keep their pitch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.core.utils import design_dtype

WAVEFORMS = ("sine", "sawtooth", "square", "triangle")


def frequency_from_z_frequency(z_frequency: Tensor, sample_rate: float) -> Tensor:
    r"""Frequency in Hz :math:`f = \tfrac{f_s}{2} \sigma(z)`, always in :math:`(0, f_s/2)`."""
    return 0.5 * sample_rate * torch.sigmoid(z_frequency)


def z_frequency_from_frequency(frequency: Tensor, sample_rate: float) -> Tensor:
    """Inverse of :func:`frequency_from_z_frequency` (for ``0 < f < sample_rate / 2``)."""
    return torch.logit(frequency / (0.5 * sample_rate))


def level_from_z_level(z_level: Tensor) -> Tensor:
    r"""A level in :math:`(0, 1)`: :math:`\sigma(z)` (the ADSR sustain level)."""
    return torch.sigmoid(z_level)


def z_level_from_level(level: Tensor) -> Tensor:
    """Inverse of :func:`level_from_z_level`."""
    return torch.logit(level)


def harmonic_amplitudes(waveform: str, num_harmonics: int, like: Tensor) -> Tensor:
    r"""Fourier sine-series amplitudes :math:`a_k`, ``(K,)``, of a unit waveform.

    * ``sine``: :math:`a_1 = 1`, the others 0;
    * ``sawtooth`` (rising from :math:`-1` at :math:`\varphi = 0` to :math:`1`, as
      ``scipy.signal.sawtooth``): :math:`a_k = -2 / (\pi k)`;
    * ``square``: :math:`a_k = 4 / (\pi k)` for odd :math:`k`;
    * ``triangle``: :math:`a_k = 8 (-1)^{(k-1)/2} / (\pi k)^2` for odd :math:`k`.
    """
    k = torch.arange(1, num_harmonics + 1, dtype=like.dtype, device=like.device)
    odd = (k % 2) == 1
    if waveform == "sine":
        return (k == 1).to(like.dtype)
    if waveform == "sawtooth":
        return -2 / (math.pi * k)
    if waveform == "square":
        return torch.where(odd, 4 / (math.pi * k), torch.zeros_like(k))
    if waveform == "triangle":
        sign = 1 - 2 * (((k - 1) / 2) % 2)
        return torch.where(odd, 8 * sign / (math.pi * k) ** 2, torch.zeros_like(k))
    raise ConfigError(f"unknown waveform {waveform!r}; choose from {WAVEFORMS}")


def _phase(frequency: Tensor, num_samples: int, sample_rate: float) -> Tensor:
    """``frac(f n / f_s)``, ``(B, K, L)`` from ``frequency (B, K)``, reduced in float64."""
    dtype = design_dtype(frequency)
    n = torch.arange(num_samples, dtype=dtype, device=frequency.device)
    cycles = frequency.to(dtype)[:, :, None] * (n / sample_rate)
    return torch.remainder(cycles, 1.0).to(frequency.dtype)


def additive_sinusoids(
    frequency: Tensor, amplitude: Tensor, num_samples: int, sample_rate: float
) -> Tensor:
    r"""Sum of sinusoids, each silenced at or above Nyquist.

    .. math:: y[n] = \sum_k A_k\, [f_k < f_s/2]\, \sin(2\pi\, \operatorname{frac}(f_k n / f_s))

    Args:
        frequency: Hz, ``(B, K)``.
        amplitude: linear amplitudes, ``(B, K)``.
        num_samples: ``L``.
        sample_rate: :math:`f_s` in Hz.

    Returns:
        Mono audio, ``(B, 1, L)``.
    """
    audible = (frequency < 0.5 * sample_rate).to(amplitude.dtype)
    phase = _phase(frequency, num_samples, sample_rate)
    sines = torch.sin(2 * math.pi * phase)
    return torch.einsum("bk,bkl->bl", amplitude * audible, sines)[:, None, :]


def oscillator(
    frequency: Tensor,
    gain: Tensor,
    num_samples: int,
    sample_rate: float,
    waveform: str = "sine",
    num_harmonics: int = 32,
) -> Tensor:
    r"""A band-limited oscillator (see the module's equation).

    Args:
        frequency: fundamental in Hz, ``(B, 1)``.
        gain: linear output gain :math:`g`, ``(B, 1)``.
        num_samples: ``L``.
        sample_rate: :math:`f_s` in Hz.
        waveform: one of :data:`WAVEFORMS`.
        num_harmonics: :math:`K` (1 for ``sine``).

    Returns:
        Mono audio, ``(B, 1, L)``.
    """
    num_harmonics = 1 if waveform == "sine" else num_harmonics
    a = harmonic_amplitudes(waveform, num_harmonics, frequency)
    k = torch.arange(1, num_harmonics + 1, dtype=frequency.dtype, device=frequency.device)
    keep = a != 0
    harmonics = frequency * k[keep]
    return additive_sinusoids(harmonics, gain * a[keep], num_samples, sample_rate)


def white_noise(gain: Tensor, num_samples: int, num_channels: int = 1, seed: int = 0) -> Tensor:
    r"""Seeded Gaussian white noise :math:`y_c[n] = g\, w_c[n]`, :math:`w \sim \mathcal{N}(0, 1)`.

    The same seed gives the same :math:`w` (drawn on the CPU, so on every device), and every row
    of the batch gets the same :math:`w`, so a batch of nodes equals the nodes one by one.

    Args:
        gain: linear gain, ``(B, 1)``.
        num_samples: ``L``.
        num_channels: ``C``.
        seed: seed of the noise.

    Returns:
        Audio, ``(B, C, L)``.
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(num_channels, num_samples, generator=generator, dtype=gain.dtype)
    return gain[:, :, None] * w.to(gain.device)


#: Bounds of :func:`time_from_log_time` in nepers: 2 ns to 15 years.
LOG_TIME_MAX = 20.0


def time_from_log_time(log_time: Tensor) -> Tensor:
    r"""A time in seconds, :math:`e^{\ell}` with :math:`\ell` clamped to :math:`\pm`
    :data:`LOG_TIME_MAX` so that neither the time nor its square under- or overflows float32."""
    return torch.exp(log_time.clamp(-LOG_TIME_MAX, LOG_TIME_MAX))


def log_time_from_time(time: Tensor) -> Tensor:
    """Inverse of :func:`time_from_log_time` (within its bounds)."""
    return torch.log(time)


def adsr_envelope(
    attack: Tensor,
    decay: Tensor,
    sustain: Tensor,
    release: Tensor,
    gate: Tensor,
    num_samples: int,
    sample_rate: float,
) -> Tensor:
    r"""A linear ADSR envelope for one note held from :math:`t = 0` to :math:`t = t_g`.

    .. math::
        s(t) = \begin{cases} t / t_a & t < t_a \\
            1 - (1 - S) \min\!\big(1, (t - t_a) / t_d\big) & t \ge t_a \end{cases}
        \qquad
        e(t) = \begin{cases} s(t) & t < t_g \\
            s(t_g) \max\!\big(0, 1 - (t - t_g) / t_r\big) & t \ge t_g \end{cases}

    A gate shorter than the attack releases from the level reached.

    Args:
        attack, decay, release, gate: times :math:`t_a, t_d, t_r, t_g` in seconds, ``(B, 1)``.
        sustain: level :math:`S`, ``(B, 1)``.
        num_samples: ``L``.
        sample_rate: :math:`f_s` in Hz.

    Returns:
        The envelope, ``(B, 1, L)``.
    """
    t = torch.arange(num_samples, dtype=attack.dtype, device=attack.device) / sample_rate

    def ads(time: Tensor) -> Tensor:
        # The safe-where pattern: the unselected branch divides by 1, not by a vanishing attack,
        # so its 0/0 or overflow cannot turn the selected branch's gradient into NaN.
        rising = time / torch.where(time < attack, attack, torch.ones_like(attack))
        falling = 1 - (1 - sustain) * torch.clamp((time - attack) / decay, max=1.0)
        return torch.where(time < attack, rising, falling)

    released = ads(gate) * torch.clamp(1 - (t - gate) / release, min=0.0)
    return torch.where(t < gate, ads(t), released)[:, None, :]
