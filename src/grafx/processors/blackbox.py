r"""Black-box processors: any audio effect without gradients as a node of a grafx graph.

:class:`BlackBox` wraps a callable ``f(audio, **settings) -> audio`` (numpy code, a C extension,
a plugin) that gives no gradient. Each node's audio ``(C, L)`` is passed as a numpy array (or a
CPU tensor, ``array="torch"``) with its settings as Python floats (or 1-D arrays for vector
settings); the result must be ``(C_out, L)``. The graph's parameters are unconstrained and
mapped onto each setting's range ``[low, high]``:

* ``mapping="sigmoid"`` (default): parameter ``z_<name>``, setting
  :math:`v = \mathrm{low} + (\mathrm{high} - \mathrm{low})\,\sigma(z)`; every value of
  :math:`z` is in range, so a fit never gets stuck at a bound;
* ``mapping="clamp"``: parameter ``<name>`` in the setting's own units, clamped to the range
  (its gradient is zero outside it).

Gradients are estimated (:mod:`grafx.processors.core.blackbox_grad`): SPSA or central finite
differences for the settings, a straight-through or linearised-gain estimate for the input
audio. Calls run in a thread pool (or processes; :mod:`grafx.processors.core.blackbox_pool`)
across the nodes of a render step and the estimator's samples. Straight-through helpers for
discrete operations inside differentiable code are in
:mod:`grafx.processors.core.straight_through` (re-exported here).

Example:
    >>> import numpy as np, torch
    >>> def hard_clip(audio, level):
    ...     return np.clip(audio, -level, level)
    >>> box = BlackBox(hard_clip, {"level": (0.1, 1.0)})
    >>> box.parameter_size()
    {'z_level': 1}
    >>> params = box.parameters_from_settings({"level": [0.5]})
    >>> box(torch.linspace(-1, 1, 5).reshape(1, 1, 5), **params)
    tensor([[[-0.5000, -0.5000,  0.0000,  0.5000,  0.5000]]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from grafx.errors import BlackBoxError, ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor
from grafx.processors.core.blackbox_grad import BlackBoxFunction, Estimator
from grafx.processors.core.blackbox_pool import (
    describe_callable,
    run_jobs,
    shared_executor,
)
from grafx.processors.core.straight_through import (
    bit_crush,
    integer_delay,
    quantize,
    round_ste,
    straight_through,
)

__all__ = [
    "BlackBox",
    "SettingRange",
    "MAPPINGS",
    "unit_from_z",
    "z_from_unit",
    "straight_through",
    "round_ste",
    "quantize",
    "bit_crush",
    "integer_delay",
]

MAPPINGS = ("sigmoid", "clamp")


def unit_from_z(z: Tensor) -> Tensor:
    r"""Normalised setting :math:`u = \sigma(z) \in (0, 1)`."""
    return torch.sigmoid(z)


def z_from_unit(u: Tensor) -> Tensor:
    """Inverse of :func:`unit_from_z`."""
    return torch.logit(u)


@dataclass(frozen=True)
class SettingRange:
    """The range ``[low, high]`` of one setting of a black box, and its size (1: a scalar)."""

    low: float
    high: float
    size: int = 1

    @classmethod
    def parse(cls, owner: str, name: str, spec: Any) -> SettingRange:
        """From ``(low, high)``, ``(low, high, size)`` or a :class:`SettingRange`."""
        if isinstance(spec, SettingRange):
            spec = (spec.low, spec.high, spec.size)
        if not isinstance(spec, Sequence) or len(spec) not in (2, 3):
            raise ConfigError(
                f"{owner}: setting {name!r} must be (low, high) or (low, high, size), got {spec!r}"
            )
        low, high = float(spec[0]), float(spec[1])
        size = int(spec[2]) if len(spec) == 3 else 1
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ConfigError(
                f"{owner}: setting {name!r} has range [{low}, {high}]; it needs finite low < high"
            )
        if size < 1:
            raise ConfigError(f"{owner}: setting {name!r} has size {size}; it must be >= 1")
        return cls(low, high, size)

    def value(self, unit: Tensor) -> Tensor:
        """The setting for normalised values ``unit`` in ``[0, 1]``."""
        return self.low + (self.high - self.low) * unit

    def unit(self, value: Tensor) -> Tensor:
        """Normalised values of settings ``value`` (not clamped)."""
        return (value - self.low) / (self.high - self.low)


class BlackBox(Processor):
    r"""A callable without gradients as a graph node, with estimated gradients.

    Shapes: input ``(B, C, L)``; each parameter ``(B, size)``; output ``(B, C_out, L)`` with
    ``C_out = output_channels`` or ``C``. The callable is called once per node (``B`` calls) in
    the forward pass and ``2S`` times per node in the backward pass (SPSA: ``S =
    num_samples``; finite differences: ``S`` = the number of scalar settings). Output dtype and
    device are the input's; the callable always runs on the CPU.

    Rate-bound: grafx cannot know the rate ``fn`` assumes, so a graph with a black box renders
    only at the rate it was saved at (:class:`PedalboardEffect` takes ``sample_rate``).

    Args:
        fn: ``fn(audio, **settings) -> audio`` with ``audio`` ``(C, L)``; it must not keep
            state between calls and, with ``executor="thread"``, must be thread-safe.
        settings: ``{name: (low, high)}`` or ``{name: (low, high, size)}`` (or
            :class:`SettingRange`), the keyword arguments of ``fn`` the graph learns, in order.
        mapping: ``"sigmoid"`` (parameters ``z_<name>``) or ``"clamp"`` (parameters ``<name>``
            in the setting's units); see the module docstring.
        estimator: ``"spsa"`` or ``"finite_difference"``.
        num_samples: SPSA's perturbation pairs per node and backward pass.
        step: the perturbation, a fraction of each setting's range.
        input_grad: gradient to the input audio: ``"straight_through"``, ``"gain"`` or
            ``"none"`` (:mod:`grafx.processors.core.blackbox_grad`).
        seed: seed of SPSA's perturbations (a generator owned by this module).
        executor: ``"thread"``, ``"process"``, ``"serial"`` or an ``Executor``.
        num_workers: pool size (default: the CPUs this process may use).
        array: ``"numpy"`` (arrays in the input's float dtype) or ``"torch"`` (CPU tensors).
        output_channels: the channel count ``fn`` returns, if not the input's.
        name: how errors name this node (default: the callable's name).

    Raises:
        ConfigError: an empty or inverted range, an unknown option.
        BlackBoxError: (when called) ``fn`` raised, or returned an array of the wrong shape
            or with NaN/Inf; the message names this node, the callable and the batch row.
    """

    rate_bound: ClassVar[str | None] = "it calls a function whose sample rate grafx does not know"

    def __init__(
        self,
        fn: Callable[..., Any],
        settings: Mapping[str, Any],
        mapping: str = "sigmoid",
        estimator: str = "spsa",
        num_samples: int = 8,
        step: float = 0.01,
        input_grad: str = "straight_through",
        seed: int = 0,
        executor: str | Executor = "thread",
        num_workers: int | None = None,
        array: str = "numpy",
        output_channels: int | None = None,
        name: str | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        if not callable(fn):
            raise ConfigError(f"{owner}: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.label = f"{owner} {name or describe_callable(fn)!r}"
        if mapping not in MAPPINGS:
            raise ConfigError(f"{self.label}: unknown mapping {mapping!r}; choose from {MAPPINGS}")
        if array not in ("numpy", "torch"):
            raise ConfigError(f"{self.label}: array must be 'numpy' or 'torch', got {array!r}")
        self.mapping = mapping
        self.array = array
        self.output_channels = output_channels
        self.settings = {k: SettingRange.parse(self.label, k, v) for k, v in settings.items()}
        try:
            self.estimator = Estimator(estimator, num_samples, step, input_grad)
        except ConfigError as error:
            raise ConfigError(f"{self.label}: {error}") from None
        self.executor = executor
        self.num_workers = num_workers
        shared_executor(executor, num_workers)  # an unknown kind fails here, not in a render
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def key(self, name: str) -> str:
        """The parameter key of setting ``name``."""
        return f"z_{name}" if self.mapping == "sigmoid" else name

    def parameter_size(self) -> ParameterSize:
        return {self.key(name): spec.size for name, spec in self.settings.items()}

    def reseed(self, seed: int | None = None) -> None:
        """Restart SPSA's perturbation sequence (from ``seed``, default the constructor's)."""
        self.generator.manual_seed(self.seed if seed is None else seed)

    def units(self, parameters: Mapping[str, Tensor]) -> Tensor:
        """Normalised settings ``(B, P)`` in ``[0, 1]``, differentiable in the parameters."""
        parts = []
        for name, spec in self.settings.items():
            value = parameters[self.key(name)]
            if self.mapping == "sigmoid":
                parts.append(unit_from_z(value))
            else:
                parts.append(spec.unit(value).clamp(0, 1))
        return torch.cat(parts, -1)

    def parameters_from_settings(
        self,
        settings: Mapping[str, Any] | None = None,
        batch: int = 1,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        name: str | None = None,
    ) -> dict[str, Tensor]:
        """Parameters ``{key: (batch, size)}`` for settings in their units (default: mid-range).

        Args:
            settings: ``{name: value}``; a value is a number, a sequence or a tensor
                broadcastable to ``(batch, size)``. Missing names get the middle of the range.
            batch: number of nodes.
            dtype, device: of the returned tensors.
            name: how errors name the node (default: this box's label).

        Raises:
            ParameterError: an unknown name, or a value outside its range.
        """
        owner = name or self.label
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(self.settings))
        if unknown:
            raise ParameterError(
                f"{owner}: unknown setting(s) {unknown}; it has {list(self.settings)}"
            )
        out = {}
        for key, spec in self.settings.items():
            value = torch.as_tensor(
                settings.get(key, (spec.low + spec.high) / 2), dtype=torch.float64
            )
            value = value.reshape(-1, spec.size) if value.numel() > 1 else value
            value = value.expand(batch, spec.size).clone()
            if bool(((value < spec.low) | (value > spec.high)).any()):
                raise ParameterError(
                    f"{owner}: setting {key!r} = {value.flatten().tolist()} is outside "
                    f"[{spec.low}, {spec.high}]"
                )
            if self.mapping == "sigmoid":
                unit = spec.unit(value).clamp(1e-6, 1 - 1e-6)
                value = z_from_unit(unit)
            out[self.key(key)] = value.to(dtype=dtype, device=device)
        return out

    def settings_from_parameters(self, parameters: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The settings ``{name: (B, size)}``, in their units, that ``parameters`` stand for."""
        with torch.no_grad():
            units = self.units(parameters)
        return dict(zip(self.settings, self.values_from_units(units), strict=True))

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        """One node's parameters (float64, no node dimension) from its settings (the contract
        of :class:`~grafx.processors.base.Processor`); unspecified settings are mid-range."""
        params = self.parameters_from_settings(settings, 1, torch.float64, name=name)
        return {key: value[0] for key, value in params.items()}

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        """One node's settings (floats; lists for vector settings) from its parameters."""
        rows = {
            k: torch.as_tensor(v).detach().double().reshape(1, -1) for k, v in parameters.items()
        }
        values = self.settings_from_parameters(rows)
        return {
            key: float(value[0, 0]) if self.settings[key].size == 1 else value[0].tolist()
            for key, value in values.items()
        }

    def values_from_units(self, units: Tensor) -> list[Tensor]:
        """Normalised settings ``(..., P)`` to each setting's values ``(..., size)``, in order."""
        sizes = [spec.size for spec in self.settings.values()]
        parts = units.split(sizes, -1)
        return [spec.value(p) for spec, p in zip(self.settings.values(), parts, strict=True)]

    def forward(self, input_signals: Tensor, **parameters: Tensor) -> Tensor:
        """Process ``(B, C, L)`` audio with settings ``(B, size)`` each; ``(B, C_out, L)``."""
        if self.settings:
            units = self.units(parameters)
        else:
            units = input_signals.new_zeros(input_signals.shape[0], 0)
        return BlackBoxFunction.apply(
            input_signals, units, self._evaluate, self.estimator, self.generator
        )

    def _evaluate(self, x: Tensor, points: Tensor) -> Tensor:
        """``fn`` on node ``b``'s audio at settings ``points[b, s]``: ``(B, S, C_out, L)``."""
        batch, num_points, _ = points.shape
        channels, length = x.shape[1], x.shape[2]
        expected = (self.output_channels or channels, length)
        signals = x.detach().cpu()
        audio: Tensor | np.ndarray = signals.numpy() if self.array == "numpy" else signals
        values = [
            p.cpu().numpy() for p in self.values_from_units(points.detach().to(torch.float64))
        ]
        names = list(self.settings)
        sizes = [spec.size for spec in self.settings.values()]
        audios, kwargs, wheres = [], [], []
        for b in range(batch):
            for s in range(num_points):
                audios.append(audio[b])
                kwargs.append(
                    {
                        n: float(v[b, s, 0]) if size == 1 else v[b, s].copy()
                        for n, v, size in zip(names, values, sizes, strict=True)
                    }
                )
                wheres.append(f"{self.label}, batch row {b}")
        executor = shared_executor(self.executor, self.num_workers)
        results = run_jobs(self.fn, audios, kwargs, wheres, executor)
        for result, where, settings in zip(results, wheres, kwargs, strict=True):
            if result.shape != expected:
                raise BlackBoxError(
                    f"{where}: the callable {describe_callable(self.fn)} returned shape "
                    f"{result.shape} for input ({channels}, {length}); expected {expected}"
                )
            if not np.issubdtype(result.dtype, np.number) or not np.isfinite(result).all():
                raise BlackBoxError(
                    f"{where}: the callable {describe_callable(self.fn)} returned NaN or Inf "
                    f"(settings {settings})"
                )
        stacked = np.stack(results).reshape(batch, num_points, *expected)
        return torch.as_tensor(stacked, dtype=x.dtype, device=x.device)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["generator"] = self.generator.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator = torch.Generator()
        generator.set_state(state["generator"])
        state["generator"] = generator
        self.__dict__.update(state)
