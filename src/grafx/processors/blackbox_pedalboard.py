r"""pedalboard effects as graph nodes: a :class:`~grafx.processors.blackbox.BlackBox` per plugin.

`pedalboard <https://spotify.github.io/pedalboard/>`_ (Spotify's JUCE-based effects, an
optional extra: ``pip install 'grafx-torch[pedalboard]'``) releases the GIL while it
processes, so a render step's calls run in parallel threads. :class:`PedalboardEffect` names the plugin's
settings the graph learns and their ranges; every other setting keeps the value of the plugin
given (its defaults for a class). Each call builds a fresh plugin, so no state (a reverb tail,
a compressor's envelope) leaks from one node, batch row or estimator sample to the next.

Example:
    >>> import pedalboard, torch
    >>> comp = PedalboardEffect(
    ...     pedalboard.Compressor(attack_ms=5.0),
    ...     {"threshold_db": (-60.0, 0.0), "ratio": (1.0, 20.0)},
    ...     sample_rate=22050,
    ... )
    >>> comp.parameter_size()
    {'z_threshold_db': 1, 'z_ratio': 1}
    >>> params = comp.parameters_from_settings({"threshold_db": -20.0, "ratio": 4.0}, batch=2)
    >>> comp(torch.randn(2, 2, 1024), **params).shape
    torch.Size([2, 2, 1024])
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from grafx.errors import ConfigError, MissingDependencyError
from grafx.processors.blackbox import BlackBox

__all__ = ["PedalboardEffect", "plugin_settings"]

_NOT_SETTINGS = ("is_effect", "is_instrument")
_BLACKBOX_OPTIONS = (
    "mapping",
    "estimator",
    "num_samples",
    "step",
    "input_grad",
    "seed",
    "executor",
    "num_workers",
    "output_channels",
    "name",
)


def _pedalboard():
    try:
        return importlib.import_module("pedalboard")
    except ImportError as error:
        raise MissingDependencyError(
            "PedalboardEffect needs pedalboard: pip install 'grafx-torch[pedalboard]'"
        ) from error


def plugin_settings(plugin: Any) -> dict[str, float]:
    """The numeric settings of a pedalboard plugin (class or instance) and their values.

    The settings are the plugin class's writable properties; for a class, the values are those
    of a default instance.
    """
    cls = plugin if isinstance(plugin, type) else type(plugin)
    instance = cls() if isinstance(plugin, type) else plugin
    names = [
        k
        for k in dir(cls)
        if not k.startswith("_")
        and k not in _NOT_SETTINGS
        and isinstance(getattr(cls, k, None), property)
        and getattr(cls, k).fset is not None
    ]
    values = {k: getattr(instance, k) for k in names}
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}


class _PluginCall:
    """Picklable ``fn(audio, **settings)``: a fresh plugin with the fixed and given settings."""

    def __init__(self, cls: type, fixed: dict[str, float], sample_rate: float):
        self.cls, self.fixed, self.sample_rate = cls, fixed, sample_rate
        self.__qualname__ = f"{cls.__module__}.{cls.__name__}"

    def __call__(self, audio: np.ndarray, **settings: float) -> np.ndarray:
        plugin = self.cls()
        for key, value in {**self.fixed, **settings}.items():
            setattr(plugin, key, value)
        return plugin.process(np.asarray(audio, dtype=np.float32), self.sample_rate, reset=True)


class PedalboardEffect(BlackBox):
    r"""A pedalboard plugin as a graph node, its named settings learnable in given ranges.

    Shapes: input ``(B, C, L)``, ``C`` 1 or 2; parameters ``z_<setting>`` ``(B, 1)`` (sigmoid
    mapping, the default) or ``<setting>`` (clamp); output ``(B, C, L)``, float32 or float64
    like the input (pedalboard computes in float32).

    Args:
        plugin: a pedalboard plugin instance (its settings are the fixed ones), a plugin class,
            or a class name such as ``"Compressor"``.
        settings: ``{setting: (low, high)}`` for the settings the graph learns (names as in
            pedalboard: ``threshold_db``, ``ratio``, ``room_size``, ...).
        sample_rate: the audio's sample rate in Hz.
        **options: :class:`~grafx.processors.blackbox.BlackBox`'s options (``estimator``,
            ``num_samples``, ``step``, ``input_grad``, ``executor``, ``name``, ...).

    Raises:
        MissingDependencyError: pedalboard is not installed.
        ConfigError: a setting the plugin does not have (the message lists those it has), or a
            range with ``low >= high``.
    """

    sample_rate_argument = "sample_rate"
    rate_bound = None

    extra_arguments = _BLACKBOX_OPTIONS

    def __init__(
        self,
        plugin: Any,
        settings: Mapping[str, Any],
        sample_rate: float = 44100,
        **options: Any,
    ):
        if isinstance(plugin, str):
            name = plugin
            plugin = getattr(_pedalboard(), name, None)
            if not isinstance(plugin, type):
                raise ConfigError(f"PedalboardEffect: pedalboard has no plugin {name!r}")
        cls = plugin if isinstance(plugin, type) else type(plugin)
        available = plugin_settings(plugin)
        unknown = [k for k in settings if k not in available]
        if unknown:
            raise ConfigError(
                f"PedalboardEffect: {cls.__name__} has no setting(s) {unknown}; "
                f"its settings are {sorted(available)}"
            )
        if float(sample_rate) <= 0:
            raise ConfigError(f"PedalboardEffect: sample_rate must be > 0, got {sample_rate}")
        fixed = {k: v for k, v in available.items() if k not in settings}
        options.setdefault("name", cls.__name__)
        super().__init__(_PluginCall(cls, fixed, float(sample_rate)), settings, **options)
        self.sample_rate = float(sample_rate)
