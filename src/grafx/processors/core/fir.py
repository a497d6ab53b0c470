r"""Zero-phase (linear-phase, centred) FIR design from a log-magnitude response.

A real, non-negative magnitude :math:`|H_k|` on ``F`` uniform bins is turned into an odd-length
``N = 2F - 1`` filter: ``irfft`` gives a real, even (zero-phase) impulse response, a circular
shift by ``F - 1`` centres it, and a window tapers it. The bins are the DFT bins of that odd
length, :math:`f_k = k\, f_s / (2F - 1)` for :math:`k = 0 .. F-1`: from DC to half a bin below
Nyquist, not to Nyquist itself (an odd-length DFT has no Nyquist bin). Without a window the
filter's response at :math:`f_k` is exactly :math:`|H_k|`
(``tests/processors/test_core_fir.py::test_zero_phase_bins_are_odd_length_dft_bins``); the
filter-bank variant places its bands on the same bins.

Difference from the original library, on purpose: the windows are *symmetric*
(``periodic=False``), so the designed filter is exactly symmetric about its centre tap and a flat
log-magnitude of 0 gives the identity (centre tap exactly 1, all others 0). The original used
periodic windows, which made the filter slightly asymmetric and its flat response 0.989
(about -0.1 dB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.fft_filterbank import DEFAULT_FILTERBANK_SR, TriangularFilterBank

_NO_WINDOW = ("rectangular", "none", "boxcar")
_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
    "kaiser": torch.kaiser_window,
}


def make_window(
    window: str | Tensor | None, length: int, window_kwargs: Mapping[str, Any] | None = None
) -> Tensor | None:
    """A symmetric float64 window of ``length`` taps, or ``None`` for no window.

    Args:
        window: ``"hann"``, ``"hamming"``, ``"blackman"``, ``"bartlett"``, ``"kaiser"``;
            ``"rectangular"``, ``"none"``, ``"boxcar"`` or ``None`` for no window; or a tensor of
            ``length`` taps used as given.
        length: number of taps.
        window_kwargs: extra arguments of the torch window function (e.g. ``beta`` for kaiser).

    Returns:
        The window, ``(length,)``, or ``None``.
    """
    if window is None:
        return None
    if isinstance(window, Tensor):
        if window.shape != (length,):
            raise ConfigError(
                f"ZeroPhaseFIR: a custom window must have shape ({length},), got {tuple(window.shape)}"
            )
        return window.detach().to(torch.float64)
    if window in _NO_WINDOW:
        return None
    if window not in _WINDOWS:
        raise ConfigError(
            f"ZeroPhaseFIR: unknown window {window!r}; use one of "
            f"{(*_WINDOWS, *_NO_WINDOW, None)} or a tensor"
        )
    kwargs = dict(window_kwargs or {})
    kwargs.pop("periodic", None)
    return _WINDOWS[window](length, periodic=False, dtype=torch.float64, **kwargs)


def odd_dft_bins(filterbank_kwargs: Mapping[str, Any] | None, fir_len: int) -> dict[str, Any]:
    """Filter-bank arguments with bins on the ``fir_len``-point DFT (``sr / fir_len`` apart)."""
    kwargs = dict(filterbank_kwargs or {})
    kwargs.setdefault("bin_spacing", kwargs.get("sr", DEFAULT_FILTERBANK_SR) / fir_len)
    return kwargs


def zero_phase_fir(log_magnitude: Tensor, window: Tensor | None = None) -> Tensor:
    r"""Design centred linear-phase FIRs from log-magnitudes.

    .. math:: h[n] = w[n]\, \mathrm{irfft}\big(e^{\ell}\big)[(n - F + 1) \bmod N],
              \quad N = 2F - 1

    Args:
        log_magnitude: natural-log magnitudes on the ``F`` bins :math:`k f_s / (2F - 1)` (module
            docstring), ``(..., F)``.
        window: symmetric window of ``N`` taps, ``(N,)``, or ``None``.

    Returns:
        Symmetric filters, ``(..., 2F - 1)``, centre tap at index ``F - 1``.
    """
    num_bins = log_magnitude.shape[-1]
    fir_len = 2 * num_bins - 1
    magnitude = torch.exp(log_magnitude)
    fir = torch.fft.irfft(magnitude.to(torch.result_type(magnitude, 1j)), n=fir_len)
    fir = torch.roll(fir, shifts=num_bins - 1, dims=-1)
    if window is not None:
        fir = fir * window.to(dtype=fir.dtype, device=fir.device)
    return fir


class ZeroPhaseFIR(nn.Module):
    """Module form of :func:`zero_phase_fir` with a fixed window.

    Args:
        num_magnitude_bins: number of bins ``F``; filters have ``2F - 1`` taps.
        window: see :func:`make_window`.
        **window_kwargs: passed to the torch window function.
    """

    window: Tensor

    def __init__(
        self, num_magnitude_bins: int = 1024, window: str | Tensor | None = "hann", **window_kwargs
    ):
        super().__init__()
        self.num_magnitude_bins = num_magnitude_bins
        self.fir_len = 2 * num_magnitude_bins - 1
        self.register_buffer(
            "window", make_window(window, self.fir_len, window_kwargs), persistent=False
        )

    def forward(self, log_magnitude: Tensor) -> Tensor:
        """``log_magnitude (..., F)`` to symmetric filters ``(..., 2F - 1)``."""
        if log_magnitude.shape[-1] != self.num_magnitude_bins:
            raise ParameterError(
                f"ZeroPhaseFIR: expected {self.num_magnitude_bins} magnitude bins in the last dim, "
                f"got shape {tuple(log_magnitude.shape)}"
            )
        return zero_phase_fir(log_magnitude, self.window)


class ZeroPhaseFilterBankFIR(nn.Module):
    r"""Zero-phase FIR design from per-bin or per-band log-magnitudes.

    Without a filter bank this is :class:`ZeroPhaseFIR` on ``num_frequency_bins`` bins. With
    ``use_filterbank=True`` the input is one log-magnitude per band; band energies
    :math:`e^{2\ell}` are spread onto the bins by a :class:`TriangularFilterBank` (synthesis)
    and the bin magnitude is :math:`\sqrt{E + \epsilon}`.

    Args:
        num_frequency_bins: number of bins ``F``; filters have ``2F - 1`` taps.
        use_filterbank: take band log-magnitudes instead of bin log-magnitudes.
        filterbank_kwargs: :class:`TriangularFilterBank` arguments other than the bin count
            (``num_filters``, ``scale``, ``f_min``, ``f_max``, ``sr``, ``low_half_triangle``).
        window: see :func:`make_window`.
        window_kwargs: passed to the torch window function.
        eps: energy floor, so a band of zero energy gives a finite log.
    """

    window: Tensor
    filterbank: TriangularFilterBank | None

    def __init__(
        self,
        num_frequency_bins: int = 1024,
        use_filterbank: bool = False,
        filterbank_kwargs: Mapping[str, Any] | None = None,
        window: str | Tensor | None = "hann",
        window_kwargs: Mapping[str, Any] | None = None,
        eps: float = 1e-7,
    ):
        super().__init__()
        self.num_frequency_bins = num_frequency_bins
        self.fir_len = 2 * num_frequency_bins - 1
        self.use_filterbank = use_filterbank
        self.eps = eps
        self.filterbank = (
            TriangularFilterBank(
                num_frequency_bins, **odd_dft_bins(filterbank_kwargs, self.fir_len)
            )
            if use_filterbank
            else None
        )
        self.num_input_bins = (
            num_frequency_bins if self.filterbank is None else self.filterbank.num_filters
        )
        self.register_buffer(
            "window", make_window(window, self.fir_len, window_kwargs), persistent=False
        )

    def forward(self, log_magnitude: Tensor) -> Tensor:
        """``log_magnitude (..., F or K)`` to symmetric filters ``(..., 2F - 1)``."""
        if log_magnitude.shape[-1] != self.num_input_bins:
            raise ParameterError(
                f"ZeroPhaseFilterBankFIR: expected {self.num_input_bins} values in the last dim, "
                f"got shape {tuple(log_magnitude.shape)}"
            )
        if self.filterbank is not None:
            energy = self.filterbank(torch.exp(2 * log_magnitude), mode="synthesis")
            log_magnitude = 0.5 * torch.log(energy + self.eps)
        return zero_phase_fir(log_magnitude, self.window)
