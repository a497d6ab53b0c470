r"""Dynamic range processing as pure functions: static curves, detectors, gain smoothing.

Model (shared by the compressor and the noise gate). With :math:`e[n]` the input energy
averaged over channels (stereo-linked), optionally smoothed, the detector level is the
natural-log energy :math:`G = \ln(e + \epsilon)` with a floor :math:`\epsilon` that follows the
threshold, :math:`\epsilon = e^{T} \cdot 10^{-12}` (120 dB below it; see :func:`energy_floor`),
so silence gives a finite level and the static curve is exact wherever it acts (a fixed floor
would bend the curve of a low threshold, or hide it). A static curve gives a log-*energy* gain
:math:`\Delta(G)`; the amplitude gain is :math:`\exp(\Delta/2)`, so that the output level
:math:`G_\mathrm{out} = G + \Delta` follows the curve. (The original applied
:math:`\exp(\Delta)` to the amplitude, doubling every gain change: its default ratio 2 was a
limiter and ratios above 2 made louder inputs come out quieter.)

Curves, with threshold :math:`T`, ratio :math:`R \ge 1` and knee width :math:`W`:

* compressor: :math:`\Delta = (1/R - 1)\,\kappa(G - T)`,
* noise gate (downward expander): :math:`\Delta = (1 - R)\,\kappa(T - G)`,

where :math:`\kappa` is a rectifier, :math:`\kappa(v) \approx \max(v, 0)`:

* ``"hard"``: :math:`\max(v, 0)`;
* ``"quadratic"``: 0 below :math:`-W/2`, :math:`v` above :math:`W/2`, and
  :math:`(v + W/2)^2 / (2W)` in between (the usual quadratic soft knee);
* ``"exponential"``: :math:`\operatorname{softplus}(W v)/W` (as the original's code; note it
  is :math:`\ln 2 / W` at :math:`v = 0` and approaches ``hard`` as :math:`W` grows).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.core.envelope import ballistics_from_z, truncated_one_pole
from grafx.processors.core.utils import broadcast_shapes

#: ``log_threshold = 0`` means a threshold of ``-THRESHOLD_OFFSET`` nats of energy (-26 dB).
THRESHOLD_OFFSET = 6.0
#: The energy floor sits this many dB below the threshold (:func:`energy_floor`).
FLOOR_BELOW_THRESHOLD_DB = 120.0

KNEES = ("hard", "quadratic", "exponential")
SMOOTHERS = ("iir", "ballistics", None)
#: What the detector follows: ``"energy"`` smooths :math:`x^2`, ``"peak"`` smooths :math:`|x|`
#: (JUCE's ``dsp::Compressor``, pedalboard's) and squares the result.
DETECTORS = ("energy", "peak")


#: Largest ``log_ratio`` and ``|log_knee|`` the curves use (:func:`ratio_from_log_ratio`,
#: :func:`knee_from_log_knee`): a ratio of 1 + 4.9e8 is a brick wall and a knee of 2e-9 nats a
#: hard one, and beyond them :math:`R^2` or :math:`1/W^2` in the backward pass overflows float32.
LOG_RATIO_MAX = 20.0
LOG_KNEE_MAX = 20.0
#: Largest threshold parameter: ``log_threshold`` 60 (a threshold 260 dB above full scale);
#: beyond it the energy floor :math:`e^{T}\,10^{-12}` overflows float32.
LOG_THRESHOLD_MAX = 60.0
#: Largest boost of a noise gate with :math:`R < 1` (the legacy gate allows it), in nats of
#: energy: 120 dB, so the output stays finite for any ratio and knee.
GATE_MAX_LOG_GAIN = 12 * math.log(10.0)


def ratio_from_log_ratio(log_ratio: Tensor) -> Tensor:
    r"""Ratio :math:`R = 1 + e^{v}`, so ``0`` gives 2 and every value is a valid ratio
    (:math:`v` is clamped at :data:`LOG_RATIO_MAX`)."""
    return 1 + torch.exp(log_ratio.clamp(max=LOG_RATIO_MAX))


def log_ratio_from_ratio(ratio: Tensor) -> Tensor:
    """Inverse of :func:`ratio_from_log_ratio` (for ratios above 1)."""
    return torch.log(ratio - 1)


def threshold_from_log_threshold(log_threshold: Tensor) -> Tensor:
    r"""Threshold log-energy :math:`T = v - 6`, so ``0`` is about -26 dB RMS (:math:`v`
    clamped at :data:`LOG_THRESHOLD_MAX`)."""
    return log_threshold.clamp(max=LOG_THRESHOLD_MAX) - THRESHOLD_OFFSET


def log_threshold_from_threshold(threshold: Tensor) -> Tensor:
    """Inverse of :func:`threshold_from_log_threshold`."""
    return threshold + THRESHOLD_OFFSET


def knee_from_log_knee(log_knee: Tensor) -> Tensor:
    r"""Knee width :math:`W = e^{v}` (in nats of energy), :math:`v` clamped to
    :math:`\pm` :data:`LOG_KNEE_MAX`."""
    return torch.exp(log_knee.clamp(-LOG_KNEE_MAX, LOG_KNEE_MAX))


def _needs_grad(*tensors: Tensor) -> bool:
    """Whether autograd records an operation on ``tensors`` (else in-place is safe for fresh
    temporaries and gives the same values)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _fits(operand: Tensor, target: Tensor) -> bool:
    """Whether ``target`` can take an in-place operation with ``operand`` (broadcasts to it)."""
    return broadcast_shapes(operand.shape, target.shape) == tuple(target.shape)


