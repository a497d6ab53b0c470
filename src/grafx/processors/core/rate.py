r"""Sample rates of processors: one design for every class whose sound depends on time or frequency.

Every such class takes its rate as a constructor argument, ``sample_rate`` (``sr`` where the
reference API names it so: :class:`~grafx.processors.eq.GraphicEqualizer`,
:class:`~grafx.processors.reverb.FilteredNoiseShapingReverb`), and the argument is stored in its
processor spec, so a graph file carries it. Classes whose parameters or constructor arguments count
in samples, per-sample coefficients or fractions of the rate (normalised frequencies) also take
``reference_rate``: the rate at which those are defined (default: ``sample_rate``). Parameters
therefore mean one thing in Hz and seconds whatever rate the processor runs at; ``sample_rate``
only changes the digital implementation:

* normalised frequencies are mapped through Hz (:func:`remap_omega`; above the new Nyquist they
  are held just below it);
* one-pole coefficients keep their time constant (:func:`remap_pole`);
* lengths in samples are rescaled (:func:`samples_at`);
* free biquad coefficients are moved by a bilinear re-warp (:func:`warp_biquads`);
* impulse responses and FIRs designed at the reference rate are band-limited resampled
  (:func:`resample_ir`, :func:`resample_centred_fir`).

At ``sample_rate == reference_rate`` none of this runs, so the defaults behave exactly as before.

:func:`spec_at_sample_rate` rewrites a processor spec for another rate (the same sound), and
refuses a class that declares itself rate-bound (:attr:`Processor.rate_bound
<grafx.processors.base.Processor.rate_bound>`) with a one-line error naming it.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.functional.filter import omega_from_w0, w0_from_omega
from grafx.processors.functional.reverb import apply_normalized_ir
from grafx.processors.registry import get_processor_class, processor_name_of
from grafx.processors.spec import build_processor, is_spec, processor_spec

__all__ = [
    "check_rate",
    "samples_at",
    "remap_omega",
    "remap_w0",
    "remap_pole",
    "warp_biquads",
    "resample_ir",
    "resample_centred_fir",
    "ir_rate_gain",
    "apply_ir_at_rate",
    "class_sample_rate",
    "spec_sample_rate",
    "spec_at_sample_rate",
    "processors_at_sample_rate",
    "processor_sample_rate",
]

#: Highest normalised frequency a remapped band is held at, as a fraction of Nyquist.
MAX_OMEGA_FRACTION = 0.98


def check_rate(owner: str, value: Any, name: str = "sample_rate") -> float:
    """``value`` as a float, or :class:`ConfigError` naming ``owner`` unless it is a positive,
    finite number of Hz."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not float(value) > 0
    ):
        raise ConfigError(f"{owner}: {name} must be a positive number of Hz, got {value!r}")
    return float(value)


def reference_or(owner: str, reference_rate: Any, sample_rate: float) -> float:
    """The checked ``reference_rate``, or ``sample_rate`` when it is ``None``."""
    if reference_rate is None:
        return sample_rate
    return check_rate(owner, reference_rate, "reference_rate")


def samples_at(count: int, reference_rate: float, sample_rate: float, minimum: int = 1) -> int:
    """``count`` samples at ``reference_rate`` as samples at ``sample_rate`` (rounded, at least
    ``minimum``); exactly ``count`` when the rates are equal."""
    if reference_rate == sample_rate:
        return int(count)
    return max(int(minimum), round(count * sample_rate / reference_rate))


def remap_omega(omega: Tensor, reference_rate: float, sample_rate: float) -> Tensor:
    r"""Angular frequencies at ``reference_rate`` (radians per sample) as the same Hz at
    ``sample_rate``: :math:`\omega' = \min(\omega f_\mathrm{ref} / f_s,\ 0.98\pi)`."""
    if reference_rate == sample_rate:
        return omega
    return (omega * (reference_rate / sample_rate)).clamp(max=MAX_OMEGA_FRACTION * math.pi)


def remap_w0(w0: Tensor, reference_rate: float, sample_rate: float) -> Tensor:
    r"""An RBJ ``w0`` (:math:`\omega_0 = \pi\sigma(w_0)`) defined at ``reference_rate``, as the
    ``w0`` of the same Hz at ``sample_rate`` (through :func:`remap_omega`)."""
    if reference_rate == sample_rate:
        return w0
    return w0_from_omega(remap_omega(omega_from_w0(w0), reference_rate, sample_rate))


def remap_pole(z_alpha: Tensor, reference_rate: float, sample_rate: float) -> Tensor:
    r"""The unconstrained pole :math:`z` of a one-pole :math:`\alpha = \sigma(z)` defined at
    ``reference_rate``, for ``sample_rate`` with the same time constant:
    :math:`\alpha' = \alpha^{f_\mathrm{ref}/f_s}`, i.e.
    :math:`\log\alpha' = -c\,\mathrm{softplus}(-z)` with :math:`c = f_\mathrm{ref}/f_s`."""
    if reference_rate == sample_rate:
        return z_alpha
    log_alpha = -(reference_rate / sample_rate) * torch.nn.functional.softplus(-z_alpha)
    # logit(exp(l)) = l - log(1 - exp(l)), with log(1 - exp(l)) = log(-expm1(l)) for l < 0
    return log_alpha - torch.log(-torch.expm1(log_alpha.clamp(max=-1e-30)))


