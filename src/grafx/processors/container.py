r"""Containers: processors built from other processors (dry/wet, chains, mixes, regularisers).

Their ``parameter_size()`` nests the inner processors' sizes, so
:func:`grafx.utils.create_empty_parameters` builds nested parameter dicts for them, and their
``forward`` takes the matching nested dicts. Containers have no rate of their own: each
inner processor carries its own ``sample_rate`` in its nested spec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grafx.errors import ConfigError, ParameterError
from grafx.processors.base import ParameterSize, Processor, has_settings
from grafx.processors.core.drywet import (
    DRYWET_KEY,
    drywet_blend,
    drywet_weight_from_mix,
    mix_from_drywet_weight,
)
from grafx.processors.core.utils import rms_difference
from grafx.processors.core.validation import as_parameter_dict, check_parameters

__all__ = [
    "DryWet",
    "SerialChain",
    "ParallelMix",
    "GainStagingRegularization",
    "mix_from_drywet_weight",
    "drywet_weight_from_mix",
]

_PARALLEL_ACTIVATIONS = ("softmax", "softplus")


def _split_output(output: Any) -> tuple[Tensor, dict | None]:
    if isinstance(output, tuple):
        return output[0], output[1]
    return output, None


def _nested_size(processor: Any) -> ParameterSize:
    return dict(processor.parameter_size())


class DryWet(Processor):
    r"""Blend a processor's output with its input.

    .. math:: y = w\, f(u) + (1 - w)\, u, \qquad w = \sigma(\omega)

    where :math:`\omega` is ``drywet_weight``. The form is exact at the ends:
    ``drywet_weight = -inf`` returns the input unchanged and ``+inf`` returns :math:`f(u)`
    exactly (see :func:`drywet_weight_from_mix`); zero gives an equal blend.

    Difference from the original (bug fixed): the original's docstring promised the sigmoid but
    its code used ``drywet_weight`` raw (unbounded, so it could amplify or invert); grafx applies
    the sigmoid, so the parameter is unconstrained like every other.

    This is the same blend (:func:`~grafx.processors.core.drywet.drywet_blend`) that the render
    engine applies as a *node gate* to any node whose type's parameters hold ``drywet_weight``
    (see :mod:`grafx.gates`). To put a processor behind a learnable dry/wet weight in a graph,
    prefer the gate (``grafx.gates.add_node_gates``): it works for every type without wrapping,
    and pruning reads it. ``DryWet(..., external_param=False)`` in a graph is still rendered
    correctly, once: a processor whose ``parameter_size()`` lists ``drywet_weight`` applies it
    itself and the engine leaves it alone.

    Args:
        processor: the wrapped processor :math:`f`; its output must broadcast with the input.
        external_param: when ``True`` (the default) ``drywet_weight`` is not part of
            ``parameter_size()`` and must be given to ``forward`` (e.g. through the render's
            ``common_parameters``); it may be a scalar, ``(1,)``, ``(B,)`` or ``(B, 1)``. When
            ``False`` it is a per-node parameter of shape ``(1,)``.

    Settings (with ``external_param=False``): ``mix``, the wet proportion in (0, 1) (0.5);
    with ``name`` given (a node type such as the console's ``"reverb"``) it is also accepted,
    and read back, as ``{name}_mix``. Other settings go to the wrapped processor.
    """

    def __init__(self, processor: nn.Module, external_param: bool = True):
        super().__init__()
        self.processor = processor
        self.external_param = bool(external_param)

    def check_call(self, inputs: Sequence[tuple[str, Any]], parameters: dict[str, Any]) -> None:
        """Check ``drywet_weight`` only; the wrapped processor checks its own parameters."""
        batch = self.check_inputs(inputs)
        name = type(self).__name__
        drywet_weight = parameters.get("drywet_weight")
        batch = 1 if batch is None else batch
        if not self.external_param:
            check_parameters(name, batch, {"drywet_weight": drywet_weight}, {"drywet_weight": (1,)})
        if not isinstance(drywet_weight, Tensor):
            raise ParameterError(f"{name}: drywet_weight must be a tensor")
        if drywet_weight.numel() not in (1, batch):
            raise ParameterError(
                f"{name}: drywet_weight has shape {tuple(drywet_weight.shape)}; "
                f"expected one value or one per node ({batch})"
            )

    def forward(
        self, input_signals: Tensor, drywet_weight: Tensor, **processor_kwargs: Any
    ) -> Tensor | tuple[Tensor, dict]:
        """``input_signals (B, C, L)``; returns ``(B, C', L)`` (with the processor's extras)."""
        wet, extras = _split_output(self.processor(input_signals, **processor_kwargs))
        output = drywet_blend(wet, input_signals, drywet_weight)
        return output if extras is None else (output, extras)

    def parameter_size(self) -> ParameterSize:
        size = _nested_size(self.processor)
        if not self.external_param:
            size[DRYWET_KEY] = (1,)
        return size

    def _mix_key(self, name: str | None) -> str:
        return f"{name}_mix" if name else "mix"

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        owner = name or type(self).__name__
        s = dict(settings)
        key = self._mix_key(name)
        mix = s.pop(key) if key in s else s.pop("mix", 0.5)
        if self.external_param:
            raise ParameterError(f"{owner}: drywet_weight is external (external_param=True)")
        mix = float(mix)
        if not 0 < mix < 1:
            raise ParameterError(f"{owner}: {key} must be in (0, 1), got {mix}")
        inner: Any = self.processor
        if has_settings(inner):
            values = inner.settings_to_parameters(s, name=name)
        elif s:
            raise ParameterError(f"{owner}: unknown setting(s) {sorted(s)}")
        else:
            values = {}
        values["drywet_weight"] = drywet_weight_from_mix(torch.tensor([mix], dtype=torch.float64))
        return values

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        processor: Any = self.processor
        if has_settings(processor):
            inner = {k: v for k, v in parameters.items() if k != "drywet_weight"}
            settings.update(
                processor.parameters_to_settings(inner, name=name, sample_rate=sample_rate)
            )
        if "drywet_weight" in parameters:
            mix = mix_from_drywet_weight(parameters["drywet_weight"].detach())
            settings[self._mix_key(name)] = float(mix.squeeze())
        return settings


class SerialChain(Processor):
    r"""Processors applied one after another, in the order of the dict.

    ``forward(u, **params)`` takes one parameter dict per member, under the member's name, and
    returns ``(y, extras)`` where ``extras[name]`` holds the extras of the members that return
    them.

    Args:
        processors: ``{name: processor}``.
    """

    def __init__(self, processors: Mapping[str, nn.Module]):
        super().__init__()
        if not processors:
            raise ConfigError("SerialChain: needs at least one processor")
        self.processors = nn.ModuleDict(dict(processors))

    def forward(self, input_signals: Tensor, **processor_kwargs: Any) -> tuple[Tensor, dict]:
        """``input_signals (B, C, L)``; ``processor_kwargs[name]`` = that member's parameters."""
        signals, all_extras = input_signals, {}
        for name, processor in self.processors.items():
            signals, extras = _split_output(
                processor(signals, **as_parameter_dict(processor_kwargs.get(name)))
            )
            if extras is not None:
                all_extras[name] = extras
        return signals, all_extras

    def parameter_size(self) -> ParameterSize:
        return {name: _nested_size(p) for name, p in self.processors.items()}


class ParallelMix(Processor):
    r"""Weighted sum of processors run in parallel on the same input.

    .. math:: y = \sum_k w_k\, f_k(u)

    with :math:`w = \mathrm{softmax}(\tilde w)` (``"softmax"``) or
    :math:`w_k = \mathrm{softplus}(\tilde w_k) / (K \ln 2)` (``"softplus"``, so zero gives
    :math:`1/K` each), :math:`\tilde w` = ``parallel_weights`` ``(K,)``. Returns
    ``(y, extras)`` with the members' extras under their names.

    Args:
        processors: ``{name: processor}``; outputs must have equal shapes.
        activation: ``"softmax"`` or ``"softplus"``.
    """

    def __init__(self, processors: Mapping[str, nn.Module], activation: str = "softmax"):
        super().__init__()
        if not processors:
            raise ConfigError("ParallelMix: needs at least one processor")
        if activation not in _PARALLEL_ACTIVATIONS:
            raise ConfigError(
                f"ParallelMix: unknown activation {activation!r}; use one of {_PARALLEL_ACTIVATIONS}"
            )
        self.processors = nn.ModuleDict(dict(processors))
        self.activation = activation

    def mix_weights(self, parallel_weights: Tensor) -> Tensor:
        """Mixing weights ``(B, K)`` from ``parallel_weights (B, K)``."""
        if self.activation == "softmax":
            return torch.softmax(parallel_weights, dim=-1)
        return F.softplus(parallel_weights) / (len(self.processors) * math.log(2))

    def forward(
        self, input_signals: Tensor, parallel_weights: Tensor, **processor_kwargs: Any
    ) -> tuple[Tensor, dict]:
        """``input_signals (B, C, L)``, ``parallel_weights (B, K)``, members' dicts by name."""
        weights = self.mix_weights(parallel_weights)
        output: Any = None
        all_extras = {}
        for k, (name, processor) in enumerate(self.processors.items()):
            signals, extras = _split_output(
                processor(input_signals, **as_parameter_dict(processor_kwargs.get(name)))
            )
            term = weights[:, k, None, None] * signals
            output = term if output is None else output + term
            if extras is not None:
                all_extras[name] = extras
        return output, all_extras

    def parameter_size(self) -> ParameterSize:
        size: ParameterSize = {name: _nested_size(p) for name, p in self.processors.items()}
        size["parallel_weights"] = (len(self.processors),)
        return size


class GainStagingRegularization(Processor):
    r"""Run a processor and report how much it changes the level, as a regulariser.

    Adds ``extras[key] =`` :func:`~grafx.processors.core.utils.rms_difference` of input and
    output (summed over the batch) to the processor's extras, and returns ``(y, extras)``.

    Args:
        processor: the wrapped processor.
        key: name of the regulariser in the extras; it must not clash with the processor's own.
    """

    def __init__(self, processor: nn.Module, key: str = "gain_reg"):
        super().__init__()
        self.processor = processor
        self.key = key
        self._time_varying: Mapping[str, str] | None = None

    @property
    def time_varying(self) -> Mapping[str, str]:
        """The parameters passed on as curves: the wrapped processor's time-varying ones (it
        receives them unchanged), unless assigned."""
        if self._time_varying is not None:
            return self._time_varying
        return getattr(self.processor, "time_varying", None) or {}

    @time_varying.setter
    def time_varying(self, value: Mapping[str, str]) -> None:
        self._time_varying = dict(value)

    @property
    def control_block(self) -> int | None:
        """The wrapped processor's control block for ``"block"`` parameters (``None``: none)."""
        return getattr(self.processor, "control_block", None)

    def check_call(self, inputs: Sequence[tuple[str, Any]], parameters: dict[str, Any]) -> None:
        """Check the input only; the wrapped processor checks the parameters it takes."""
        self.check_inputs(inputs)

    def forward(self, input_signals: Tensor, **processor_kwargs: Any) -> tuple[Tensor, dict]:
        output, extras = _split_output(self.processor(input_signals, **processor_kwargs))
        extras = dict(extras or {})
        if self.key in extras:
            raise ConfigError(
                f"GainStagingRegularization: the wrapped {type(self.processor).__name__} already "
                f"returns an extra named {self.key!r}; choose another key"
            )
        extras[self.key] = rms_difference(input_signals, output)
        return output, extras

    def parameter_size(self) -> ParameterSize:
        return _nested_size(self.processor)
