r"""Modulation effects: chorus and flanger (LFO-modulated fractional delays), phaser.

See :mod:`grafx.processors.functional.modulation` for the equation of the chorus and the
flanger; both are feed-forward
(no feedback path), ``(B, C, L)`` to ``(B, C, L)``, with parameters, each ``(1,)``:
``z_rate`` (:math:`r = r_\max \sigma(z)` Hz), ``z_depth`` (:math:`\Delta = \Delta_\max
\sigma(z)`) and ``z_mix`` (:math:`w = \sigma(z)`).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.functional.modulation import modulated_delay
from grafx.processors.functional.phaser import phaser


def _check_positive(owner: str, values: dict[str, object]) -> None:
    for name, value in values.items():
        if not isinstance(value, numbers.Real) or not float(value) > 0:
            raise ConfigError(f"{owner}: {name} must be a positive number, got {value!r}")


class _LFOEffect(Processor, register=False):
    r"""An LFO-swept effect, ``(B, C, L)`` to ``(B, C, L)``, whose parameters, each ``(1,)``,
    map to the rate :math:`r = r_\max \sigma(z)` Hz, the depth (``max_depth`` times
    :math:`\sigma(z)`) and the wet mix :math:`w = \sigma(z)`; :meth:`_sweep` applies them."""

    max_rate_hz: float
    max_depth: float

    def forward(
        self, input_signals: Tensor, z_rate: Tensor, z_depth: Tensor, z_mix: Tensor
    ) -> Tensor:
        """``(B, C, L)`` and ``(B, 1)`` parameters to ``(B, C, L)``."""
        return self._sweep(
            input_signals,
            self.max_rate_hz * torch.sigmoid(z_rate),
            self.max_depth * torch.sigmoid(z_depth),
            torch.sigmoid(z_mix),
        )

    def _sweep(self, input_signals: Tensor, rate: Tensor, depth: Tensor, mix: Tensor) -> Tensor:
        raise NotImplementedError

    def parameter_size(self) -> ParameterSize:
        return {"z_rate": 1, "z_depth": 1, "z_mix": 1}


class _ModulatedDelay(_LFOEffect, register=False):
    """Shared constructor and sweep of :class:`Chorus` and :class:`Flanger`."""

    sample_rate: float
    base_delay: float
    stereo_phase: float
    max_delay: int
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        sample_rate: float,
        base_delay_ms: float,
        max_depth_ms: float,
        max_rate_hz: float,
        stereo_phase: float,
    ):
        super().__init__()
        owner = type(self).__name__
        _check_positive(
            owner,
            {"sample_rate": sample_rate, "max_depth_ms": max_depth_ms, "max_rate_hz": max_rate_hz},
        )
        if not isinstance(base_delay_ms, numbers.Real) or base_delay_ms < 0:
            raise ConfigError(f"{owner}: base_delay_ms must be >= 0, got {base_delay_ms!r}")
        self.sample_rate = float(sample_rate)
        self.base_delay = base_delay_ms * 1e-3 * self.sample_rate
        self.max_depth = max_depth_ms * 1e-3 * self.sample_rate
        self.max_rate_hz = float(max_rate_hz)
        self.stereo_phase = float(stereo_phase)
        self.max_delay = math.ceil(self.base_delay + self.max_depth) + 1

    def _sweep(self, input_signals: Tensor, rate: Tensor, depth: Tensor, mix: Tensor) -> Tensor:
        return modulated_delay(
            input_signals,
            rate,
            depth,
            mix,
            self.base_delay,
            self.max_delay,
            self.sample_rate,
            self.stereo_phase,
        )


class Chorus(_ModulatedDelay):
    r"""Chorus: a 15 ms delay swept by up to ``max_depth_ms``, the right channel's LFO a
    quarter period ahead of the left's (``stereo_phase`` is added to the right LFO's phase, so
    the right channel's delay reaches each value a quarter period earlier).

    Args:
        sample_rate: :math:`f_s` in Hz.
        base_delay_ms, max_depth_ms, max_rate_hz: :math:`d_0`, :math:`\Delta_\max`,
            :math:`r_\max`.
        stereo_phase: LFO phase of the second channel, radians.
    """

    def __init__(
        self,
        sample_rate: float = 44100.0,
        base_delay_ms: float = 15.0,
        max_depth_ms: float = 10.0,
        max_rate_hz: float = 5.0,
        stereo_phase: float = math.pi / 2,
    ):
        super().__init__(sample_rate, base_delay_ms, max_depth_ms, max_rate_hz, stereo_phase)


class Flanger(_ModulatedDelay):
    r"""Flanger: a short delay (from 0.5 ms, swept by up to 5 ms) mixed with the dry signal,
    a comb filter whose notches sweep. Arguments as :class:`Chorus`."""

    def __init__(
        self,
        sample_rate: float = 44100.0,
        base_delay_ms: float = 0.5,
        max_depth_ms: float = 5.0,
        max_rate_hz: float = 2.0,
        stereo_phase: float = 0.0,
    ):
        super().__init__(sample_rate, base_delay_ms, max_depth_ms, max_rate_hz, stereo_phase)


class Phaser(_LFOEffect):
    r"""Phaser: a swept chain of first-order all-passes mixed with the dry signal, applied frame
    by frame in an STFT (see :mod:`grafx.processors.functional.phaser`), ``(B, C, L)`` to
    ``(B, C, L)``. Parameters ``z_rate``, ``z_depth`` (:math:`\delta = \delta_\max \sigma(z)`)
    and ``z_mix``, each ``(1,)``.

    Args:
        sample_rate: :math:`f_s` in Hz.
        center_hz: :math:`f_c`.
        num_stages: :math:`K` all-passes (4: two notches).
        max_rate_hz: :math:`r_\max`.
        max_depth: :math:`\delta_\max` (natural log of the sweep's frequency ratio).
        n_fft: STFT length in samples at ``sample_rate`` (hop a quarter of it); the sweep is
            constant within a frame, so the frames' duration barely matters.
    """

    sample_rate: float
    center_hz: float
    num_stages: int
    n_fft: int
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        sample_rate: float = 44100.0,
        center_hz: float = 1000.0,
        num_stages: int = 4,
        max_rate_hz: float = 2.0,
        max_depth: float = 2.0,
        n_fft: int = 1024,
    ):
        super().__init__()
        _check_positive(
            "Phaser",
            {"sample_rate": sample_rate, "max_rate_hz": max_rate_hz, "max_depth": max_depth},
        )
        if not 0 < center_hz < sample_rate / 2:
            raise ConfigError(
                f"Phaser: center_hz must be in (0, sample_rate / 2), got {center_hz!r}"
            )
        if not isinstance(num_stages, numbers.Integral) or num_stages < 1:
            raise ConfigError(f"Phaser: num_stages must be a positive int, got {num_stages!r}")
        if not isinstance(n_fft, numbers.Integral) or n_fft < 8 or n_fft % 4:
            raise ConfigError(f"Phaser: n_fft must be a multiple of 4, at least 8, got {n_fft!r}")
        self.sample_rate, self.center_hz = float(sample_rate), float(center_hz)
        self.num_stages, self.n_fft = int(num_stages), int(n_fft)
        self.max_rate_hz, self.max_depth = float(max_rate_hz), float(max_depth)

    def _sweep(self, input_signals: Tensor, rate: Tensor, depth: Tensor, mix: Tensor) -> Tensor:
        return phaser(
            input_signals,
            rate,
            depth,
            mix,
            self.center_hz,
            self.num_stages,
            self.sample_rate,
            self.n_fft,
        )
