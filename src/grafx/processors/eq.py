r"""Equaliser processors: zero-phase FIR EQs, a graphic EQ and a parametric EQ.

Differences from the original library, on purpose: the zero-phase FIRs use symmetric windows,
so a flat log-magnitude of 0 is exactly the identity (see :mod:`grafx.processors.core.fir`);
``NewZeroPhaseFIREqualizer(use_filterbank=True)`` works with the default filter-bank arguments
(``f_max=None`` means ``sr / 2``); the graphic EQ's band design is continuous at 0 dB (see
:mod:`grafx.processors.core.geq`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor, take_settings
from grafx.processors.core.biquad_blocks import iir_blocks
from grafx.processors.core.deprecation import warn_deprecated
from grafx.processors.core.fir import ZeroPhaseFilterBankFIR, ZeroPhaseFIR
from grafx.processors.core.geq import GraphicEqualizerBiquad
from grafx.processors.core.midside import (
    apply_processor_channel,
    check_processor_channel,
    num_processor_channels,
)
from grafx.processors.core.rate import (
    check_rate,
    reference_or,
    remap_w0,
    resample_centred_fir,
    warp_biquads,
)
from grafx.processors.filter import BACKEND_KWARGS, IGNORED_BACKEND_KWARGS, make_iir_filter
from grafx.processors.functional.eq import parametric_eq_biquads, zero_phase_fir_filter
from grafx.processors.functional.filter import omega_from_w0, w0_from_omega

_LN10 = math.log(10.0)


class ZeroPhaseFIREqualizer(Processor):
    r"""The seed's zero-phase EQ: one Hann-windowed linear-phase FIR per node, all channels.

    The FIR has ``2F - 1`` taps (2047 by default) designed from ``log_magnitude`` on the ``F``
    bins :math:`k f_s / (2F - 1)` (DC to half a bin below Nyquist; see
    :mod:`grafx.processors.core.fir`), and is applied with zero-phase (centred) convolution. Zero
    parameters give the identity. Deprecated (warns once with a :class:`DeprecationWarning`):
    :class:`NewZeroPhaseFIREqualizer` with ``processor_channel="mono"`` designs the same filter,
    with parameter shape ``(1, F)`` instead of ``(F,)``.

    Rate-bound (``rate_bound``): it takes no sample rate, so its bins are at the rate of the
    audio it is given and it cannot be rebuilt for another rate.

    Args:
        num_magnitude_bins: number of bins ``F``.
    """

    rate_bound = (
        "a deprecated class without a sample rate; NewZeroPhaseFIREqualizer takes sample_rate"
    )

    def __init__(self, num_magnitude_bins: int = 1024):
        warn_deprecated(
            "ZeroPhaseFIREqualizer", 'NewZeroPhaseFIREqualizer(processor_channel="mono")'
        )
        super().__init__()
        self.num_magnitude_bins = num_magnitude_bins
        self.fir = ZeroPhaseFIR(num_magnitude_bins, window="hann")

    def forward(self, input_signals: Tensor, log_magnitude: Tensor) -> Tensor:
        """Filter ``(B, C, L)`` with ``log_magnitude (B, F)``; returns ``(B, C, L)``."""
        return zero_phase_fir_filter(input_signals, self.fir(log_magnitude).unsqueeze(1))

    def parameter_size(self) -> ParameterSize:
        return {"log_magnitude": self.num_magnitude_bins}


class NewZeroPhaseFIREqualizer(Processor):
    r"""Zero-phase FIR EQ per channel, from bin or band log-magnitudes.

    Args:
        num_frequency_bins: number of bins ``F``, at :math:`k f_s / (2F - 1)`; filters have
            ``2F - 1`` taps.
        processor_channel: ``"mono"``, ``"stereo"`` or ``"midside"``.
        use_filterbank: parameters are band log-magnitudes of a
            :class:`~grafx.processors.core.fft_filterbank.TriangularFilterBank`.
        filterbank_kwargs: its arguments (``num_filters``, ``scale``, ``f_min``, ``f_max``,
            ``sr``, ``low_half_triangle``).
        window: FIR window (see :func:`grafx.processors.core.fir.make_window`).
        window_kwargs: window arguments.
        eps: energy floor of the filter-bank mapping.
        flashfftconv: accepted for compatibility, unused.
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate the bins are defined at (default ``sample_rate``, 44.1 kHz);
            at another ``sample_rate`` the FIR designed there is resampled (band-limited, same
            response in Hz; :func:`~grafx.processors.core.rate.resample_centred_fir`).
    """

    ignored_arguments = ("flashfftconv",)
    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        num_frequency_bins: int = 1024,
        processor_channel: str = "mono",
        use_filterbank: bool = False,
        filterbank_kwargs: Mapping[str, Any] | None = None,
        window: Any = "hann",
        window_kwargs: Mapping[str, Any] | None = None,
        eps: float = 1e-7,
        flashfftconv: bool = False,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        self.sample_rate = check_rate("NewZeroPhaseFIREqualizer", sample_rate)
        self.reference_rate = reference_or(
            "NewZeroPhaseFIREqualizer", reference_rate, self.sample_rate
        )
        self.processor_channel = check_processor_channel(
            processor_channel, "NewZeroPhaseFIREqualizer"
        )
        self.num_channels = num_processor_channels(processor_channel)
        self.fir = ZeroPhaseFilterBankFIR(
            num_frequency_bins,
            use_filterbank=use_filterbank,
            filterbank_kwargs=filterbank_kwargs,
            window=window,
            window_kwargs=window_kwargs,
            eps=eps,
        )

    def forward(self, input_signals: Tensor, log_magnitude: Tensor) -> Tensor:
        """Filter ``(B, C, L)`` with ``log_magnitude (B, C_eq, F)``; stereo modes give C = 2."""
        fir = resample_centred_fir(self.fir(log_magnitude), self.reference_rate, self.sample_rate)
        return apply_processor_channel(
            input_signals,
            self.processor_channel,
            lambda x: zero_phase_fir_filter(x, fir),
            "NewZeroPhaseFIREqualizer",
        )

    def parameter_size(self) -> ParameterSize:
        return {"log_magnitude": (self.num_channels, self.fir.num_input_bins)}


class _BiquadEqualizer(Processor):
    """Shared plumbing of the recursive EQs: channel mode and the IIR backend."""

    ignored_arguments = IGNORED_BACKEND_KWARGS
    extra_arguments = BACKEND_KWARGS

    def __init__(
        self,
        processor_channel: str,
        backend_kwargs: dict[str, Any],
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        self.sample_rate = check_rate(owner, sample_rate, self.sample_rate_argument or "sr")
        self.reference_rate = reference_or(owner, reference_rate, self.sample_rate)
        self.processor_channel = check_processor_channel(processor_channel, owner)
        self.num_channels = num_processor_channels(processor_channel)
        self.iir = make_iir_filter(owner, backend_kwargs)

    def _filter(self, input_signals: Tensor, Bs: Tensor, As: Tensor) -> Tensor:
        """``Bs, As (B, C_eq, K, 3)`` on ``(B, C, L)`` in the processor's channel mode."""
        return apply_processor_channel(
            input_signals,
            self.processor_channel,
            lambda x: self.iir(x, Bs, As),
            type(self).__name__,
        )


