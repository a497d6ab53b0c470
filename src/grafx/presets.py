"""The mixing console under its earlier module path: see :mod:`grafx.mixing.console`."""

from grafx.mixing.console import (
    CONSOLE_TYPES,
    DEFAULT_CHAIN,
    MASTER_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    gain_pan_from_log_gain,
    get_node_settings,
    node_rows,
    node_settings_to_parameters,
    set_node_settings,
    stereo_log_gain,
)

__all__ = [
    "DEFAULT_CHAIN",
    "MASTER_CHAIN",
    "CONSOLE_TYPES",
    "build_mixing_console",
    "console_processors",
    "console_parameters",
    "set_node_settings",
    "get_node_settings",
    "node_settings_to_parameters",
    "node_rows",
    "stereo_log_gain",
    "gain_pan_from_log_gain",
]
