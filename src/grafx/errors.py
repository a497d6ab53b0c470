"""Errors raised by grafx.

Every error grafx raises on purpose is a :class:`GrafxError`, so ``except GrafxError`` catches
all of them. Each child also derives from the built-in exception a Python user would expect
(``ValueError`` for bad values, ``ImportError`` for a missing extra), and every message names the
node, type, key or file at fault.
"""

from __future__ import annotations


class GrafxError(Exception):
    """Root of every error grafx raises on purpose."""


class ConfigError(GrafxError, ValueError):
    """An invalid :class:`~grafx.data.configs.NodeConfigs` specification or lookup."""


class GraphError(GrafxError, ValueError):
    """A graph that cannot be built or rendered: a cycle, an unknown node type, a bad port."""


class ParameterError(GrafxError, ValueError):
    """A parameter tensor with the wrong key, shape, dtype or device for its processor or type."""


class RenderError(GrafxError, ValueError):
    """Sources, processors, schedules or plans that do not fit the graph being rendered."""


class GraphFileError(GrafxError, ValueError):
    """A graph file that is missing, malformed, truncated, of an unknown version or hostile."""


class AudioError(GrafxError, ValueError):
    """Audio that cannot be used: unreadable, wrong channel count, sample-rate mismatch, NaN/Inf."""


class MissingDependencyError(GrafxError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


class ArgumentError(ConfigError, TypeError):
    """A constructor argument a processor does not take (an unknown keyword, too many values)."""


class NotSupportedError(GrafxError, NotImplementedError):
    """A request grafx understands but does not support; the message says what to do instead."""


class BlackBoxError(GrafxError, RuntimeError):
    """A black-box callable that raised, or returned audio of the wrong shape, type or NaN/Inf."""
