r"""Generators: graph nodes with no audio input (oscillators, additive sinusoids, noise, ADSR).

A generator's node type has no inlet, e.g. ``NodeConfigs({"osc": {"inlets": [], "outlets":
["main"]}, ...})``. Its ``forward`` takes only ``num_samples`` and its parameters; inside a graph,
:func:`~grafx.render.graph.render_grafx` passes ``num_samples`` (the sources' length ``L``) to
every processor whose ``input_names`` is empty. A graph still has an ``in`` node, whose source
sets the length (and may feed nothing). See :mod:`grafx.processors.functional.generators` for
the equations.

Example:
    >>> import torch
    >>> osc = SawtoothOscillator(sample_rate=8000, num_harmonics=8)
    >>> osc(num_samples=16, z_frequency=torch.zeros(3, 1), log_gain=torch.zeros(3, 1)).shape
    torch.Size([3, 1, 16])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from grafx.errors import AudioError, ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.rate import reference_or
from grafx.processors.core.validation import as_parameter_dict, check_parameters
from grafx.processors.functional.generators import (
    additive_sinusoids,
    adsr_envelope,
    frequency_from_z_frequency,
    level_from_z_level,
    oscillator,
    time_from_log_time,
    white_noise_samples,
)


class Generator(Processor, register=False):
    """Base of processors without audio input: ``forward(num_samples, **parameters)``.

    The batch size is that of the parameters; ``num_samples`` must be a positive integer.
    Subclasses set ``input_names = ()`` (inherited), which is how the render engine knows to
    pass ``num_samples``.
    """

    input_names: ClassVar[tuple[str, ...]] = ()
    sample_rate_argument: ClassVar[str | None] = "sample_rate"

    def check_call(self, inputs: Sequence[tuple[str, Any]], parameters: dict[str, Any]) -> None:
        parameters = dict(parameters)
        num_samples = parameters.pop("num_samples", None)
        if (
            not isinstance(num_samples, numbers.Integral)
            or isinstance(num_samples, bool)
            or num_samples < 1
        ):
            raise AudioError(
                f"{type(self).__name__}: num_samples must be a positive integer, "
                f"got {num_samples!r}"
            )
        self.check_inputs(inputs)
        # No input gives the batch: the parameters must agree on it.
        firsts = {
            k: int(v.shape[0]) for k, v in parameters.items() if isinstance(v, Tensor) and v.ndim
        }
        if len(set(firsts.values())) > 1:
            listed = ", ".join(f"{k!r} has {b}" for k, b in firsts.items())
            raise ParameterError(
                f"{type(self).__name__}: the parameters disagree on the batch size: {listed}"
            )
        batch = next(iter(firsts.values()), 1)
        check_parameters(
            type(self).__name__, batch, as_parameter_dict(parameters), self.parameter_size()
        )


def _check_sample_rate(owner: str, sample_rate: float) -> float:
    if not isinstance(sample_rate, numbers.Real) or not sample_rate > 0:
        raise ConfigError(f"{owner}: sample_rate must be a positive number, got {sample_rate!r}")
    return float(sample_rate)


class _Oscillator(Generator, register=False):
    r"""A band-limited oscillator: :math:`y = g \sum_k a_k [k f < f_s/2] \sin(2\pi k\varphi)`.

    Parameters: ``z_frequency (1,)`` (:math:`f = \tfrac{f_\mathrm{ref}}{2}\sigma(z)`, see
    :func:`~grafx.processors.functional.generators.frequency_from_z_frequency`) and
    ``log_gain (1,)`` (:math:`g = e^{v}`). Output: mono, ``(B, 1, num_samples)``.

    Args:
        sample_rate: :math:`f_s` in Hz.
        num_harmonics: :math:`K`, the highest harmonic kept (those at or above Nyquist are
            dropped at every frequency).
        reference_rate: :math:`f_\mathrm{ref}`, the rate ``z_frequency`` is defined at
            (default ``sample_rate``); the frequency in Hz does not depend on ``sample_rate``.
    """

    waveform: ClassVar[str] = "sine"
    sample_rate: float
    num_harmonics: int

    def __init__(
        self,
        sample_rate: float = 44100.0,
        num_harmonics: int = 32,
        reference_rate: float | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        self.sample_rate = _check_sample_rate(owner, sample_rate)
        self.reference_rate: float = reference_or(owner, reference_rate, self.sample_rate)
        if not isinstance(num_harmonics, numbers.Integral) or num_harmonics < 1:
            raise ConfigError(
                f"{owner}: num_harmonics must be a positive int, got {num_harmonics!r}"
            )
        self.num_harmonics = int(num_harmonics)

    def forward(self, num_samples: int, z_frequency: Tensor, log_gain: Tensor) -> Tensor:
        """Render ``(B, 1, num_samples)`` from ``z_frequency (B, 1)`` and ``log_gain (B, 1)``."""
        frequency = frequency_from_z_frequency(z_frequency, self.reference_rate)
        return oscillator(
            frequency,
            torch.exp(log_gain),
            int(num_samples),
            self.sample_rate,
            self.waveform,
            self.num_harmonics,
        )

    def parameter_size(self) -> ParameterSize:
        return {"z_frequency": 1, "log_gain": 1}


class SineOscillator(_Oscillator):
    __doc__ = _Oscillator.__doc__
    waveform = "sine"


class SawtoothOscillator(_Oscillator):
    __doc__ = _Oscillator.__doc__
    waveform = "sawtooth"


class SquareOscillator(_Oscillator):
    __doc__ = _Oscillator.__doc__
    waveform = "square"


class TriangleOscillator(_Oscillator):
    __doc__ = _Oscillator.__doc__
    waveform = "triangle"


class AdditiveSynth(Generator):
    r"""A sum of ``num_sinusoids`` free sinusoids, :math:`y = \sum_k e^{v_k} \sin(2\pi f_k t)`.

    Each partial above Nyquist is silenced. Parameters: ``z_frequency (K,)`` (as the
    oscillators) and ``log_amplitude (K,)``. Output: mono, ``(B, 1, num_samples)``.

    Args:
        num_sinusoids: :math:`K`.
        sample_rate: :math:`f_s` in Hz.
        reference_rate: the rate ``z_frequency`` is defined at (default ``sample_rate``).
    """

    num_sinusoids: int
    sample_rate: float

    def __init__(
        self,
        num_sinusoids: int = 8,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        if not isinstance(num_sinusoids, numbers.Integral) or num_sinusoids < 1:
            raise ConfigError(
                f"AdditiveSynth: num_sinusoids must be a positive int, got {num_sinusoids!r}"
            )
        self.num_sinusoids = int(num_sinusoids)
        self.sample_rate = _check_sample_rate("AdditiveSynth", sample_rate)
        self.reference_rate: float = reference_or("AdditiveSynth", reference_rate, self.sample_rate)

    def forward(self, num_samples: int, z_frequency: Tensor, log_amplitude: Tensor) -> Tensor:
        """Render ``(B, 1, num_samples)`` from ``(B, K)`` frequencies and amplitudes."""
        frequency = frequency_from_z_frequency(z_frequency, self.reference_rate)
        return additive_sinusoids(
            frequency, torch.exp(log_amplitude), int(num_samples), self.sample_rate
        )

    def parameter_size(self) -> ParameterSize:
        return {"z_frequency": self.num_sinusoids, "log_amplitude": self.num_sinusoids}


class NoiseGenerator(Generator):
    r"""Seeded Gaussian white noise, :math:`y_c[n] = e^{v} w_c[n]` (see
    :func:`~grafx.processors.functional.generators.white_noise`).

    Every node of a type plays the same noise (so batching changes nothing); use two types with
    different seeds for independent noises. Parameter: ``log_gain (1,)``. Output:
    ``(B, num_channels, num_samples)``.

    Rate-free: at any rate it is white noise of RMS :math:`e^{v}` (so its level in a fixed
    band falls by 10 log10 of the rate ratio as the rate rises).

    Args:
        num_channels: 1 or 2 (independent noise per channel).
        seed: the noise's seed.
    """

    sample_rate_argument = None

    def __init__(self, num_channels: int = 1, seed: int = 0):
        super().__init__()
        if num_channels not in (1, 2):
            raise ConfigError(f"NoiseGenerator: num_channels must be 1 or 2, got {num_channels!r}")
        self.num_channels = int(num_channels)
        self.seed = int(seed)
        self._noise: tuple[tuple, Tensor] | None = None

    def forward(self, num_samples: int, log_gain: Tensor) -> Tensor:
        """Render ``(B, C, num_samples)`` from ``log_gain (B, 1)``."""
        # The noise of the last length, dtype and device is kept: drawing it on the CPU and
        # copying it to a GPU at every render would cost more than the render.
        key = (int(num_samples), log_gain.dtype, log_gain.device)
        if self._noise is None or self._noise[0] != key:
            w = white_noise_samples(self.num_channels, key[0], self.seed, key[1], key[2])
            self._noise = (key, w)
        return torch.exp(log_gain)[:, :, None] * self._noise[1]

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 1}


class ADSREnvelope(Generator):
    r"""A linear attack/decay/sustain/release envelope for one note from :math:`t = 0`.

    See :func:`~grafx.processors.functional.generators.adsr_envelope`. Parameters, each
    ``(1,)``: ``log_attack``, ``log_decay``, ``log_release``, ``log_gate`` (natural logs of
    seconds; the gate is how long the note is held) and ``z_sustain`` (level
    :math:`\sigma(z)`). Output: mono, ``(B, 1, num_samples)``, in :math:`[0, 1]`, a control signal.

    Args:
        sample_rate: :math:`f_s` in Hz.
    """

    def __init__(self, sample_rate: float = 44100.0):
        super().__init__()
        self.sample_rate = _check_sample_rate("ADSREnvelope", sample_rate)

    def forward(
        self,
        num_samples: int,
        log_attack: Tensor,
        log_decay: Tensor,
        z_sustain: Tensor,
        log_release: Tensor,
        log_gate: Tensor,
    ) -> Tensor:
        """Render ``(B, 1, num_samples)`` from ``(B, 1)`` parameters."""
        return adsr_envelope(
            time_from_log_time(log_attack),
            time_from_log_time(log_decay),
            level_from_z_level(z_sustain),
            time_from_log_time(log_release),
            time_from_log_time(log_gate),
            int(num_samples),
            self.sample_rate,
        )

    def parameter_size(self) -> ParameterSize:
        return dict.fromkeys(("log_attack", "log_decay", "z_sustain", "log_release", "log_gate"), 1)
