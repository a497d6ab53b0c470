r"""Multitap delay with differentiable (surrogate) delay lines (graph nodes)."""

from __future__ import annotations

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.delay import SurrogateDelay
from grafx.processors.core.deprecation import warn_deprecated
from grafx.processors.core.fir import make_window, zero_phase_fir
from grafx.processors.core.midside import check_processor_channel, num_processor_channels
from grafx.processors.core.rate import apply_ir_at_rate, check_rate, reference_or
from grafx.processors.functional.delay import assemble_multitap_ir

__all__ = ["MultitapDelay", "StereoMultitapDelay"]


class MultitapDelay(Processor):
    r"""Delay with ``num_segments`` segments of ``segment_len`` samples and learnable taps.

    Each of the ``D = C * S * T`` taps (``C`` channels, ``S = num_segments``,
    ``T = num_delay_per_segment``; ordered channel, then segment, then tap) is a
    :class:`~grafx.processors.core.delay.SurrogateDelay` of ``segment_len`` samples driven by
    the complex number ``delay_z[..., 0] + i delay_z[..., 1]``: its angle sets the delay within
    the segment, :math:`d = -\arg(z)\, L_s / 2\pi \bmod L_s`, and its modulus how sharp the tap
    is. With ``zp_filter_per_tap`` each tap is coloured by a zero-phase FIR of
    ``2 * zp_filter_bins - 1`` taps designed from ``log_fir_magnitude`` (0 is the identity).
    Segment ``s`` covers delays ``[s L_s, (s+1) L_s)``; the IR is normalised to unit energy and
    convolved with the input. With ``straight_through`` (the default) each tap is an exact
    one-hot in the forward pass.

    Channel modes: ``"stereo"`` (left/right IRs; a mono input becomes stereo), ``"midside"`` (the
    input is processed as mid/side and converted back), ``"mono"`` (one IR for every channel).

    Returns ``(output, extras)``; ``extras`` is ``{"radii_reg": scalar}`` (the summed radii loss
    that pulls taps towards sharp delays) when ``radii_loss`` is on, else ``{}``.

    Differences from the original (bugs fixed): ``"midside"`` really processes mid/side (the
    original silently processed left/right); an unknown ``processor_channel`` raises at
    construction; the ``radii_loss`` flag is honoured.

    Args:
        segment_len: samples per segment ``L_s``.
        num_segments: ``S``.
        num_delay_per_segment: taps per segment ``T``.
        processor_channel: ``"stereo"``, ``"midside"`` or ``"mono"``.
        zp_filter_per_tap: colour each tap with its own zero-phase FIR.
        zp_filter_bins: magnitude bins of each tap's FIR.
        flashfftconv, max_input_len: accepted for compatibility.
        pre_delay: samples of silence before the first segment.
        sample_rate: the rate of the audio in Hz.
        reference_rate: the rate ``segment_len``, ``pre_delay`` and the taps' FIR bins count
            samples of (default ``sample_rate``; 3000 samples are 68 ms at 44.1 kHz); at another
            ``sample_rate`` the IR is made there, normalised and resampled
            (:func:`~grafx.processors.core.rate.apply_ir_at_rate`): the same delays in seconds.
        **surrogate_delay_kwargs: ``straight_through``, ``radii_loss``, ``normalize_gradients``
            of :class:`~grafx.processors.core.delay.SurrogateDelay`.
    """

    ignored_arguments = ("flashfftconv", "max_input_len")
    sample_rate_argument = "sample_rate"
    #: the engine may render the nodes in chunks and add up their radii losses
    chunked_extras = {"radii_reg": "sum"}
    fir_window: Tensor | None

    def __init__(
        self,
        segment_len: int = 3000,
        num_segments: int = 20,
        num_delay_per_segment: int = 1,
        processor_channel: str = "stereo",
        zp_filter_per_tap: bool = True,
        zp_filter_bins: int = 20,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
        pre_delay: int = 0,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        **surrogate_delay_kwargs,
    ):
        super().__init__()
        name = type(self).__name__
        self.sample_rate = check_rate(name, sample_rate)
        self.reference_rate = reference_or(name, reference_rate, self.sample_rate)
        self.processor_channel = check_processor_channel(processor_channel, name)
        unknown = set(surrogate_delay_kwargs) - {
            "straight_through",
            "radii_loss",
            "normalize_gradients",
        }
        if unknown:
            raise ConfigError(f"{name}: unknown argument(s) {sorted(unknown)}")
        if min(segment_len, num_segments, num_delay_per_segment) < 1 or pre_delay < 0:
            raise ConfigError(
                f"{name}: segment_len, num_segments and num_delay_per_segment must be positive "
                f"and pre_delay >= 0"
            )
        self.segment_len = int(segment_len)
        self.num_segments = int(num_segments)
        self.num_delay_per_segment = int(num_delay_per_segment)
        self.num_channels = num_processor_channels(processor_channel)
        self.num_taps = self.num_channels * self.num_segments * self.num_delay_per_segment
        self.zp_filter_per_tap = bool(zp_filter_per_tap)
        self.zp_filter_bins = int(zp_filter_bins)
        self.pre_delay = int(pre_delay)
        self.max_input_len = max_input_len
        self.delay = SurrogateDelay(self.segment_len, **surrogate_delay_kwargs)
        window = make_window("hann", 2 * self.zp_filter_bins - 1) if zp_filter_per_tap else None
        self.register_buffer("fir_window", window, persistent=False)

    @property
    def ir_len(self) -> int:
        return self.pre_delay + self.num_segments * self.segment_len

    def impulse_response(
        self, delay_z: Tensor, log_fir_magnitude: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """The raw (not normalised) IRs ``(B, C, ir_len)`` and the radii loss (or ``None``)."""
        z = torch.complex(delay_z[..., 0], delay_z[..., 1])
        tap_irs, radii = self.delay(z)
        firs = None
        if self.zp_filter_per_tap and log_fir_magnitude is not None:
            firs = zero_phase_fir(log_fir_magnitude, self.fir_window)
        ir = assemble_multitap_ir(
            tap_irs, self.num_channels, self.num_segments, firs, self.pre_delay
        )
        return ir, radii

    def forward(
        self, input_signals: Tensor, delay_z: Tensor, log_fir_magnitude: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Delay ``input_signals (B, C, L)``.

        Args:
            input_signals: ``(B, C, L)``.
            delay_z: real and imaginary parts of each tap's ``z``, ``(B, D, 2)``.
            log_fir_magnitude: ``(B, D, zp_filter_bins)`` when ``zp_filter_per_tap``.

        Returns:
            ``(output (B, C', L), extras)``.
        """
        ir, radii = self.impulse_response(delay_z, log_fir_magnitude)
        output = apply_ir_at_rate(
            input_signals,
            ir,
            self.processor_channel,
            type(self).__name__,
            self.reference_rate,
            self.sample_rate,
        )
        return output, ({} if radii is None else {"radii_reg": radii})

    def parameter_size(self) -> ParameterSize:
        size: ParameterSize = {"delay_z": (self.num_taps, 2)}
        if self.zp_filter_per_tap:
            size["log_fir_magnitude"] = (self.num_taps, self.zp_filter_bins)
        return size


class StereoMultitapDelay(MultitapDelay):
    """Deprecated name of ``MultitapDelay(processor_channel="stereo" or "mono")``.

    Same parameters (``delay_z``, ``log_fir_magnitude``) and output. Warns once per process with
    a :class:`DeprecationWarning`.

    Args:
        stereo: ``True`` for ``processor_channel="stereo"``, ``False`` for ``"mono"``.
        Others: as :class:`MultitapDelay`.

    Rate-bound: its lengths are samples at whatever rate it is given (the new name takes
    ``sample_rate``).
    """

    rate_bound = "a deprecated name without a sample rate; MultitapDelay takes one"

    def __init__(
        self,
        segment_len: int = 3000,
        num_segments: int = 20,
        num_delay_per_segment: int = 1,
        stereo: bool = True,
        zp_filter_per_tap: bool = True,
        zp_filter_bins: int = 20,
        straight_through: bool = True,
        flashfftconv: bool = True,
        max_input_len: int = 2**17,
    ):
        warn_deprecated(
            "StereoMultitapDelay", 'MultitapDelay(processor_channel="stereo" or "mono")'
        )
        super().__init__(
            segment_len=segment_len,
            num_segments=num_segments,
            num_delay_per_segment=num_delay_per_segment,
            processor_channel="stereo" if stereo else "mono",
            zp_filter_per_tap=zp_filter_per_tap,
            zp_filter_bins=zp_filter_bins,
            flashfftconv=flashfftconv,
            max_input_len=max_input_len,
            straight_through=straight_through,
        )