def warp_biquads(
    Bs: Tensor, As: Tensor, reference_rate: float, sample_rate: float
) -> tuple[Tensor, Tensor]:
    r"""Move biquads designed at ``reference_rate`` to ``sample_rate`` through their analogue
    prototype (bilinear transform at one rate, inverse at the other).

    The substitution is the first-order all-pass :math:`z^{-1} \to (c + w^{-1})/(1 + c w^{-1})`
    with :math:`c = (f_\mathrm{ref} - f_s)/(f_\mathrm{ref} + f_s)`, so each section stays a
    stable biquad; a frequency :math:`f` moves to
    :math:`\tfrac{f_s}{\pi}\arctan(\tfrac{f_\mathrm{ref}}{f_s}\tan\tfrac{\pi f}{f_\mathrm{ref}})`
    (exact at DC, within 0.2% below 2 kHz between 44.1 and 48 kHz).

    Args:
        Bs, As: coefficients ``(..., 3)``.

    Returns:
        ``(Bs, As)`` with ``As[..., 0] = 1``.
    """
    if reference_rate == sample_rate:
        return Bs, As
    c = (reference_rate - sample_rate) / (reference_rate + sample_rate)

    def substitute(p: Tensor) -> Tensor:
        p0, p1, p2 = p.unbind(-1)
        # p0 (1 + c w)^2 + p1 (c + w)(1 + c w) + p2 (c + w)^2, in powers of w = z'^-1
        q0 = p0 + p1 * c + p2 * c * c
        q1 = 2 * c * p0 + p1 * (1 + c * c) + 2 * c * p2
        q2 = p0 * c * c + p1 * c + p2
        return torch.stack([q0, q1, q2], -1)

    b, a = substitute(Bs), substitute(As)
    a0 = a[..., :1]
    return b / a0, a / a0