def log_knee_from_knee(knee: Tensor) -> Tensor:
    """Inverse of :func:`knee_from_log_knee`."""
    return torch.log(knee)


def energy_floor(threshold: Tensor) -> Tensor:
    r"""The detector's energy floor :math:`\epsilon = e^{T} 10^{-12}`, ``(B, 1)``.

    Added to the energy before the log, :math:`G = \ln(e + \epsilon)`, so digital silence gives
    a finite level; it follows the threshold :math:`T` (log-energy, ``(B, 1)``) at
    :data:`FLOOR_BELOW_THRESHOLD_DB` below it, so for levels above :math:`T - 120` dB the curve is
    the analytic one to a relative :math:`10^{-12}`. It never drops below the dtype's smallest
    normal number, so a threshold of any depth keeps the log finite. (Was a fixed
    :math:`10^{-5}`, -50 dB: a gate at -60 dB did nothing.)
    """
    log_floor = threshold - FLOOR_BELOW_THRESHOLD_DB * math.log(10) / 10
    return torch.exp(log_floor).clamp_min(torch.finfo(threshold.dtype).tiny)


def knee_rectifier(v: Tensor, width: Tensor | None, knee: str) -> Tensor:
    r"""The rectifier :math:`\kappa(v)` of the module docstring, elementwise.

    The quadratic knee is written without branches,
    :math:`\kappa = \operatorname{clip}(v + W/2, 0, W)^2/(2W) + \max(v - W/2, 0)`, so no
    unused branch can overflow and poison the gradient for very small :math:`W`.
    """
    if knee == "hard":
        return torch.relu(v)
    if width is None:
        raise ParameterError(f"knee {knee!r} needs a knee width (only 'hard' takes none)")
    if knee == "quadratic":
        if not _needs_grad(v, width):  # the same operations, in place
            inside = torch.minimum((v + width / 2).relu_(), width)
            return inside.square_().mul_(0.5 / width).add_((v - width / 2).relu_())
        inside = torch.minimum(torch.relu(v + width / 2), width)
        return inside.square() * (0.5 / width) + torch.relu(v - width / 2)
    return F.softplus(width * v) / width


def compressor_log_gain(
    level: Tensor, threshold: Tensor, ratio: Tensor, width: Tensor | None, knee: str
) -> Tensor:
    r"""Compressor's log-energy gain :math:`\Delta = (1/R - 1)\,\kappa(G - T) \le 0`.

    Args:
        level: detector log-energy :math:`G`, ``(B, L)``.
        threshold, ratio: :math:`T`, :math:`R`, ``(B, 1)``.
        width: knee width :math:`W`, ``(B, 1)`` (unused for ``"hard"``).
        knee: ``"hard"``, ``"quadratic"`` or ``"exponential"``.

    Returns:
        :math:`\Delta`, ``(B, L)``.
    """
    rectified = knee_rectifier(level - threshold, width, knee)
    if not _needs_grad(level, threshold, ratio, rectified) and _fits(ratio, rectified):
        return rectified.mul_(1 / ratio - 1)
    return (1 / ratio - 1) * rectified


def noise_gate_log_gain(
    level: Tensor, threshold: Tensor, ratio: Tensor, width: Tensor | None, knee: str
) -> Tensor:
    r"""Noise gate's (downward expander's) log-energy gain :math:`(1 - R)\,\kappa(T - G)`.

    Arguments as :func:`compressor_log_gain`. Below the threshold the output level falls
    :math:`R` times faster than the input; above it the gain is 0 (for ``R < 1``, as the legacy
    gate allows, quiet parts are raised instead, by at most :data:`GATE_MAX_LOG_GAIN`).
    """
    rectified = knee_rectifier(threshold - level, width, knee)
    if not _needs_grad(level, threshold, ratio, rectified) and _fits(ratio, rectified):
        return rectified.mul_(1 - ratio).clamp_(max=GATE_MAX_LOG_GAIN)
    return torch.clamp((1 - ratio) * rectified, max=GATE_MAX_LOG_GAIN)