class ParametricEqualizer(_BiquadEqualizer):
    r"""Cascade of ``num_filters`` RBJ bands per channel: low shelf, peaking bands, high shelf.

    See :func:`grafx.processors.functional.eq.parametric_eq_biquads`.

    Args:
        num_filters: number of bands ``K`` (at least 2 with shelving filters).
        processor_channel: ``"mono"``, ``"stereo"`` or ``"midside"``.
        use_shelving_filters: first band a low shelf and last a high shelf.
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate at which ``w0`` is defined (default ``sample_rate``): a band
            is at :math:`f = \omega_0 f_\mathrm{ref} / 2\pi` Hz, :math:`\omega_0 = \pi\sigma(w_0)`,
            at any ``sample_rate`` (held below 0.98 of its Nyquist).
        control_block: samples per control block of automated parameters (even; see below).
        **backend_kwargs: :class:`~grafx.processors.core.iir.IIRFilter` arguments.

    Settings: ``eq_gains_db`` (0; one value or one per band, or ``(C_eq, K)``), ``eq_freqs_hz``
    (default: ``K`` log-spaced from 100 Hz to 10 kHz, or to ``0.4 * sample_rate`` below
    25 kHz), ``eq_q`` (0.707) and ``sample_rate`` (the rate ``w0`` is defined at; default the
    processor's ``reference_rate``). A band's peak or shelf gain in dB is
    :math:`40\,\ell / \ln 10` (the RBJ amplitude :math:`A = e^{\ell}` gives a gain :math:`A^2`).

    Automation: ``w0``, ``q_inv`` and ``log_gain`` are time-varying at block rate (see
    :mod:`grafx.automation.expand`): any of them may arrive as ``(B, C_eq, K, M)``, one value per
    control block of ``control_block`` samples (``M = ceil(L / control_block)``). The bands are
    then designed per block and applied by the exact time-varying recursion of
    :func:`grafx.processors.core.biquad_blocks.iir_blocks` (coefficients switch at block
    boundaries, the filter state carries over, whatever the ``backend``), so the output stays
    continuous and differentiable in every block's parameters. A constant curve gives the
    static output up to rounding on the exact backends, and within the ``fsm`` backend's
    truncation tolerance (:data:`~grafx.processors.core.iir.FSM_TOLERANCE`) on ``fsm``.
    """

    sample_rate_argument = "sample_rate"

    time_varying = {"w0": "block", "q_inv": "block", "log_gain": "block"}

    def __init__(
        self,
        num_filters: int = 10,
        processor_channel: str = "mono",
        use_shelving_filters: bool = True,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        control_block: int = 256,
        **backend_kwargs,
    ):
        super().__init__(processor_channel, backend_kwargs, sample_rate, reference_rate)
        if isinstance(control_block, bool) or not isinstance(control_block, int):
            raise ConfigError(
                f"ParametricEqualizer: control_block must be an integer, got {control_block!r}"
            )
        if control_block < 2 or control_block % 2:
            raise ConfigError(
                "ParametricEqualizer: control_block must be a positive even number of samples, "
                f"got {control_block}"
            )
        self.control_block = control_block
        minimum = 2 if use_shelving_filters else 1
        if int(num_filters) < minimum:
            raise ConfigError(
                f"ParametricEqualizer: num_filters must be >= {minimum} "
                f"(use_shelving_filters={use_shelving_filters}), got {num_filters}"
            )
        self.num_filters = int(num_filters)
        self.use_shelving_filters = use_shelving_filters

    def forward(self, input_signals: Tensor, w0: Tensor, q_inv: Tensor, log_gain: Tensor) -> Tensor:
        """Filter ``(B, C, L)``; ``w0, q_inv, log_gain (B, C_eq, K)``, or any of them
        ``(B, C_eq, K, M)`` per control block (class docstring)."""
        w0 = remap_w0(w0, self.reference_rate, self.sample_rate)
        if w0.ndim == q_inv.ndim == log_gain.ndim == 3:
            Bs, As = parametric_eq_biquads(w0, q_inv, log_gain, self.use_shelving_filters)
            return self._filter(input_signals, Bs, As)
        return self._filter_blocks(input_signals, {"w0": w0, "q_inv": q_inv, "log_gain": log_gain})

    def _filter_blocks(self, input_signals: Tensor, params: dict[str, Tensor]) -> Tensor:
        """The time-varying path: bands designed per control block, exact recursion."""
        length = input_signals.shape[-1]
        num_blocks = -(-length // self.control_block)
        for key, value in params.items():
            if value.ndim == 4 and value.shape[-1] != num_blocks:
                raise ParameterError(
                    f"ParametricEqualizer: {key!r} has {value.shape[-1]} control blocks, but "
                    f"{length} samples in blocks of {self.control_block} make {num_blocks}"
                )
        w0, q_inv, log_gain = (
            (v if v.ndim == 4 else v[..., None].expand(*v.shape, num_blocks)).movedim(-1, -2)
            for v in params.values()
        )  # (B, C_eq, M, K)
        Bs, As = parametric_eq_biquads(w0, q_inv, log_gain, self.use_shelving_filters)
        return apply_processor_channel(
            input_signals,
            self.processor_channel,
            lambda x: iir_blocks(x, Bs, As, self.control_block),
            type(self).__name__,
        )

    def parameter_size(self) -> ParameterSize:
        shape = (self.num_channels, self.num_filters)
        return {"w0": shape, "q_inv": shape, "log_gain": shape}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        owner = name or type(self).__name__
        defaults = {
            "eq_gains_db": 0.0,
            "eq_freqs_hz": None,
            "eq_q": 0.707,
            "sample_rate": self.reference_rate,
        }
        s = take_settings(settings, defaults, owner)
        sample_rate = float(s["sample_rate"])
        freqs = s["eq_freqs_hz"]
        if freqs is None:
            top = min(10000.0, 0.4 * sample_rate)
            freqs = torch.logspace(2, math.log10(top), self.num_filters, dtype=torch.float64)
        freqs = torch.as_tensor(freqs, dtype=torch.float64)
        if (freqs >= sample_rate / 2).any():
            raise ParameterError(f"{owner}: frequencies {freqs.tolist()} must be below fs/2")
        shape = (self.num_channels, self.num_filters)
        gains = torch.as_tensor(s["eq_gains_db"], dtype=torch.float64)
        q = torch.as_tensor(s["eq_q"], dtype=torch.float64)
        return {
            "log_gain": torch.broadcast_to(gains * _LN10 / 40, shape).clone(),
            "w0": torch.broadcast_to(
                w0_from_omega(2 * math.pi * freqs / sample_rate), shape
            ).clone(),
            "q_inv": torch.broadcast_to(-torch.log(q), shape).clone(),
        }

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        if sample_rate is None:
            sample_rate = self.reference_rate

        def values(x: Tensor) -> Any:
            x = x.detach().double()
            return (x[0] if x.shape[0] == 1 else x).tolist()

        omega = omega_from_w0(parameters["w0"].detach().double())
        return {
            "eq_gains_db": values(parameters["log_gain"] * 40 / _LN10),
            "eq_freqs_hz": values(omega * sample_rate / (2 * math.pi)),
            "eq_q": values(torch.exp(-parameters["q_inv"])),
            "sample_rate": float(sample_rate),
        }


class GraphicEqualizer(_BiquadEqualizer):
    """Cascade of fixed-band peaking filters (Bark or third-octave bands below Nyquist).

    The ``log_gains`` are the natural-log gains of the whole cascade at the band centres:
    neighbouring bands overlap, and the band-interaction correction of
    :mod:`grafx.processors.core.geq` (after Välimäki and Liski 2017) sets the individual bands
    so that every centre is within 0.01 dB of its gain for any +-12 dB setting (uncompensated,
    as in the original, all bands at +6 dB gave +8.7 dB). With the correction, each gain is
    held within +-24 dB (``log_gains`` within +-2.76; the gradient is zero beyond), the range
    where it is accurate to 0.31 dB; it diverges beyond about +-30 dB.
    ``gain_correction=False`` restores the original's meaning (the individual bands' peak gains,
    held within +-120 dB).

    Args:
        processor_channel: ``"mono"``, ``"stereo"`` or ``"midside"``.
        scale: ``"bark"`` (24 bands) or ``"third_octave"`` (31 bands).
        sr: sample rate in Hz of the audio.
        gain_correction: compensate the band interaction (see above).
        reference_rate: the rate the bands are designed at (default ``sr``; its bands below
            Nyquist are the parameters); at another ``sr`` the designed biquads are re-warped
            (:func:`~grafx.processors.core.rate.warp_biquads`). A rate at or below twice the
            highest band centre cannot be served (:class:`~grafx.errors.ConfigError`).
        **backend_kwargs: :class:`~grafx.processors.core.iir.IIRFilter` arguments.
    """

    sample_rate_argument = "sr"

    def __init__(
        self,
        processor_channel: str = "mono",
        scale: str = "bark",
        sr: float = 44100,
        gain_correction: bool = True,
        reference_rate: float | None = None,
        **backend_kwargs,
    ):
        super().__init__(processor_channel, backend_kwargs, sr, reference_rate)
        self.sr = self.sample_rate
        self.geq = GraphicEqualizerBiquad(
            scale=scale, sr=self.reference_rate, gain_correction=gain_correction
        )
        self.num_bands = self.geq.num_bands
        top = float(self.geq.center_frequencies.max()) if self.num_bands else 0.0
        if self.sr != self.reference_rate and not top < self.sr / 2:
            raise ConfigError(
                f"GraphicEqualizer: cannot serve sr={self.sr:g} Hz: its highest band, designed "
                f"at {self.reference_rate:g} Hz, is at {top:.0f} Hz, at or above the Nyquist "
                f"frequency {self.sr / 2:g} Hz"
            )

    def forward(self, input_signals: Tensor, log_gains: Tensor) -> Tensor:
        """Filter ``(B, C, L)``; ``log_gains (B, C_eq, K)``."""
        designed_bs, designed_as = self.geq(log_gains)
        Bs, As = warp_biquads(designed_bs, designed_as, self.reference_rate, self.sr)
        return self._filter(input_signals, Bs, As)

    def parameter_size(self) -> ParameterSize:
        return {"log_gains": (self.num_channels, self.num_bands)}