def resample_ir(ir: Tensor, reference_rate: float, sample_rate: float) -> Tensor:
    r"""A causal impulse response ``(..., N)`` at ``reference_rate`` as the same continuous
    response at ``sample_rate``: band-limited (FFT) interpolation to
    :math:`N' = \mathrm{round}(N_p f_s / f_\mathrm{ref})` samples (:math:`N_p`: ``N`` and
    ``max(32, N // 8)`` zeros, so that the end does not wrap onto the start), scaled by :math:`N/N'` (the
    inverse FFT's own normalisation) so that the frequency response in Hz is kept. Upsampled, it holds nothing above the reference's
    Nyquist; downsampled, what was above the new one is dropped."""
    if reference_rate == sample_rate:
        return ir
    # zeros after the IR, so that the periodic interpolation does not wrap its end onto its start
    length = ir.shape[-1] + max(32, ir.shape[-1] // 8)
    new_length = max(1, round(length * sample_rate / reference_rate))
    return torch.fft.irfft(torch.fft.rfft(ir, n=length), n=new_length)


def resample_centred_fir(fir: Tensor, reference_rate: float, sample_rate: float) -> Tensor:
    """A zero-phase FIR ``(..., 2F - 1)`` (centred on its middle tap) at ``reference_rate`` as
    the same response at ``sample_rate`` (an odd number of taps, centred again); see
    :func:`resample_ir`."""
    if reference_rate == sample_rate:
        return fir
    length = fir.shape[-1]
    half = max(0, round((length // 2) * sample_rate / reference_rate))
    new_length = 2 * half + 1
    spectrum = torch.fft.rfft(torch.fft.ifftshift(fir, dim=-1), n=length)
    # irfft of an odd length needs the spectrum of that length: pad or cut the bins
    bins = new_length // 2 + 1
    if spectrum.shape[-1] < bins:
        spectrum = torch.nn.functional.pad(spectrum, (0, bins - spectrum.shape[-1]))
    taps = torch.fft.irfft(spectrum[..., :bins], n=new_length)
    return torch.fft.fftshift(taps, dim=-1)


def ir_rate_gain(ir: Tensor, resampled: Tensor) -> Tensor:
    """``(B, 1, 1)`` factor that keeps the level of an energy-normalised IR across a resampling:
    ``sqrt(E(resampled) / E(ir))`` with energies summed over channels and taps."""
    num = resampled.square().sum((-1, -2))
    den = ir.square().sum((-1, -2))
    return torch.sqrt(num / (den + 1e-30))[:, None, None]


def apply_ir_at_rate(
    input_signals: Tensor,
    ir: Tensor,
    processor_channel: str,
    owner: str,
    reference_rate: float,
    sample_rate: float,
) -> Tensor:
    """:func:`~grafx.processors.functional.reverb.apply_normalized_ir` of raw IRs ``(B, C, N)``
    designed at ``reference_rate``, on audio at ``sample_rate``: the IR is normalised at its
    reference rate and resampled, so the wet level and response in Hz do not change."""

    if reference_rate == sample_rate:
        return apply_normalized_ir(input_signals, ir, processor_channel, owner)
    resampled = resample_ir(ir, reference_rate, sample_rate)
    wet = apply_normalized_ir(input_signals, resampled, processor_channel, owner)
    return wet * ir_rate_gain(ir, resampled).to(wet.dtype)


# --------------------------------------------------------------------------- specs and rates


def _rate_argument(cls: type) -> str | None:
    return getattr(cls, "sample_rate_argument", None)


def _init_parameter(cls: type, name: str) -> inspect.Parameter | None:
    """The constructor parameter ``name`` of ``cls``, or of the first base whose constructor
    names it (for classes that pass ``**kwargs`` on)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(name)
        if parameter is not None:
            return parameter
    return None


def class_sample_rate(cls: type) -> float | None:
    """The default rate of a class (its constructor's default), ``None`` if it has no rate."""
    argument = _rate_argument(cls)
    if argument is None:
        return None
    parameter = _init_parameter(cls, argument)
    if parameter is None or parameter.default in (inspect.Parameter.empty, None):
        return getattr(cls, "assumed_sample_rate", None)
    return float(parameter.default)


def spec_sample_rate(spec: Mapping[str, Any]) -> float | None:
    """The rate a (top-level) processor spec is built for, ``None`` for a rate-free class."""

    cls = get_processor_class(spec["processor"])
    argument = _rate_argument(cls)
    if argument is None:
        return None
    value = (spec.get("args") or {}).get(argument)
    return class_sample_rate(cls) if value is None else float(value)


def spec_at_sample_rate(spec: Any, sample_rate: float, where: str = "processor") -> Any:
    """A processor spec rewritten to render the same sound at ``sample_rate`` (nested specs too).

    Each class with a rate (:attr:`~grafx.processors.base.Processor.sample_rate_argument`) gets
    the new rate, and keeps its old one as ``reference_rate`` when its constructor takes one (so
    its parameters and sample counts keep their meaning); the reference is dropped when it equals
    the new rate, so converting back gives the original spec.

    A class that cannot serve the new rate with its configuration (a
    :class:`~grafx.processors.eq.GraphicEqualizer` band above the new Nyquist) refuses when
    the returned spec is built, as :func:`processors_at_sample_rate` does.

    Raises:
        ConfigError: a rate-bound class asked for another rate than its own, or a rate that is
            not a positive number; the one-line message names ``where`` and the class.
    """

    sample_rate = check_rate(where, sample_rate)
    if isinstance(spec, list):
        return [spec_at_sample_rate(v, sample_rate, f"{where}[{i}]") for i, v in enumerate(spec)]
    if not isinstance(spec, Mapping):
        return spec
    if not is_spec(spec):
        return {k: spec_at_sample_rate(v, sample_rate, f"{where}.{k}") for k, v in spec.items()}
    name = spec["processor"]
    cls = get_processor_class(name)
    args = {
        k: spec_at_sample_rate(v, sample_rate, f"{where}.{k}")
        for k, v in (spec.get("args") or {}).items()
    }
    argument = _rate_argument(cls)
    bound = getattr(cls, "rate_bound", None)
    current = None
    if argument is not None:
        value = args.get(argument)
        current = class_sample_rate(cls) if value is None else float(value)
    if bound is not None:
        if current is None or current != sample_rate:
            at = "" if current is None else f" (it is built for {current:g} Hz)"
            raise ConfigError(f"{where}: {name} cannot render at {sample_rate:g} Hz{at}: {bound}")
        return {"processor": name, "args": args}
    if argument is None or current == sample_rate:
        return {"processor": name, "args": args}
    takes_reference = _init_parameter(cls, "reference_rate") is not None
    if takes_reference:
        reference = args.get("reference_rate")
        reference = current if reference is None else float(reference)
        if reference == sample_rate:
            args.pop("reference_rate", None)
        else:
            args["reference_rate"] = reference
    args[argument] = sample_rate
    return {"processor": name, "args": args}


def processor_sample_rate(processor: Any) -> float | None:
    """The rate a processor instance runs at (``None`` for a rate-free one)."""
    argument = _rate_argument(type(processor))
    if argument is None:
        return None
    value = getattr(processor, argument, None)
    return None if value is None else float(value)


def processors_at_sample_rate(
    processors: Mapping[str, Any], sample_rate: float, where: str = "processors"
) -> dict[str, Any]:
    """``{type: processor}`` rebuilt to render the same sound at ``sample_rate`` (processors
    already at that rate, or rate-free ones, are kept as they are).

    Raises:
        ConfigError: as :func:`spec_at_sample_rate`, or a processor that cannot serve
            ``sample_rate``; one line naming the node type and the class.
    """

    converted = {}
    for node_type, processor in processors.items():
        at = f"{where}[{node_type!r}]"
        if processor_name_of(processor) is None:
            converted[node_type] = processor  # an unregistered module: its rate is unknown
            continue
        spec = processor_spec(processor, at)
        new = spec_at_sample_rate(spec, sample_rate, at)
        converted[node_type] = processor if new == spec else build_processor(new, at)
    return converted
