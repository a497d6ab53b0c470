r"""Dynamic range processors: Compressor, NoiseGate and the legacy ApproxCompressor/NoiseGate.

Graph nodes around :mod:`grafx.processors.functional.dynamics` (see its docstring for the
model and the curves). Differences from the original library, which is wrong here:

* the gain computed on log-*energies* is halved before it scales the *amplitude*, so the static
  curve has slope :math:`1/R` above a compressor's threshold (the original's slope was
  :math:`2/R - 1`: a limiter at the default ratio, non-monotonic above it);
* smoothing the gain in the log domain works (the original's IIR smoother ended in a ReLU that
  zeroed every negative log gain, so the compressor did nothing);
* the one-pole smoother's taps are built in the log domain, so a pole of about 0 is an impulse
  instead of NaN;
* ballistics run on grafx's own exact kernels (numba's compiled loops on CPU when installed,
  else a parallel scan in torch on any device; torchcomp on request) and start from silence for the energy, from unity (or log 0) for the
  gain, where the original started every smoother at 1.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor, take_settings
from grafx.processors.core.ballistics import resolve_backend
from grafx.processors.core.deprecation import warn_deprecated
from grafx.processors.core.rate import check_rate, reference_or, remap_pole, samples_at
from grafx.processors.functional.dynamics import (
    DETECTORS,
    KNEES,
    LOG_RATIO_MAX,
    SMOOTHERS,
    apply_log_gain,
    compressor_log_gain,
    detector_level,
    energy_floor,
    knee_from_log_knee,
    log_knee_from_knee,
    log_ratio_from_ratio,
    log_threshold_from_threshold,
    noise_gate_log_gain,
    ratio_from_log_ratio,
    threshold_from_log_threshold,
)

#: Nats of energy per dB: levels are natural-log energies, 10 log10(e) dB = ln(e) * 10 / ln 10.
_NATS_PER_DB = math.log(10.0) / 10

_SMOOTHER_SIZES = {"iir": 1, "ballistics": 2}


class _DynamicsBase(Processor):
    """Shared by the dynamics processors and their legacy forms: construction, the static
    curves, the smoothers' rate remapping and the processing itself."""

    ignored_arguments = ("flashfftconv", "max_input_len")
    sample_rate_argument = "sample_rate"
    _curve = staticmethod(compressor_log_gain)
    _ratio = staticmethod(ratio_from_log_ratio)

    time_varying = {"log_threshold": "sample"}

    def __init__(
        self,
        energy_smoother: str | None = "iir",
        gain_smoother: str | None = None,
        gain_smooth_in_log: bool = False,
        knee: str = "quadratic",
        iir_len: int = 16384,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
        backend: str = "auto",
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        detector: str = "energy",
        linked: bool = True,
    ):
        super().__init__()
        owner = type(self).__name__
        self.sample_rate = check_rate(owner, sample_rate)
        self.reference_rate = reference_or(owner, reference_rate, self.sample_rate)
        for name, value, allowed in (
            ("energy_smoother", energy_smoother, SMOOTHERS),
            ("gain_smoother", gain_smoother, SMOOTHERS),
            ("knee", knee, KNEES),
            ("detector", detector, DETECTORS),
        ):
            if value not in allowed:
                raise ConfigError(f"{owner}: unknown {name} {value!r}; use one of {allowed}")
        self.energy_smoother = energy_smoother
        self.gain_smoother = gain_smoother
        self.gain_smooth_in_log = gain_smooth_in_log
        if not isinstance(linked, bool):
            raise ConfigError(f"{owner}: linked must be True or False, got {linked!r}")
        self.knee = knee
        self.detector = detector
        self.linked = linked
        self.iir_len = samples_at(int(iir_len), self.reference_rate, self.sample_rate)
        self.max_input_len = max_input_len
        uses_ballistics = "ballistics" in (energy_smoother, gain_smoother)
        self.backend = resolve_backend(backend) if uses_ballistics else backend

    def time_constants_ms(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The smoothers' time constants in ms (to :math:`1/e`) from one node's parameters:
        ``energy_ms`` / ``gain_ms`` for a one-pole smoother, ``[release, attack]`` and
        ``[attack, release]`` pairs for the energy and gain ballistics; read-back only."""
        times = {}
        for key, smoother, name in (
            ("z_alpha_pre", self.energy_smoother, "energy_ms"),
            ("z_alpha_post", self.gain_smoother, "gain_ms"),
        ):
            if smoother is None or key not in parameters:
                continue
            z = torch.as_tensor(parameters[key]).detach().double().reshape(-1)
            # the pole: sigma(z) for the one-pole, 1 - sigma(z) = sigma(-z) for the ballistics
            log_pole = torch.nn.functional.logsigmoid(z if smoother == "iir" else -z)
            ms = (-1000.0 / (self.reference_rate * log_pole)).tolist()
            times[name] = ms[0] if smoother == "iir" else ms
        return times

    # The static curves, as the original's static methods (same names and arguments): the
    # threshold is taken as given (``forward`` subtracts the 6-nat offset before calling them)
    # and the result is the log-*energy* gain :math:`\Delta`; ``forward`` scales the amplitude
    # by :math:`e^{\Delta/2}` (the original applied :math:`e^{\Delta}`, see the module docstring).
    @classmethod
    def _static_gain(cls, knee, log_energy, log_threshold, log_ratio, log_knee) -> Tensor:
        log_energy = torch.as_tensor(log_energy)
        threshold = torch.as_tensor(log_threshold, dtype=log_energy.dtype)
        ratio = cls._ratio(torch.as_tensor(log_ratio, dtype=log_energy.dtype))
        width = None
        if knee != "hard":
            if log_knee is None:
                raise ParameterError(f"{cls.__name__}: the {knee} knee needs log_knee")
            width = knee_from_log_knee(torch.as_tensor(log_knee, dtype=log_energy.dtype))
        return cls._curve(log_energy, threshold, ratio, width, knee)

    @classmethod
    def gain_hard_knee(cls, log_energy, log_threshold, log_ratio, log_knee=None) -> Tensor:
        """Log-energy gain of the hard-knee curve at levels ``log_energy`` (broadcasting);
        ``log_knee`` is ignored. :math:`R` = ``1 + exp(log_ratio)``, threshold as given."""
        return cls._static_gain("hard", log_energy, log_threshold, log_ratio, None)

    @classmethod
    def gain_quad_knee(cls, log_energy, log_threshold, log_ratio, log_knee) -> Tensor:
        """Log-energy gain of the quadratic soft knee of width ``exp(log_knee)``."""
        return cls._static_gain("quadratic", log_energy, log_threshold, log_ratio, log_knee)

    @classmethod
    def gain_exp_knee(cls, log_energy, log_threshold, log_ratio, log_knee) -> Tensor:
        """Log-energy gain of the exponential (softplus) knee, sharpness ``exp(log_knee)``."""
        return cls._static_gain("exponential", log_energy, log_threshold, log_ratio, log_knee)

    def _pole(self, z_alpha: Tensor | None, smoother: str | None) -> Tensor | None:
        r"""A smoother's coefficients at the reference rate, for the running rate (same times).

        The one-pole's :math:`\sigma(z)` is its pole; the ballistics' :math:`\sigma(z)` is the
        weight of the new sample, so its complement :math:`\sigma(-z)` is the pole."""
        if z_alpha is None or self.reference_rate == self.sample_rate:
            return z_alpha
        if smoother == "ballistics":
            return -remap_pole(-z_alpha, self.reference_rate, self.sample_rate)
        return remap_pole(z_alpha, self.reference_rate, self.sample_rate)

    def _process(self, x, log_threshold, log_ratio, log_knee, z_alpha_pre, z_alpha_post):
        if log_threshold.ndim == 3:  # automated: (B, 1, L) -> one threshold per sample (B, L)
            log_threshold = log_threshold[:, 0]
        if not self.linked and x.shape[1] > 1:  # each channel on its own: (B C, 1, L)
            batch, channels, length = x.shape
            per_channel = [
                None if p is None else p.repeat_interleave(channels, 0)
                for p in (log_threshold, log_ratio, log_knee, z_alpha_pre, z_alpha_post)
            ]
            y = self._process(x.reshape(batch * channels, 1, length), *per_channel)
            return y.reshape(batch, channels, length)
        z_alpha_pre = self._pole(z_alpha_pre, self.energy_smoother)
        z_alpha_post = self._pole(z_alpha_post, self.gain_smoother)
        threshold = threshold_from_log_threshold(log_threshold)
        level = detector_level(
            x,
            self.energy_smoother,
            z_alpha_pre,
            self.iir_len,
            self.backend,
            floor=energy_floor(threshold).to(x.dtype),
            detector=self.detector,
        )
        width = None if self.knee == "hard" else knee_from_log_knee(log_knee)
        log_gain = self._curve(level, threshold, self._ratio(log_ratio), width, self.knee)
        return apply_log_gain(
            x,
            log_gain,
            self.gain_smoother,
            z_alpha_post,
            self.gain_smooth_in_log,
            self.iir_len,
            self.backend,
        )


class _DynamicRangeProcessor(_DynamicsBase):
    """The current API: parameters ``log_threshold``, ``log_ratio``, ``log_knee``,
    ``z_alpha_pre``, ``z_alpha_post`` and physical settings."""

    #: Neutral ``threshold_db`` setting.
    default_threshold_db = -20.0

    def parameter_size(self) -> ParameterSize:
        sizes: ParameterSize = {"log_threshold": 1, "log_ratio": 1}
        if self.knee != "hard":
            sizes["log_knee"] = 1
        if self.energy_smoother is not None:
            sizes["z_alpha_pre"] = _SMOOTHER_SIZES[self.energy_smoother]
        if self.gain_smoother is not None:
            sizes["z_alpha_post"] = _SMOOTHER_SIZES[self.gain_smoother]
        return sizes

    def forward(
        self,
        input_signals: Tensor,
        log_threshold: Tensor,
        log_ratio: Tensor,
        log_knee: Tensor | None = None,
        z_alpha_pre: Tensor | None = None,
        z_alpha_post: Tensor | None = None,
    ) -> Tensor:
        """Process ``(B, C, L)`` audio (any ``C``; the detector is channel-linked unless
        ``linked=False``).

        Args:
            input_signals: ``(B, C, L)``.
            log_threshold, log_ratio: ``(B, 1)``.
            log_knee: ``(B, 1)``, unless ``knee="hard"``.
            z_alpha_pre: energy smoother, ``(B, 1)`` (iir) or ``(B, 2)`` (ballistics).
            z_alpha_post: gain smoother, ``(B, 1)`` (iir) or ``(B, 2)`` (ballistics).

        Returns:
            ``(B, C, L)``.
        """
        return self._process(
            input_signals, log_threshold, log_ratio, log_knee, z_alpha_pre, z_alpha_post
        )

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        r"""Settings ``threshold_db``, ``ratio`` (2, above 1) and ``knee_db`` (6, positive); with
        ``energy_smoother="ballistics"`` also ``attack_ms`` and ``release_ms``, the detector's
        1/e times at the reference rate (positive; left out: ``z_alpha_pre`` is not set).
        JUCE's and pedalboard's compressors take :math:`2\pi` times these (their coefficient
        is :math:`e^{-2\pi \cdot 1000 / (f_s t)}`)."""
        owner = name or type(self).__name__
        defaults: dict[str, Any] = {
            "threshold_db": self.default_threshold_db,
            "ratio": 2.0,
            "knee_db": 6.0,
        }
        if self.energy_smoother == "ballistics":
            defaults.update(attack_ms=None, release_ms=None)
        s = take_settings(settings, defaults, owner)
        threshold_db, ratio, knee_db = (float(s[k]) for k in ("threshold_db", "ratio", "knee_db"))
        if ratio <= 1 or knee_db <= 0:
            raise ParameterError(f"{owner}: need ratio > 1 and knee_db > 0")
        times = [s.get("release_ms"), s.get("attack_ms")]
        if any(t is not None for t in times) and not all(
            t is not None and float(t) > 0 for t in times
        ):
            raise ParameterError(
                f"{owner}: attack_ms and release_ms go together and must be positive, "
                f"got {s.get('attack_ms')!r} and {s.get('release_ms')!r}"
            )
        nats = torch.tensor([threshold_db, knee_db], dtype=torch.float64) * _NATS_PER_DB
        values = {
            "log_threshold": log_threshold_from_threshold(nats[:1]),
            "log_ratio": log_ratio_from_ratio(torch.tensor([ratio], dtype=torch.float64)),
        }
        if self.knee != "hard":
            values["log_knee"] = log_knee_from_knee(nats[1:])
        if times[0] is not None:
            # the weight of the new sample, 1 - exp(-a) with a = 1000 / (t fs), as a logit
            a = 1000.0 / (torch.tensor(times, dtype=torch.float64) * self.reference_rate)
            values["z_alpha_pre"] = torch.log(-torch.expm1(-a)) + a
        return values

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        threshold = threshold_from_log_threshold(parameters["log_threshold"].detach().double())
        ratio = ratio_from_log_ratio(parameters["log_ratio"].detach().double())
        settings = {"threshold_db": float(threshold / _NATS_PER_DB), "ratio": float(ratio)}
        if self.knee != "hard":
            knee = knee_from_log_knee(parameters["log_knee"].detach().double())
            settings["knee_db"] = float(knee / _NATS_PER_DB)
        if self.energy_smoother == "ballistics" and "z_alpha_pre" in parameters:
            release, attack = self.time_constants_ms(parameters)["energy_ms"]
            settings.update(attack_ms=attack, release_ms=release)
        return settings


#: The constructor keywords of the dynamics processors, in order: what a class that passes
#: ``**kwargs`` on to one accepts (see :attr:`~grafx.processors.base.Processor.extra_arguments`).
DYNAMICS_ARGUMENTS = tuple(inspect.signature(_DynamicRangeProcessor.__init__).parameters)[1:]


class Compressor(_DynamicRangeProcessor):
    r"""Feed-forward compressor with a selectable knee and energy/gain smoothers.

    Static curve (settled, constant level, in log-energy): below the threshold
    :math:`G_\mathrm{out} = G`; above it :math:`G_\mathrm{out} = T + (G - T)/R`; the knee
    blends the two (see :mod:`grafx.processors.functional.dynamics`). Parameters:
    :math:`T` = ``log_threshold - 6``, :math:`R` = ``1 + exp(log_ratio)``,
    :math:`W` = ``exp(log_knee)``; the smoothers' coefficients are ``sigmoid(z_alpha_*)``.

    Args:
        energy_smoother: ``"iir"`` (one-pole, ``z_alpha_pre (1,)``), ``"ballistics"``
            (attack/release, ``z_alpha_pre (2,)``: index 0 acts while the energy falls,
            i.e. release; index 1 while it rises, i.e. attack) or ``None``.
        gain_smoother: ``None``, ``"iir"`` (``z_alpha_post (1,)``) or ``"ballistics"``
            (``z_alpha_post (2,)``: index 0 while the gain falls, i.e. attack; 1 release).
        gain_smooth_in_log: smooth the log gain instead of the linear gain.
        knee: ``"hard"``, ``"quadratic"`` or ``"exponential"``.
        iir_len: taps of the truncated one-pole smoothers.
        detector: ``"energy"`` (smooth :math:`x^2`, the channel mean) or ``"peak"`` (smooth
            :math:`|x|`, the channel maximum, and square it: the peak envelope of JUCE's
            ``dsp::Compressor``, which pedalboard's ``Compressor`` runs).
        linked: one gain for all channels (stereo-linked, the default) or, ``False``, each
            channel compressed on its own (as JUCE's compressor), with the node's parameters.
        flashfftconv, max_input_len: accepted for compatibility; unused.
        backend: ballistics backend (``"auto"``, ``"torch"``, ``"numba"``, ``"python"``,
            ``"torchcomp"``; see :mod:`grafx.processors.core.ballistics`).
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate at which the smoothers' per-sample coefficients and
            ``iir_len`` are defined (default ``sample_rate``); at another ``sample_rate`` they
            keep their time constants (:func:`~grafx.processors.core.rate.remap_pole`). Levels
            are in dB, ratios plain, so only the smoothing depends on the rate.
    """

    _curve = staticmethod(compressor_log_gain)


class NoiseGate(_DynamicRangeProcessor):
    r"""Downward expander (noise gate): the same model as :class:`Compressor`, mirrored.

    Above the threshold the gain is 1; below it :math:`G_\mathrm{out} = T + R(G - T)`.
    Same constructor, parameters and settings as :class:`Compressor` (neutral threshold -60 dB).
    """

    default_threshold_db = -60.0

    _curve = staticmethod(noise_gate_log_gain)


class _Legacy(_DynamicsBase):
    """The v0.5 API: parameter ``z_alpha`` for the energy smoother, no physical settings."""

    rate_bound: ClassVar[str | None] = (
        "a deprecated v0.5 class without a sample rate; Compressor/NoiseGate take one"
    )

    def forward(
        self,
        input_signals: Tensor,
        z_alpha: Tensor,
        log_threshold: Tensor,
        log_ratio: Tensor,
        log_knee: Tensor | None = None,
    ) -> Tensor:
        """Process ``(B, C, L)`` audio; every parameter is ``(B, 1)``; ``z_alpha`` smooths the
        energy (the new class's ``z_alpha_pre``)."""
        return self._process(input_signals, log_threshold, log_ratio, log_knee, z_alpha, None)

    def parameter_size(self) -> ParameterSize:
        return {"log_knee": 1, "log_ratio": 1, "log_threshold": 1, "z_alpha": 1}


class ApproxCompressor(_Legacy):
    """Deprecated v0.5 compressor; equals ``Compressor("iir", None, knee="quadratic")``.

    ``z_alpha`` is that compressor's ``z_alpha_pre``. Warns once with a DeprecationWarning.
    Rate-bound: its smoother counts samples at whatever rate it is given (use the Compressor,
    which takes ``sample_rate``).

    Args:
        iir_len: taps of the one-pole energy smoother.
        flashfftconv, max_input_len: accepted for compatibility; unused.
    """

    def __init__(self, iir_len: int = 16384, flashfftconv: bool = True, max_input_len: int = 2**17):
        warn_deprecated("ApproxCompressor", 'Compressor(energy_smoother="iir", knee="quadratic")')
        super().__init__("iir", None, False, "quadratic", iir_len, flashfftconv, max_input_len)


class ApproxNoiseGate(_Legacy):
    r"""Deprecated v0.5 noise gate: ``NoiseGate("iir", None, knee="quadratic")`` with
    :math:`R = e^{\texttt{log\_ratio}}` (not :math:`1 + e^{v}`), as the original.

    So ``log_ratio = 0`` is the identity and negative values (``R < 1``) raise quiet parts.
    The original's extra ``1e-3`` in the knee denominator is not reproduced. Rate-bound, as
    :class:`ApproxCompressor`.

    Args:
        freq_sample_n: taps of the one-pole energy smoother (the original's name).
        flashfftconv, max_input_len: accepted for compatibility; unused.
    """

    _curve = staticmethod(noise_gate_log_gain)

    @staticmethod
    def _ratio(log_ratio: Tensor) -> Tensor:
        return log_ratio.clamp(-LOG_RATIO_MAX, LOG_RATIO_MAX).exp()

    def __init__(
        self, freq_sample_n: int = 16384, flashfftconv: bool = True, max_input_len: int = 2**17
    ):
        warn_deprecated("ApproxNoiseGate", 'NoiseGate(energy_smoother="iir", knee="quadratic")')
        super().__init__(
            "iir", None, False, "quadratic", freq_sample_n, flashfftconv, max_input_len
        )
