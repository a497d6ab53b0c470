r"""Feedback delay network reverb (frequency-sampled, T60 per band)."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.convolution import convolve
from grafx.processors.functional.fdn import (
    fdn_aliasing_db,
    fdn_impulse_response,
    fdn_ir_len_for,
)

#: Default delay lengths (samples, mutually prime) of the 8 lines.
DEFAULT_DELAYS = (601, 691, 773, 839, 919, 997, 1061, 1129)


def t60_from_z_t60(z_t60: Tensor, t60_min: float, t60_max: float) -> Tensor:
    r""":math:`T_{60} = T_\min + (T_\max - T_\min)\sigma(z)` seconds."""
    return t60_min + (t60_max - t60_min) * torch.sigmoid(z_t60)


def z_t60_from_t60(t60: Tensor, t60_min: float, t60_max: float) -> Tensor:
    """Inverse of :func:`t60_from_z_t60`."""
    return torch.logit((t60 - t60_min) / (t60_max - t60_min))


class FDNReverb(Processor):
    r"""FDN reverb: :math:`y = (1 - w)\, u + w\, (h * u)` with the FDN's stereo impulse
    response :math:`h` (see :mod:`grafx.processors.functional.fdn`), ``(B, C, L)`` to
    ``(B, 2, L)``; a mono input feeds both outputs.

    Parameters: ``z_t60 (num_bands,)`` (:func:`t60_from_z_t60`), ``input_gains (M,)``
    (:math:`b`), ``output_gains (2, M)`` (:math:`c` of the left and right outputs) and
    ``z_mix (1,)`` (:math:`w = \sigma(z)`).

    Args:
        delays: delay-line lengths in samples (:math:`M` of them).
        num_bands: bands of :math:`T_{60}` (log-spaced centres from 50 Hz to Nyquist).
        ir_len: :math:`N`, the frequency-sampling length and impulse-response length. ``None``
            (default): :func:`~grafx.processors.functional.fdn.fdn_ir_len_for` of ``t60_max``
            and ``sample_rate`` (236196 at 44.1 kHz and 4 s), long enough that the tail folded
            back by frequency sampling is 80 dB down; a shorter ``ir_len`` (one giving less than
            60 dB) warns with a :class:`UserWarning`, as its longest T60s alias.
        sample_rate: :math:`f_s` in Hz.
        t60_min, t60_max: range of :math:`T_{60}` in seconds.
    """

    delays: Tensor
    num_bands: int
    ir_len: int
    sample_rate: float
    t60_min: float
    t60_max: float

    def __init__(
        self,
        delays: Sequence[int] = DEFAULT_DELAYS,
        num_bands: int = 4,
        ir_len: int | None = None,
        sample_rate: float = 44100.0,
        t60_min: float = 0.05,
        t60_max: float = 4.0,
    ):
        super().__init__()
        delays = list(delays)
        if len(delays) < 2 or not all(isinstance(d, numbers.Integral) and d >= 1 for d in delays):
            raise ConfigError(f"FDNReverb: delays must be >= 2 positive ints, got {delays!r}")
        if not isinstance(num_bands, numbers.Integral) or num_bands < 1:
            raise ConfigError(f"FDNReverb: num_bands must be a positive int, got {num_bands!r}")
        if ir_len is None:
            ir_len = max(fdn_ir_len_for(t60_max, sample_rate), 2 * max(delays))
        elif (
            isinstance(ir_len, numbers.Integral)
            and t60_max > 0
            and fdn_aliasing_db(ir_len, t60_max, sample_rate) < 60.0
        ):
            warnings.warn(
                f"FDNReverb: ir_len {ir_len} holds only "
                f"{fdn_aliasing_db(ir_len, t60_max, sample_rate):.1f} dB of a {t60_max} s T60 at "
                f"{sample_rate} Hz, so long T60s alias (their tail folds onto the start); use "
                f"ir_len=None ({fdn_ir_len_for(t60_max, sample_rate)}) or a smaller t60_max",
                UserWarning,
                stacklevel=2,
            )
        if not isinstance(ir_len, numbers.Integral) or ir_len < 2 * max(delays):
            raise ConfigError(
                f"FDNReverb: ir_len must be at least twice the longest delay, got {ir_len!r}"
            )
        if not 0 < t60_min < t60_max:
            raise ConfigError(f"FDNReverb: need 0 < t60_min < t60_max, got {t60_min}, {t60_max}")
        self.register_buffer("delays", torch.tensor(delays, dtype=torch.long), persistent=False)
        self.num_bands, self.ir_len = int(num_bands), int(ir_len)
        self.sample_rate, self.t60_min, self.t60_max = (
            float(sample_rate),
            float(t60_min),
            float(t60_max),
        )

    def impulse_response(self, z_t60: Tensor, input_gains: Tensor, output_gains: Tensor) -> Tensor:
        """The stereo impulse response, ``(B, 2, ir_len)``, in the parameters' dtype."""
        t60 = t60_from_z_t60(z_t60, self.t60_min, self.t60_max)
        rows = [
            fdn_impulse_response(
                t60, input_gains, output_gains[:, c], self.delays, self.ir_len, self.sample_rate
            )
            for c in range(2)
        ]
        return torch.stack(rows, 1).to(z_t60.dtype)

    def forward(
        self,
        input_signals: Tensor,
        z_t60: Tensor,
        input_gains: Tensor,
        output_gains: Tensor,
        z_mix: Tensor,
    ) -> Tensor:
        """``(B, C, L)`` to ``(B, 2, L)``."""
        h = self.impulse_response(z_t60, input_gains, output_gains)
        wet = convolve(input_signals, h)
        w = torch.sigmoid(z_mix)[:, :, None]
        return (1 - w) * input_signals + w * wet

    def parameter_size(self) -> ParameterSize:
        M = int(self.delays.shape[0])
        return {"z_t60": self.num_bands, "input_gains": M, "output_gains": (2, M), "z_mix": 1}
