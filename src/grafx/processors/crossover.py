r"""Linkwitz-Riley crossover (a MIMO node, one outlet per band) and a multiband compressor on it.

See :mod:`grafx.processors.functional.crossover`: zero-phase LR magnitudes, bands derived
complementarily, so that they sum back to the input (to rounding). In a graph, declare one
outlet per band, e.g. ``NodeConfigs({"xover": {"inlets": ["main"], "outlets": ["low", "mid",
"high"]}})`` for ``LinkwitzRileyCrossover(num_bands=3)``.

Example:
    >>> import torch
    >>> xover = LinkwitzRileyCrossover(num_bands=3, sample_rate=8000)
    >>> x = torch.randn(2, 2, 64)
    >>> bands = xover(x, z_frequency=torch.tensor([[-2.0, 0.0], [-1.0, 1.0]]))
    >>> len(bands), bands[0].shape, bool((sum(bands) - x).abs().max() < 1e-5)
    (3, torch.Size([2, 2, 64]), True)
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from grafx.errors import ConfigError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.rate import reference_or
from grafx.processors.dynamics import DYNAMICS_ARGUMENTS, Compressor
from grafx.processors.functional.crossover import linkwitz_riley_split
from grafx.processors.functional.generators import frequency_from_z_frequency


def _check_config(owner: str, num_bands: object, order: object, sample_rate: object) -> None:
    if not isinstance(num_bands, numbers.Integral) or num_bands < 2:
        raise ConfigError(f"{owner}: num_bands must be an int >= 2, got {num_bands!r}")
    if not isinstance(order, numbers.Integral) or order < 2 or order % 2:
        raise ConfigError(f"{owner}: order must be a positive even int (2, 4, 8), got {order!r}")
    if not isinstance(sample_rate, numbers.Real) or not float(sample_rate) > 0:
        raise ConfigError(f"{owner}: sample_rate must be a positive number, got {sample_rate!r}")


class LinkwitzRileyCrossover(Processor):
    r"""Split ``(B, C, L)`` audio into ``num_bands`` bands ``[(B, C, L), ...]`` that sum to it.

    Parameter ``z_frequency (num_bands - 1,)``: crossover :math:`f_k = \tfrac{f_\mathrm{ref}}{2}
    \sigma(z_k)` Hz (see :func:`~grafx.processors.functional.generators.frequency_from_z_frequency`),
    low to high; a crossover above the Nyquist frequency leaves the bands above it silent.
    Returns a list, one tensor per outlet.

    Args:
        num_bands: :math:`K + 1`, at least 2.
        order: Linkwitz-Riley order :math:`N` (4: 24 dB per octave).
        sample_rate: :math:`f_s` in Hz.
        reference_rate: :math:`f_\mathrm{ref}`, the rate ``z_frequency`` is defined at
            (default ``sample_rate``).
    """

    sample_rate_argument = "sample_rate"

    def __init__(
        self,
        num_bands: int = 3,
        order: int = 4,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
    ):
        super().__init__()
        _check_config(type(self).__name__, num_bands, order, sample_rate)
        self.num_bands, self.order, self.sample_rate = (
            int(num_bands),
            int(order),
            float(sample_rate),
        )
        self.reference_rate = reference_or(type(self).__name__, reference_rate, self.sample_rate)

    def forward(self, input_signals: Tensor, z_frequency: Tensor) -> list[Tensor]:
        """``(B, C, L)`` and ``z_frequency (B, K)`` to ``K + 1`` bands ``(B, C, L)``."""
        cutoff = frequency_from_z_frequency(z_frequency, self.reference_rate)
        bands = linkwitz_riley_split(input_signals, cutoff, self.sample_rate, self.order)
        return list(bands.unbind(1))

    def parameter_size(self) -> ParameterSize:
        return {"z_frequency": self.num_bands - 1}


class MultibandCompressor(Processor):
    r"""A :class:`~grafx.processors.dynamics.Compressor` per Linkwitz-Riley band, summed.

    .. math:: y = \sum_k \mathrm{comp}_k\big(M_k * x\big)

    With every compressor idle (threshold above the signal) the output is the input. Parameters:
    ``z_frequency (num_bands - 1,)`` as :class:`LinkwitzRileyCrossover`, and each of the
    compressor's parameters with a band axis first, e.g. ``log_threshold (num_bands, 1)``.

    Args:
        num_bands: number of bands, at least 2.
        order: Linkwitz-Riley order.
        sample_rate: :math:`f_s` in Hz (of the crossover and the compressors).
        reference_rate: the rate the crossover's ``z_frequency`` and the compressors'
            smoothers are defined at (default ``sample_rate``).
        **compressor_kwargs: the :class:`~grafx.processors.dynamics.Compressor`'s constructor
            keywords (``knee``, ``iir_len``, ``energy_smoother``, ...).
    """

    sample_rate_argument = "sample_rate"
    # The Compressor's keywords but its ignored compatibility ones and its rates (set here).
    extra_arguments = tuple(
        k
        for k in DYNAMICS_ARGUMENTS
        if k not in (*Compressor.ignored_arguments, "sample_rate", "reference_rate")
    )

    def __init__(
        self,
        num_bands: int = 3,
        order: int = 4,
        sample_rate: float = 44100.0,
        reference_rate: float | None = None,
        **compressor_kwargs,
    ):
        super().__init__()
        _check_config(type(self).__name__, num_bands, order, sample_rate)
        self.crossover = LinkwitzRileyCrossover(num_bands, order, sample_rate, reference_rate)
        self.compressor = Compressor(
            **compressor_kwargs, sample_rate=sample_rate, reference_rate=reference_rate
        )
        self.sample_rate = float(sample_rate)

    def forward(
        self, input_signals: Tensor, z_frequency: Tensor, **band_parameters: Tensor
    ) -> Tensor:
        """``(B, C, L)`` to ``(B, C, L)``; band parameters are ``(B, num_bands, ...)``."""
        bands = self.crossover(input_signals, z_frequency=z_frequency)
        B, C, L = input_signals.shape
        K = len(bands)
        stacked = torch.stack(bands, 1).reshape(B * K, C, L)
        flat = {k: v.reshape(B * K, *v.shape[2:]) for k, v in band_parameters.items()}
        return self.compressor(stacked, **flat).reshape(B, K, C, L).sum(1)

    def parameter_size(self) -> ParameterSize:
        sizes: ParameterSize = {"z_frequency": self.crossover.num_bands - 1}
        for key, size in self.compressor.parameter_size().items():
            if isinstance(size, dict):  # a compressor's parameters are flat
                raise ConfigError(f"MultibandCompressor: nested parameter {key!r}")
            shape = (size,) if isinstance(size, int) else size
            sizes[key] = (self.crossover.num_bands, *shape)
        return sizes
