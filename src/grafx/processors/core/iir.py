r"""Batched cascades of biquads: exact recursion or the frequency-sampling approximation.

:class:`IIRFilter` filters ``(B, C, L)`` signals with ``K`` cascaded biquads per node and filter
channel, given unnormalised coefficients ``Bs, As`` of shape ``(B, C_f, K, 3)``. Backends:

* ``"fsm"`` (frequency sampling): the cascade's response :math:`\prod_k B_k/A_k` is evaluated
  on the ``N // 2 + 1`` bins :math:`\omega_m = 2\pi m/N`, turned into an ``N``-tap FIR by an
  inverse real FFT, and applied by exact causal convolution. This is an approximation: the FIR
  is the time-aliased impulse response :math:`h_N[n] = \sum_{r \ge 0} h[n + rN]`, so the error
  is the tail of :math:`h` beyond ``N`` samples folded back, about :math:`\rho^N` relative to
  :math:`h` for a largest pole radius :math:`\rho`. ``N`` is therefore chosen per call from the
  narrowest band (largest pole radius) of each node by :func:`fsm_fir_len_for`: ``fsm_fir_len``
  (default 4000) is a minimum, raised to :math:`\lceil \ln 10^{-6} / \ln\rho \rceil` (a
  power of two) when that is longer, so the tail is below :data:`FSM_TOLERANCE` for every
  setting, up to :data:`FSM_MAX_FIR_LEN` taps (beyond it a :class:`FSMAccuracyWarning` names
  the expected error; use an exact backend there).
* ``"lfilter"`` and ``"ssm"``: exact recursion by
  :func:`grafx.processors.core.biquad.sosfilt` (method ``"auto"``): scipy's ``sosfilt`` with
  an IIR adjoint as backward on CPU, and the blocked state-space scan
  (:mod:`grafx.processors.core.biquad_scan`) on every other device. Both names are kept for
  compatibility and run the same code. Unlike the original library's ``ssm``, each section
  filters the previous section's output (the original re-filtered the input at every stage)
  and a pole at zero is fine (no NaN).

``lfilter`` and ``ssm`` agree with ``scipy.signal.sosfilt`` to rounding.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.biquad import sosfilt
from grafx.processors.core.convolution import convolve
from grafx.processors.core.utils import broadcast_shapes

IIR_BACKENDS = ("fsm", "lfilter", "ssm")

#: Largest tail :math:`\rho^N` of the impulse response that the ``fsm`` backend leaves out.
FSM_TOLERANCE = 1e-6
#: Longest FIR the ``fsm`` backend builds; 2**17 covers a pole radius down to 1 - 1.05e-4
#: (e.g. 20 Hz, Q = 10 at 48 kHz) at :data:`FSM_TOLERANCE`.
FSM_MAX_FIR_LEN = 2**17


class FSMAccuracyWarning(UserWarning):
    """The ``fsm`` backend needed a longer FIR than :data:`FSM_MAX_FIR_LEN` for its tolerance."""


#: Smallest distance kept between a biquad's poles and the unit circle by
#: :func:`stable_biquad_denominator` (a pole radius of 1 - 1e-5 is a time constant of 2 s at
#: 44.1 kHz, far beyond any useful audio filter).
STABILITY_MARGIN = 1e-5


def stable_biquad_denominator(a1: Tensor, a2: Tensor, margin: float = STABILITY_MARGIN):
    r"""Keep a biquad's poles within radius :math:`\rho = 1 - \delta` of the origin.

    The poles of :math:`1 + a_1 z^{-1} + a_2 z^{-2}` all have radius at most :math:`\rho` iff
    :math:`|a_2| \le \rho^2` and :math:`|a_1| \le \rho + a_2/\rho`. This clamps :math:`a_2`
    and then :math:`a_1` into that region, so any coefficient pair whose poles are already
    within :math:`\rho` is unchanged, and no parameter value can give an unstable (or
    marginally stable) filter. Gradients stay finite; they are zero across an active clamp.

    Args:
        a1: first denominator coefficient, any shape.
        a2: second denominator coefficient, same shape.
        margin: :math:`\delta`.

    Returns:
        The clamped ``(a1, a2)``.
    """
    rho = 1.0 - margin
    a2 = torch.clamp(a2, -(rho**2), rho**2)
    bound = rho + a2 / rho
    a1 = torch.maximum(torch.minimum(a1, bound), -bound)
    return a1, a2


def normalized_stable_biquad(b: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """Divide ``b, a (..., 3)`` by ``a0`` and project the poles inside the unit circle.

    Returns:
        ``Bs, As`` with ``As[..., 0] == 1``; see :func:`stable_biquad_denominator`.
    """
    a0 = a[..., :1]
    b = b / a0
    a1, a2 = stable_biquad_denominator(a[..., 1] / a0[..., 0], a[..., 2] / a0[..., 0])
    return b, torch.stack([torch.ones_like(a1), a1, a2], dim=-1)


def biquad_frequency_response(Bs: Tensor, As: Tensor, fir_len: int) -> Tensor:
    r"""Response of a biquad cascade on ``fir_len // 2 + 1`` uniform bins.

    .. math:: H(e^{j\omega_m}) = \prod_k \frac{\sum_i b_{k,i} e^{-j\omega_m i}}
              {\sum_i a_{k,i} e^{-j\omega_m i}}, \quad \omega_m = 2\pi m / N

    Args:
        Bs: numerators, ``(..., K, 3)``.
        As: denominators, ``(..., K, 3)``.
        fir_len: ``N``.

    Returns:
        Complex response, ``(..., N // 2 + 1)``.
    """
    numerator = torch.fft.rfft(Bs, n=fir_len)
    denominator = torch.fft.rfft(As, n=fir_len)
    return (numerator / denominator).prod(-2)


def fsm_fir(Bs: Tensor, As: Tensor, fir_len: int) -> Tensor:
    """The ``fir_len``-tap frequency-sampling FIR of a biquad cascade, ``(..., N)``."""
    return torch.fft.irfft(biquad_frequency_response(Bs, As, fir_len), n=fir_len)


def pole_radius(As: Tensor) -> Tensor:
    r"""Largest pole radius :math:`\rho` of each biquad denominator ``As (..., 3)`` -> ``(...)``.

    Complex poles have radius :math:`\sqrt{a_2}`; real ones :math:`(|a_1| + \sqrt{a_1^2 -
    4a_2})/2` (normalised coefficients, ``a0 != 0``). Not differentiated.
    """
    with torch.no_grad():
        a1 = As[..., 1] / As[..., 0]
        a2 = As[..., 2] / As[..., 0]
        disc = a1.square() - 4 * a2
        return torch.where(
            disc < 0,
            torch.sqrt(a2.clamp_min(0)),
            (a1.abs() + torch.sqrt(disc.clamp_min(0))) / 2,
        )


def fsm_fir_len_for(
    radius: float,
    min_len: int,
    tolerance: float = FSM_TOLERANCE,
    max_len: int = FSM_MAX_FIR_LEN,
) -> int:
    r"""The ``fsm`` FIR length for a largest pole radius :math:`\rho` (module docstring).

    ``min_len`` when the tail :math:`\rho^{N}` is already below ``tolerance`` there; otherwise
    the power of two at or above :math:`\ln(\mathrm{tol})/\ln\rho`, at most ``max_len``
    (then a :class:`FSMAccuracyWarning` says the expected error :math:`\rho^{N}`).
    """
    max_len = max(max_len, min_len)
    if radius <= 0 or radius**min_len <= tolerance:
        return min_len
    needed = math.inf if radius >= 1 else math.log(tolerance) / math.log(radius)
    if needed <= max_len:
        return min(max_len, 1 << math.ceil(math.log2(needed)))
    warnings.warn(
        f"IIRFilter(backend='fsm'): a pole of radius {radius:.7f} needs about {needed:.0f} FIR "
        f"taps for a {tolerance:g} tail; using {max_len}, expect a relative error of about "
        f"{radius**max_len:.1e} (use backend='lfilter' for exact filtering)",
        FSMAccuracyWarning,
        stacklevel=3,
    )
    return max_len


def fsm_fir_rows(Bs: Tensor, As: Tensor, min_len: int) -> Tensor:
    """Frequency-sampling FIRs with a length chosen per batch row, zero-padded to the longest.

    Each row ``b`` of ``Bs, As (B, C_f, K, 3)`` gets :func:`fsm_fir_len_for` of its own largest
    pole radius, so a node's output does not depend on the nodes batched with it.

    Returns:
        ``(B, C_f, N_max)``.
    """
    if As.device.type == "meta":
        # No values to size the FIRs from; the output's shape does not depend on their length.
        return fsm_fir(Bs, As, min_len)
    radii = pole_radius(As).flatten(1).amax(1).tolist()
    lengths = [fsm_fir_len_for(r, min_len) for r in radii]
    longest = max(lengths)
    order, firs = [], []
    for length in sorted(set(lengths)):
        rows = [i for i, n in enumerate(lengths) if n == length]
        fir = fsm_fir(Bs[rows], As[rows], length)
        firs.append(torch.nn.functional.pad(fir, (0, longest - length)))
        order += rows
    if len(firs) == 1:
        return firs[0]
    inverse = torch.argsort(torch.tensor(order, device=Bs.device))
    return torch.cat(firs)[inverse]


def iir_fsm(input_signal: Tensor, Bs: Tensor, As: Tensor, fir_len: int) -> Tensor:
    """Frequency-sampling approximation of a biquad cascade (see the module docstring).

    Args:
        input_signal: ``(B, C, L)``.
        Bs: numerators, ``(B, C_f, K, 3)``.
        As: denominators, ``(B, C_f, K, 3)``.
        fir_len: FIR length ``N``.

    Returns:
        ``(B, max(C, C_f), L)``.
    """
    # The response is evaluated in the coefficients' dtype (float64 from every grafx design):
    # in float32, 1 + a1 e^{-jw} + a2 e^{-2jw} cancels to a few digits near low poles.
    fir = fsm_fir(Bs, As, fir_len).to(input_signal.dtype)
    return convolve(input_signal, fir, mode="causal")


def iir_exact(input_signal: Tensor, Bs: Tensor, As: Tensor, method: str = "auto") -> Tensor:
    """Exact recursive biquad cascade (zero initial state), channels broadcast.

    Args:
        input_signal: ``(B, C, L)``.
        Bs: numerators, ``(B, C_f, K, 3)``.
        As: denominators with nonzero ``a0``, ``(B, C_f, K, 3)``.
        method: :func:`grafx.processors.core.biquad.sosfilt` method.

    Returns:
        ``(B, max(C, C_f), L)``.
    """
    batch, _, length = input_signal.shape
    channels = broadcast_shapes(input_signal.shape[:-1], Bs.shape[:-2], As.shape[:-2])[1]
    num_sections = Bs.shape[-2]
    a0 = As[..., :1]
    b = (Bs / a0).expand(batch, channels, num_sections, 3)
    a = (As[..., 1:] / a0).expand(batch, channels, num_sections, 2)
    x = input_signal.expand(batch, channels, length)
    y = sosfilt(
        x.reshape(batch * channels, length),
        b.reshape(batch * channels, num_sections, 3),
        a.reshape(batch * channels, num_sections, 2),
        method=method,
    )
    return y.reshape(batch, channels, length)


class IIRFilter(nn.Module):
    r"""Cascade of ``K`` biquads per node and channel, with a selectable backend.

    Args:
        order: filter order per section; only 2 (biquads) is supported.
        backend: ``"fsm"``, ``"lfilter"`` or ``"ssm"`` (module docstring).
        flashfftconv: accepted for compatibility; convolution is always grafx's exact FFT path
            (so, unlike the original, ``fsm_fir_len`` may be odd).
        fsm_fir_len: shortest FIR length ``N`` of the ``"fsm"`` backend; each call lengthens it
            as the narrowest band needs (:func:`fsm_fir_len_for`).
        fsm_max_input_len: accepted for compatibility; lengths are handled per call.
        fsm_regularization: must be False (the original asserted the same).
    """

    def __init__(
        self,
        order: int = 2,
        backend: str = "fsm",
        flashfftconv: bool = True,
        fsm_fir_len: int = 4000,
        fsm_max_input_len: int = 2**17,
        fsm_regularization: bool = False,
    ):
        super().__init__()
        if order != 2:
            raise ConfigError(f"IIRFilter: only order=2 (biquads) is supported, got {order}")
        if backend not in IIR_BACKENDS:
            raise ConfigError(f"IIRFilter: unknown backend {backend!r}; use one of {IIR_BACKENDS}")
        if fsm_regularization:
            raise ConfigError("IIRFilter: fsm_regularization=True is not supported")
        if int(fsm_fir_len) < 1:
            raise ConfigError(f"IIRFilter: fsm_fir_len must be positive, got {fsm_fir_len}")
        self.order = order
        self.backend = backend
        self.flashfftconv = flashfftconv
        self.fsm_fir_len = int(fsm_fir_len)
        self.fsm_max_input_len = fsm_max_input_len
        self.fsm_regularization = fsm_regularization

    def forward(self, input_signal: Tensor, Bs: Tensor, As: Tensor) -> Tensor:
        """Filter ``input_signal (B, C, L)`` by ``Bs, As (B, C_f, K, 3)`` -> ``(B, max(C, C_f), L)``."""
        if input_signal.ndim != 3 or Bs.ndim != 4 or Bs.shape != As.shape or Bs.shape[-1] != 3:
            raise ParameterError(
                "IIRFilter: expected input (B, C, L) and Bs, As (B, C_f, K, 3) of one shape, got "
                f"{tuple(input_signal.shape)}, {tuple(Bs.shape)}, {tuple(As.shape)}"
            )
        if self.backend == "fsm":
            fir = fsm_fir_rows(Bs, As, self.fsm_fir_len).to(input_signal.dtype)
            return convolve(input_signal, fir, mode="causal")
        return iir_exact(input_signal, Bs, As)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, fsm_fir_len={self.fsm_fir_len}"
