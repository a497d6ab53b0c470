r"""Checking a black box's estimated gradient against an analytic one (a testing helper).

grafx's own processors have exact gradients. Wrapped as black boxes (their parameters as the
box's settings, :func:`processor_as_callable`), the estimated gradient of a node can be compared
with the analytic gradient of the same function, the same mapping and the same loss:
:func:`gradient_cosine` returns the cosine similarity per node. The estimators' tests and
``benchmarks/bench_blackbox.py`` use this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from grafx.errors import ParameterError
from grafx.processors.base import Processor
from grafx.processors.blackbox import BlackBox

__all__ = ["processor_as_callable", "wrap_processor", "gradient_cosine", "reference_cases"]


def reference_cases() -> dict[str, tuple[Processor, dict[str, tuple[float, float]]]]:
    """grafx processors and parameter ranges on which the estimators are checked.

    ``{name: (processor, {key: (low, high)})}``: the ranges cover each parameter's useful span
    (log gains, sigmoid-mapped frequencies, the compressor's log threshold, ratio, knee and
    smoothing). The tests (``tests/processors/test_blackbox.py``) and
    ``benchmarks/bench_blackbox.py`` use them.
    """
    from grafx.processors.dynamics import Compressor
    from grafx.processors.eq import ParametricEqualizer
    from grafx.processors.filter import LowPassFilter, PeakingFilter
    from grafx.processors.nonlinear import TanhDistortion
    from grafx.processors.stereo import StereoGain

    rbj = {"w0": (-3.0, 1.0), "q_inv": (-1.5, 1.5)}
    return {
        "TanhDistortion": (TanhDistortion(), {"log_pre_gain": (-2.0, 3.0)}),
        "StereoGain": (StereoGain(), {"log_gain": (-2.0, 2.0)}),
        "LowPassFilter": (LowPassFilter(), rbj),
        "PeakingFilter": (PeakingFilter(), {**rbj, "log_gain": (-1.0, 1.0)}),
        "Compressor": (
            Compressor(iir_len=512),
            {
                "log_threshold": (-3.0, 3.0),
                "log_ratio": (-2.0, 2.0),
                "log_knee": (-2.0, 1.0),
                "z_alpha_pre": (-3.0, 3.0),
            },
        ),
        "ParametricEqualizer": (
            ParametricEqualizer(num_filters=2),
            {**rbj, "log_gain": (-1.0, 1.0)},
        ),
    }


def _flat_shape(processor: Processor, key: str, size: Any) -> tuple[int, ...]:
    """The shape of one parameter of a processor whose parameters are not nested."""
    if isinstance(size, int):
        return (size,)
    if isinstance(size, tuple):
        return size
    raise ParameterError(
        f"{type(processor).__name__}: parameter {key!r} is nested ({size!r}); a black box "
        "takes flat parameters only"
    )


def processor_as_callable(processor: Processor, keys: Sequence[str] | None = None):
    """A grafx processor as a gradient-free ``fn(audio, **settings)``.

    The function runs ``processor`` under ``torch.no_grad`` on one node's numpy audio ``(C, L)``
    with settings (floats or 1-D arrays) named by the processor's parameter keys, and returns
    numpy audio ``(C_out, L)`` of the input's dtype.
    """
    sizes = processor.parameter_size()
    shapes = {key: _flat_shape(processor, key, size) for key, size in sizes.items()}
    keys = list(sizes) if keys is None else list(keys)

    def fn(audio: np.ndarray, **settings: Any) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(audio))[None]
        params = {
            k: torch.as_tensor(settings[k], dtype=x.dtype).reshape(1, *shapes[k]) for k in keys
        }
        with torch.no_grad():
            y = processor(x, **params)
        return y[0].numpy()

    fn.__qualname__ = f"processor_as_callable({type(processor).__name__})"
    return fn


def wrap_processor(
    processor: Processor, ranges: Mapping[str, tuple[float, float]], **options: Any
) -> BlackBox:
    """A :class:`BlackBox` around ``processor`` whose settings are its parameters.

    Args:
        processor: a grafx processor whose parameters are all ``(B, n)`` (flat).
        ranges: ``{key: (low, high)}`` for every parameter key, in the processor's units.
        **options: :class:`BlackBox` options (estimator, samples, step, ...).
    """
    sizes = processor.parameter_size()
    settings = {}
    for key, size in sizes.items():
        n = int(np.prod(_flat_shape(processor, key, size)))
        settings[key] = (*ranges[key], n)
    options.setdefault("name", type(processor).__name__)
    return BlackBox(processor_as_callable(processor), settings, **options)


def gradient_cosine(
    processor: Processor,
    box: BlackBox,
    input_signals: Tensor,
    parameters: Mapping[str, Tensor],
    grad_output: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Per-node cosine between the box's estimated and the processor's analytic gradient.

    Both gradients are of :math:`\langle g, y \rangle` with respect to the box's parameters
    ``parameters`` (``z_<key>``, ``(B, n)``): the analytic one through the same sigmoid mapping
    into the processor. ``box`` must come from :func:`wrap_processor` with ``processor``.

    Args:
        processor: the differentiable processor.
        box: its black-box wrapper.
        input_signals: ``(B, C, L)``.
        parameters: the box's parameters.
        grad_output: :math:`g`, ``(B, C_out, L)``.

    Returns:
        ``(cosine (B,), estimated (B, P), analytic (B, P))``.
    """
    leaves = {k: v.detach().clone().requires_grad_() for k, v in parameters.items()}
    estimated_out = box(input_signals, **leaves)
    estimated = torch.autograd.grad((estimated_out * grad_output).sum(), list(leaves.values()))

    exact = {k: v.detach().clone().requires_grad_() for k, v in parameters.items()}
    values = box.values_from_units(box.units(exact))
    shapes = processor.parameter_size()
    params = {
        key: value.reshape(value.shape[0], *((s,) if isinstance(s, int) else s))
        for (key, s), value in zip(shapes.items(), values, strict=True)
    }
    analytic = torch.autograd.grad(
        (processor(input_signals, **params) * grad_output).sum(), list(exact.values())
    )
    est = torch.cat([g.reshape(g.shape[0], -1) for g in estimated], -1)
    ana = torch.cat([g.reshape(g.shape[0], -1) for g in analytic], -1)
    cosine = torch.nn.functional.cosine_similarity(est, ana, dim=-1, eps=1e-30)
    return cosine, est, ana