def smooth(
    signals: Tensor,
    smoother: str | None,
    z_alpha: Tensor | None,
    iir_len: int,
    initial: float,
    backend: str = "auto",
) -> Tensor:
    """Apply a smoother to ``(B, L)`` control signals.

    Args:
        signals: ``(B, L)``.
        smoother: ``"iir"`` (truncated one-pole, ``z_alpha (B, 1)``), ``"ballistics"``
            (attack/release, ``z_alpha (B, 2)``) or ``None`` (identity).
        z_alpha: the smoother's unconstrained coefficients.
        iir_len: FIR length of ``"iir"``.
        initial: the ballistics state before the first sample.
        backend: the ballistics backend.
    """
    if smoother not in ("iir", "ballistics"):
        return signals
    if z_alpha is None:
        raise ParameterError(f"smoother {smoother!r} needs its coefficients z_alpha")
    if smoother == "iir":
        return truncated_one_pole(signals, z_alpha, iir_len)
    if smoother == "ballistics":
        return ballistics_from_z(signals, z_alpha, initial, backend)
    return signals


def detector_level(
    input_signals: Tensor,
    smoother: str | None = None,
    z_alpha: Tensor | None = None,
    iir_len: int = 16384,
    backend: str = "auto",
    floor: Tensor | float | None = None,
    detector: str = "energy",
) -> Tensor:
    r"""Stereo-linked log-energy :math:`G = \ln(\bar e + \epsilon)`, ``(B, C, L) -> (B, L)``.

    ``detector="energy"``: :math:`\bar e` is the channel mean of :math:`x^2`, smoothed;
    ``"peak"``: the square of the smoothed channel maximum of :math:`|x|` (a peak envelope,
    as JUCE's compressor; for one channel, :math:`(\mathrm{smooth}\,|x|)^2`). Ballistics start
    at 0, i.e. from silence. Round-off of the FFT smoother is clipped at 0 before the log.

    Args:
        input_signals: ``(B, C, L)``.
        smoother, z_alpha, iir_len, backend: see :func:`smooth`.
        floor: :math:`\epsilon`, a float or ``(B, 1)``; the processors pass
            :func:`energy_floor` of their threshold. ``None``: the dtype's smallest normal
            number (only keeps the log finite).
        detector: ``"energy"`` or ``"peak"`` (:data:`DETECTORS`).
    """
    if detector == "peak":  # smooth the amplitude, then square it: a log-energy all the same
        peak = input_signals.abs().amax(-2)
        energy = smooth(peak, smoother, z_alpha, iir_len, 0.0, backend).square()
    elif detector == "energy":
        energy = smooth(input_signals.square().mean(-2), smoother, z_alpha, iir_len, 0.0, backend)
    else:
        raise ParameterError(f"unknown detector {detector!r}; use one of {DETECTORS}")
    if floor is None:
        floor = torch.finfo(energy.dtype).tiny
    if not _needs_grad(energy, *([floor] if isinstance(floor, Tensor) else [])):
        return energy.clamp_(min=0).add_(floor).log_()  # energy is this function's own
    return torch.log(torch.clamp(energy, min=0) + floor)


def apply_log_gain(
    input_signals: Tensor,
    log_energy_gain: Tensor,
    smoother: str | None = None,
    z_alpha: Tensor | None = None,
    smooth_in_log: bool = False,
    iir_len: int = 16384,
    backend: str = "auto",
) -> Tensor:
    r"""Apply :math:`\exp(\Delta/2)` to every channel, optionally smoothing the gain first.

    Args:
        input_signals: ``(B, C, L)``.
        log_energy_gain: :math:`\Delta`, ``(B, L)``.
        smoother, z_alpha, iir_len, backend: see :func:`smooth`.
        smooth_in_log: smooth the log amplitude gain :math:`\Delta/2` (ballistics start at
            0) instead of the linear gain (ballistics start at unity gain).

    Returns:
        ``(B, C, L)``.
    """
    log_gain = 0.5 * log_energy_gain
    if smoother not in ("iir", "ballistics") and not _needs_grad(log_gain):
        return input_signals * log_gain.exp_()[:, None, :]
    if smooth_in_log:
        gain = torch.exp(smooth(log_gain, smoother, z_alpha, iir_len, 0.0, backend))
    else:
        gain = smooth(torch.exp(log_gain), smoother, z_alpha, iir_len, 1.0, backend)
    return input_signals * gain[:, None, :]
