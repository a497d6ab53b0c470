r"""Filter processors: biquads (direct, pole-zero, state-variable, RBJ cookbook) and FIR.

Each recursive filter applies one cascade per node, shared by all input channels, through
:class:`grafx.processors.core.iir.IIRFilter`; every constructor accepts its keyword arguments
(``backend="fsm" | "lfilter" | "ssm"``, ``fsm_fir_len``, ``flashfftconv``, ``fsm_max_input_len``,
``fsm_regularization``). Parameters are unconstrained (see
:mod:`grafx.processors.functional.filter` for the activations) and no value makes a filter
unstable.

Differences from the original library, on purpose: :class:`LowPassFilter` has the cookbook
polarity (the original negated it); :class:`PoleZeroFilter` works (the original lacked the
channel dimension and used the unsquashed pole radius); :class:`FIRFilter` can be constructed;
``BiquadFilter(normalized=True)`` is defined as documented in its docstring.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.convolution import convolve
from grafx.processors.core.iir import IIRFilter
from grafx.processors.core.midside import (
    apply_processor_channel,
    check_processor_channel,
    num_processor_channels,
)
from grafx.processors.core.rate import (
    check_rate,
    reference_or,
    remap_w0,
    resample_ir,
    warp_biquads,
)
from grafx.processors.core.utils import normalize_impulse
from grafx.processors.functional.filter import (
    biquad_from_raw,
    pole_zero_biquad,
    rbj_biquad,
    svf_biquad,
)

BACKEND_KWARGS = (
    "backend",
    "fsm_fir_len",
    "flashfftconv",
    "fsm_max_input_len",
    "fsm_regularization",
    "fsm_flashfftconv",
)


def make_iir_filter(owner: str, backend_kwargs: dict[str, Any]) -> IIRFilter:
    """Build the :class:`IIRFilter` of a processor, naming it if a keyword is unknown."""
    unknown = sorted(set(backend_kwargs) - set(BACKEND_KWARGS))
    if unknown:
        raise ConfigError(
            f"{owner}: unknown keyword(s) {unknown}; backend keywords are {BACKEND_KWARGS}"
        )
    backend_kwargs = {k: v for k, v in backend_kwargs.items() if k != "fsm_flashfftconv"}
    try:
        return IIRFilter(**backend_kwargs)
    except ConfigError as error:
        raise ConfigError(f"{owner}: {error}") from None


#: Keywords of the IIR backend that are accepted for compatibility and ignored
#: (``fsm_flashfftconv`` is the development-era name of ``flashfftconv``).
IGNORED_BACKEND_KWARGS = ("flashfftconv", "fsm_flashfftconv", "fsm_max_input_len")


class _BiquadCascade(Processor):
    """Shared plumbing: an :class:`IIRFilter`, the sample rate and the per-node filtering call.

    The coefficients are defined at ``reference_rate`` (default ``sample_rate``); at another
    ``sample_rate`` they are re-warped (:func:`~grafx.processors.core.rate.warp_biquads`), or,
    for the RBJ classes, their ``w0`` is mapped through Hz.
    """

    ignored_arguments = IGNORED_BACKEND_KWARGS
    extra_arguments = BACKEND_KWARGS
    sample_rate_argument = "sample_rate"
    _warp = True

    def __init__(
        self,
        num_filters: int,
        backend_kwargs: dict[str, Any],
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        if int(num_filters) < 1:
            raise ConfigError(f"{owner}: num_filters must be >= 1, got {num_filters}")
        self.num_filters = int(num_filters)
        self.sample_rate = check_rate(owner, sample_rate)
        self.reference_rate = reference_or(owner, reference_rate, self.sample_rate)
        self.iir = make_iir_filter(owner, backend_kwargs)

    def _filter(self, input_signals: Tensor, Bs: Tensor, As: Tensor) -> Tensor:
        """``Bs, As (B, K, 3)`` shared by every channel of ``input_signals (B, C, L)``."""
        if self._warp:
            Bs, As = warp_biquads(Bs, As, self.reference_rate, self.sample_rate)
        return self.iir(input_signals, Bs.unsqueeze(1), As.unsqueeze(1))

    def _w0(self, w0: Tensor) -> Tensor:
        """``w0`` at the reference rate as ``w0`` at the running rate (the same Hz)."""
        return remap_w0(w0, self.reference_rate, self.sample_rate)


class BiquadFilter(_BiquadCascade):
    r"""Cascade of ``num_filters`` direct-form biquads with free coefficients.

    :math:`b = B_s + [1, 0, 0]` (zero parameters give the identity),
    :math:`a_1 = 2\tanh\tilde A_1`, :math:`a_2 = ((2 - |a_1|)\tanh\tilde A_2 + |a_1|)/2`.

    ``normalized``: as documented in the original, ``normalized=False`` is the normalised
    five-coefficient biquad (:math:`a_0 = 1`). ``normalized=True`` keeps the original's extra
    parameter ``A0`` (so parameter dictionaries stay compatible) as an explicit leading
    coefficient :math:`a_0 = e^{A_0}` by which the section is normalised, i.e. an output gain
    :math:`e^{-A_0}` per section; zero init gives the same filter as ``normalized=False``. (The
    original multiplied the denominator by the raw ``A0``, which is infinite gain at zero init.)

    Args:
        num_filters: number of sections ``K``.
        normalized: add the ``A0`` parameter as above.
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate the parameters are defined at (default ``sample_rate``).
        **backend_kwargs: :class:`IIRFilter` arguments.
    """

    def __init__(
        self,
        num_filters: int = 1,
        normalized: bool = False,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        **backend_kwargs,
    ):
        super().__init__(num_filters, backend_kwargs, sample_rate, reference_rate)
        self.normalized = normalized

    def forward(
        self,
        input_signals: Tensor,
        Bs: Tensor,
        A1_pre: Tensor,
        A2_pre: Tensor,
        A0: Tensor | None = None,
    ) -> Tensor:
        """Filter ``(B, C, L)`` with ``Bs (B, K, 3)``, ``A1_pre, A2_pre[, A0] (B, K)``."""
        return self._filter(input_signals, *biquad_from_raw(Bs, A1_pre, A2_pre, A0))

    def parameter_size(self) -> ParameterSize:
        size: ParameterSize = {
            "Bs": (self.num_filters, 3),
            "A1_pre": self.num_filters,
            "A2_pre": self.num_filters,
        }
        if self.normalized:
            size["A0"] = self.num_filters
        return size


class _SizedCascade(_BiquadCascade):
    """The constructor of the cascades of ``num_filters`` biquads (pole-zero, SVF, RBJ gain)."""

    def __init__(
        self,
        num_filters: int = 1,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        **backend_kwargs,
    ):
        super().__init__(num_filters, backend_kwargs, sample_rate, reference_rate)


class PoleZeroFilter(_SizedCascade):
    r"""Cascade of biquads given by conjugate pole and zero pairs, times a gain.

    :math:`y = e^{\ell} \prod_k \frac{(1 - q_k z^{-1})(1 - \bar q_k z^{-1})}
    {(1 - \tilde p_k z^{-1})(1 - \bar{\tilde p}_k z^{-1})}` with poles squashed into the unit
    disk (see :func:`grafx.processors.functional.filter.pole_zero_biquad`). Poles and zeros are
    placed at ``reference_rate`` (default ``sample_rate``) and re-warped to ``sample_rate``
    (:func:`~grafx.processors.core.rate.warp_biquads`).
    """

    def forward(
        self, input_signals: Tensor, log_gain: Tensor, poles: Tensor, zeros: Tensor
    ) -> Tensor:
        """Filter ``(B, C, L)``; ``log_gain (B, 1)``, ``poles, zeros (B, K, 2)``."""
        Bs, As = pole_zero_biquad(poles, zeros)
        return self._filter(input_signals, Bs, As) * log_gain.exp()[:, :, None]

    def parameter_size(self) -> ParameterSize:
        return {"log_gain": 1, "poles": (self.num_filters, 2), "zeros": (self.num_filters, 2)}


class StateVariableFilter(_SizedCascade):
    """Cascade of state-variable filters; see :func:`~grafx.processors.functional.filter.svf_biquad`.

    With zero mixing coefficients (``c_hp = c_bp = c_lp = 0``) the output is silence. The
    coefficients are defined at ``reference_rate`` (default ``sample_rate``, 44.1 kHz) and
    re-warped to ``sample_rate`` (:func:`~grafx.processors.core.rate.warp_biquads`).
    """

    def forward(
        self,
        input_signals: Tensor,
        twoR: Tensor,
        G: Tensor,
        c_hp: Tensor,
        c_bp: Tensor,
        c_lp: Tensor,
    ) -> Tensor:
        """Filter ``(B, C, L)``; each parameter ``(B, K)``."""
        return self._filter(input_signals, *svf_biquad(twoR, G, c_hp, c_bp, c_lp))

    def parameter_size(self) -> ParameterSize:
        return dict.fromkeys(("twoR", "G", "c_hp", "c_bp", "c_lp"), self.num_filters)


class _RBJSecondOrder(_BiquadCascade):
    r"""One RBJ biquad per node with parameters ``w0`` and ``q_inv`` of size 1.

    :math:`\omega_0 = \pi\sigma(w_0)` is defined at ``reference_rate`` (default
    ``sample_rate``, 44.1 kHz), i.e. :math:`f_0 = \omega_0 f_\mathrm{ref} / 2\pi` Hz at any
    ``sample_rate`` (held below 0.98 of its Nyquist).
    """

    kind = ""
    _warp = False

    def __init__(
        self, sample_rate: float = 44100.0, reference_rate: float | None = None, **backend_kwargs
    ):
        super().__init__(1, backend_kwargs, sample_rate, reference_rate)

    def forward(self, input_signals: Tensor, w0: Tensor, q_inv: Tensor) -> Tensor:
        """Filter ``(B, C, L)``; ``w0, q_inv (B, 1)``."""
        return self._filter(input_signals, *rbj_biquad(self.kind, self._w0(w0), q_inv))

    def parameter_size(self) -> ParameterSize:
        return {"w0": 1, "q_inv": 1}


class LowPassFilter(_RBJSecondOrder):
    r"""RBJ low-pass: :math:`b = [(1-\cos\omega_0)/2,\ 1-\cos\omega_0,\ (1-\cos\omega_0)/2]`,
    :math:`a = [1+\alpha, -2\cos\omega_0, 1-\alpha]`. DC gain is +1 (the original's was -1)."""

    kind = "lowpass"


class HighPassFilter(_RBJSecondOrder):
    r"""RBJ high-pass: :math:`b = [(1+\cos\omega_0)/2,\ -(1+\cos\omega_0),\ (1+\cos\omega_0)/2]`."""

    kind = "highpass"


class BandPassFilter(_RBJSecondOrder):
    r"""RBJ band-pass with 0 dB peak: :math:`b = [\alpha, 0, -\alpha]`."""

    kind = "bandpass"


class BandRejectFilter(_RBJSecondOrder):
    r"""RBJ notch: :math:`b = [1, -2\cos\omega_0, 1]`."""

    kind = "bandreject"


class AllPassFilter(_RBJSecondOrder):
    r"""RBJ all-pass: :math:`b = [a_2, a_1, a_0]`, magnitude 1 at every frequency."""

    kind = "allpass"


class _RBJGainFilter(_SizedCascade):
    """A cascade of ``num_filters`` RBJ biquads with ``w0``, ``q_inv``, ``log_gain`` of size K.

    ``w0`` is defined at ``reference_rate`` as in the second-order RBJ filters.
    """

    kind = ""
    _warp = False

    def forward(self, input_signals: Tensor, w0: Tensor, q_inv: Tensor, log_gain: Tensor) -> Tensor:
        """Filter ``(B, C, L)``; ``w0, q_inv, log_gain (B, K)``."""
        return self._filter(input_signals, *rbj_biquad(self.kind, self._w0(w0), q_inv, log_gain))

    def parameter_size(self) -> ParameterSize:
        return dict.fromkeys(("w0", "q_inv", "log_gain"), self.num_filters)


class PeakingFilter(_RBJGainFilter):
    r"""RBJ peaking EQ cascade; gain at the centre is :math:`A^2 = e^{2\ell}`."""

    kind = "peaking"


class LowShelf(_RBJGainFilter):
    r"""RBJ low shelf cascade; DC gain :math:`A^2 = e^{2\ell}`."""

    kind = "lowshelf"


class HighShelf(_RBJGainFilter):
    r"""RBJ high shelf cascade; Nyquist gain :math:`A^2 = e^{2\ell}`."""

    kind = "highshelf"


class FIRFilter(Processor):
    r"""Free FIR filter per node: :math:`h = \tanh(\theta)`, energy-normalised, causal.

    The taps are normalised to unit energy (averaged over the filter channels) by
    :func:`grafx.processors.core.utils.normalize_impulse`; all-zero taps give silence.

    The taps are samples at ``reference_rate`` (default ``sample_rate``, 44.1 kHz); at another
    ``sample_rate`` the normalised FIR is resampled (band-limited, same response in Hz; see
    :func:`~grafx.processors.core.rate.resample_ir`).

    Args:
        fir_len: number of taps ``N``.
        processor_channel: ``"mono"``, ``"stereo"`` or ``"midside"`` (1, 2 or 2 filters).
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate the parameters are defined at (default ``sample_rate``).
        **backend_kwargs: ``flashfftconv`` and ``max_input_len``, accepted for compatibility
            and ignored (any other keyword raises); convolution is grafx's exact FFT/direct path.
    """

    ignored_arguments = ("flashfftconv", "max_input_len")
    extra_arguments = ignored_arguments
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        fir_len: int = 1023,
        processor_channel: str = "mono",
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        **backend_kwargs,
    ):
        super().__init__()
        if int(fir_len) < 1:
            raise ConfigError(f"FIRFilter: fir_len must be positive, got {fir_len}")
        self.sample_rate = check_rate("FIRFilter", sample_rate)
        self.reference_rate = reference_or("FIRFilter", reference_rate, self.sample_rate)
        self.fir_len = int(fir_len)
        self.processor_channel = check_processor_channel(processor_channel, "FIRFilter")
        self.num_channels = num_processor_channels(processor_channel)

    def forward(self, input_signals: Tensor, fir: Tensor) -> Tensor:
        """Filter ``(B, C, L)`` with ``fir (B, C_f, N)``; stereo modes give ``(B, 2, L)``."""
        taps = resample_ir(normalize_impulse(fir.tanh()), self.reference_rate, self.sample_rate)
        return apply_processor_channel(
            input_signals,
            self.processor_channel,
            lambda x: convolve(x, taps, mode="causal"),
            "FIRFilter",
        )

    def parameter_size(self) -> ParameterSize:
        return {"fir": (self.num_channels, self.fir_len)}
