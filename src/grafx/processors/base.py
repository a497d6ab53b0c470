r"""The processor contract, owned by one class: :class:`Processor`.

Contract of a grafx processor (for anyone writing one, in grafx or outside it):

* Subclass :class:`Processor` (an ``nn.Module``). Hold configuration and buffers only; the
  graph owns the parameters.
* ``parameter_size() -> ParameterSize``: ``{key: int | tuple[int, ...] | ParameterSize}``, the
  per-node shape of every parameter (nested dicts for containers). The parameter ``key`` reaches
  ``forward`` as a tensor ``(B, *shape)``.
* ``forward(*inputs, **parameters)``: the audio inputs come first, named by the class attribute
  ``input_names`` (default ``("input_signals",)``; e.g. ``("mid", "side")``), each ``(B, C, L)``;
  then the parameters by keyword. Return a tensor, a list of tensors (several outlets) or
  ``(output, extras)``.
* Do **not** validate in ``forward``: calling the module (``processor(x, **params)``) first runs
  :meth:`Processor.check_call`, once, which checks that every input is a 3-D tensor and that the
  parameters match ``parameter_size()`` with the batch of the first input (missing, unknown and
  mis-shaped keys raise :class:`~grafx.errors.ParameterError` naming the class and the key).
  Override ``check_call`` only when a class takes something that ``parameter_size()`` does not
  list (e.g. :class:`~grafx.processors.container.DryWet`'s external ``drywet_weight``).
* Constructor keywords are strict: an unknown keyword raises
  :class:`~grafx.errors.ArgumentError` naming the class and the keyword. Keywords kept only for
  compatibility with the original library go in ``ignored_arguments``; passing one warns once
  per class and keyword (:class:`IgnoredArgumentWarning`).
* Physical units (optional): ``settings_to_parameters(settings, name=...)`` turns settings a
  user thinks in (``gain_db``, ``threshold_db``, ...) into one node's parameter values
  (float64 tensors shaped like ``parameter_size()``, without the node dimension; unspecified
  settings take their neutral default; unknown ones raise), and ``parameters_to_settings``
  reads them back. ``name`` (a node type) prefixes error messages. Processors without units
  keep the base versions, which raise; :func:`has_settings` tells them apart.
* Sample rate (see :mod:`grafx.processors.core.rate`): a class whose sound depends on time or
  frequency names its rate constructor argument in ``sample_rate_argument`` (``"sample_rate"``,
  stored in its spec); with ``reference_rate`` too, its parameters and sample counts are defined
  at that rate whatever rate it runs at. A class that cannot be rebuilt for another rate sets
  ``rate_bound`` to the reason. Rate-free classes (gains, panners, waveshapers) set neither.
* Registration is automatic for every public (no leading underscore) subclass defined in a
  ``grafx.*`` module: its class name becomes its processor name (see
  :mod:`grafx.processors.registry`). Outside grafx, use ``@grafx.processors.register`` or the
  ``grafx.processors`` entry-point group. ``class X(Processor, register=False)`` opts out.

A plain ``nn.Module`` with ``forward(*inputs, **params)`` and ``parameter_size()`` (the seed
page's contract) keeps working everywhere a processor is expected; it is just not validated by
this class nor known by name.

Example:
    >>> import torch
    >>> class Gain(Processor, register=False):
    ...     def forward(self, input_signals, log_gain):
    ...         return input_signals * log_gain.exp()[:, :, None]
    ...     def parameter_size(self):
    ...         return {"log_gain": 1}
    >>> Gain()(torch.ones(3, 2, 8), log_gain=torch.zeros(3, 1)).shape
    torch.Size([3, 2, 8])
    >>> Gain()(torch.ones(3, 2, 8), log_gain=torch.zeros(2, 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    grafx.errors.ParameterError: Gain: parameter 'log_gain' has shape (2, 1), expected (3, 1) ...
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, Union

from torch import Tensor, nn

from grafx.errors import ArgumentError, AudioError, ParameterError
from grafx.processors import registry
from grafx.processors.core.validation import (
    DEFAULT_CONTROL_BLOCK,
    as_parameter_dict,
    check_parameters,
)

__all__ = ["Processor", "ParameterSize", "IgnoredArgumentWarning", "has_settings", "take_settings"]

#: The one return type of ``parameter_size()``: per-node shapes by key, nested for containers.
ParameterSize: TypeAlias = dict[str, Union[int, tuple[int, ...], "ParameterSize"]]

_WARNED: set[tuple[str, str]] = set()
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _cached_signature(cls: type, attribute: str, function: Any) -> inspect.Signature:
    """``inspect.signature(function)``, kept on ``cls`` itself (not inherited) as ``attribute``."""
    signature = cls.__dict__.get(attribute)
    if signature is None:
        signature = inspect.signature(function)
        setattr(cls, attribute, signature)
    return signature


def _check_known_keywords(
    owner: str, signature: inspect.Signature, kwargs: Mapping[str, Any], extra: tuple[str, ...]
) -> None:
    """Raise :class:`ArgumentError` naming the keywords that are neither in ``signature`` (a
    constructor's, ``self`` first) nor in ``extra``, and listing those it takes."""
    params = signature.parameters
    unknown = [k for k in kwargs if k not in params and k not in extra]
    if unknown:
        named = [n for n, p in params.items() if p.kind in _NAMED][1:]
        raise ArgumentError(
            f"{owner}: unknown keyword argument(s) {unknown}; it takes {[*named, *extra]}"
        ) from None


class IgnoredArgumentWarning(UserWarning):
    """A constructor keyword accepted for compatibility with the original library, and ignored."""


class Processor(nn.Module):
    """Base class of grafx processors: validation, strict keywords and registration by name.

    Attributes:
        input_names: names of the audio inputs of ``forward``, in order.
        ignored_arguments: constructor keywords accepted for compatibility and ignored; each
            warns once per class when given.
        extra_arguments: when the constructor takes ``**kwargs``, the keywords it accepts there
            (others raise); ``None`` leaves them to the constructor.
        processor_name: the name the class is registered under (``None`` if unregistered).
        time_varying: ``{key: control}`` of the parameters ``forward`` also accepts as
            control signals (automation curves, interpolated by the render engine; see
            :mod:`grafx.automation.expand`): control ``"sample"`` gives ``(B, *shape, L)``, one
            value per sample; ``"block"`` gives ``(B, *shape, ceil(L / T))``, one value per
            control block of ``T`` samples, ``T`` being the processor's ``control_block``
            attribute (an even number of samples; 256 if it has none).
        sample_rate_argument: the constructor argument holding the sample rate in Hz
            (``None``: the class is rate-free).
        rate_bound: why the class cannot be rebuilt for another sample rate (``None``: it can).
    """

    input_names: ClassVar[tuple[str, ...]] = ("input_signals",)
    ignored_arguments: ClassVar[tuple[str, ...]] = ()
    extra_arguments: ClassVar[tuple[str, ...] | None] = None
    processor_name: ClassVar[str | None] = None
    time_varying: ClassVar[Mapping[str, str]] = {}
    sample_rate_argument: ClassVar[str | None] = None
    rate_bound: ClassVar[str | None] = None
    _init_signature: ClassVar[inspect.Signature | None] = None
    _forward_signature: ClassVar[inspect.Signature | None] = None

    def __init_subclass__(cls, register: bool | None = None, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.processor_name = None
        cls._init_signature = None
        cls._forward_signature = None
        if register is None:
            register = cls.__module__.startswith("grafx.") and not cls.__name__.startswith("_")
        if register:
            registry.register(cls, name=name)

    def __init__(self) -> None:
        super().__init__()

    def __new__(cls, *args: Any, **kwargs: Any) -> Processor:
        arguments = cls._check_constructor_arguments(args, kwargs) if args or kwargs else {}
        instance = super().__new__(cls)
        # The constructor call, for processor specs in graph files (grafx.processors.spec).
        object.__setattr__(instance, "_grafx_arguments", arguments)
        return instance

    @property
    def constructor_arguments(self) -> dict[str, Any]:
        """The keyword form of the arguments this processor was constructed with (given ones
        only; defaults are left out). Changing attributes afterwards is not reflected."""
        return dict(self.__dict__.get("_grafx_arguments", {}))

    @classmethod
    def _check_constructor_arguments(cls, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        signature = _cached_signature(cls, "_init_signature", cls.__init__)
        try:
            bound = signature.bind_partial(None, *args, **kwargs)
        except TypeError as error:
            _check_known_keywords(cls.__name__, signature, kwargs, ())
            raise ArgumentError(f"{cls.__name__}: {error}") from None
        if cls.extra_arguments is not None:
            _check_known_keywords(cls.__name__, signature, kwargs, cls.extra_arguments)
        for key in kwargs:
            if key in cls.ignored_arguments and (cls.__name__, key) not in _WARNED:
                _WARNED.add((cls.__name__, key))
                warnings.warn(
                    f"{cls.__name__}: {key!r} is accepted for compatibility and ignored",
                    IgnoredArgumentWarning,
                    stacklevel=3,
                )
        arguments: dict[str, Any] = {}
        for key, value in list(bound.arguments.items())[1:]:
            if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            else:
                arguments[key] = value
        return arguments

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs, parameters = self._split_call(args, kwargs)
        self.check_call(inputs, parameters)
        return super().__call__(*args, **kwargs)

    def _split_call(self, args: tuple, kwargs: dict[str, Any]) -> tuple[list, dict[str, Any]]:
        cls = type(self)
        signature = _cached_signature(cls, "_forward_signature", cls.forward)
        try:
            bound = signature.bind_partial(self, *args, **kwargs)
        except TypeError as error:
            raise ParameterError(f"{cls.__name__}: {error}") from None
        inputs, parameters = [], {}
        for key, value in list(bound.arguments.items())[1:]:
            kind = signature.parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                parameters.update(value)
            elif key in self.input_names:
                inputs.append((key, value))
            else:
                parameters[key] = value
        return inputs, parameters

    def check_inputs(self, inputs: Sequence[tuple[str, Any]]) -> int | None:
        """Raise :class:`AudioError` unless every input is ``(B, C, L)``; return ``B``.

        ``inputs`` are ``(name, value)`` pairs; ``None`` is returned when there is no input.
        """
        owner = type(self).__name__
        missing = [name for name in self.input_names if name not in dict(inputs)]
        if missing:
            raise AudioError(f"{owner}: missing input(s) {missing}")
        for name, signals in inputs:
            label = "input" if name == "input_signals" else name
            if not isinstance(signals, Tensor):
                raise AudioError(f"{owner}: {label} must be a tensor, got {type(signals).__name__}")
            if signals.ndim != 3:
                raise AudioError(
                    f"{owner}: {label} must be (B, C, L), got shape {tuple(signals.shape)}"
                )
        return int(inputs[0][1].shape[0]) if inputs else None

    def check_call(self, inputs: Sequence[tuple[str, Any]], parameters: dict[str, Any]) -> None:
        """Validate one call: inputs by :meth:`check_inputs`, parameters by ``parameter_size()``.

        Args:
            inputs: ``(name, tensor)`` pairs of the audio inputs, in order.
            parameters: the keyword parameters (nested dicts for containers).
        """
        batch = self.check_inputs(inputs)
        if batch is None:
            batch = _first_batch(parameters)
        check_parameters(
            type(self).__name__,
            batch,
            as_parameter_dict(parameters),
            self.parameter_size(),
            time_varying=self._control_steps(inputs),
        )

    def _control_steps(self, inputs: Sequence[tuple[str, Any]]) -> dict[str, int | None]:
        """``{key: T}``: how many values each time-varying parameter has per row (``None``:
        unknown, without an audio input)."""
        moving = self.time_varying
        if not moving:
            return {}
        length = int(inputs[0][1].shape[-1]) if inputs else None
        block = getattr(self, "control_block", None) or DEFAULT_CONTROL_BLOCK
        return {
            key: None if length is None else length if control == "sample" else -(-length // block)
            for key, control in moving.items()
        }

    def parameter_size(self) -> ParameterSize:
        """Per-node parameter shapes; a processor without parameters returns ``{}``."""
        return {}

    def settings_to_parameters(
        self, settings: Mapping[str, Any], *, name: str | None = None
    ) -> dict[str, Any]:
        """One node's parameter values from physical settings (see the module's contract).

        Raises:
            ParameterError: this processor has no physical settings (the base version), or a
                setting is unknown or out of range.
        """
        raise ParameterError(
            f"{name or type(self).__name__}: {type(self).__name__} has no physical settings "
            f"(got {sorted(settings)})"
        )

    def parameters_to_settings(
        self,
        parameters: Mapping[str, Any],
        *,
        name: str | None = None,
        sample_rate: float | None = None,
    ) -> dict[str, Any]:
        """Physical settings from one node's parameter values (no node dimension).

        ``sample_rate``: the rate the parameters' normalised frequencies are defined at, for
        parameters written for another processor; ``None`` is the processor's own.
        """
        raise ParameterError(
            f"{name or type(self).__name__}: {type(self).__name__} has no physical read-back"
        )


def has_settings(processor: Any) -> bool:
    """Whether ``processor`` converts physical settings (it overrides the base methods)."""
    method = getattr(type(processor), "settings_to_parameters", None)
    return method is not None and method is not Processor.settings_to_parameters


def take_settings(
    settings: Mapping[str, Any], defaults: Mapping[str, Any], name: str
) -> dict[str, Any]:
    """``defaults`` updated by ``settings``; raise :class:`ParameterError` for unknown keys."""
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ParameterError(f"{name}: unknown setting(s) {unknown}")
    return {**defaults, **settings}


def _first_batch(parameters: dict[str, Any]) -> int:
    for value in parameters.values():
        if isinstance(value, Tensor) and value.ndim > 0:
            return int(value.shape[0])
        if isinstance(value, dict):
            return _first_batch(value)
    return 1
