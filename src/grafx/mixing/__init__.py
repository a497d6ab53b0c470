"""The mixing console: its graph, processors and parameters in physical units
(:mod:`grafx.mixing.console`), and a readable account of automated settings
(:mod:`grafx.mixing.readout`)."""

from grafx.mixing.console import (
    CONSOLE_PRESETS,
    CONSOLE_TYPES,
    DEFAULT_CHAIN,
    MASTER_CHAIN,
    build_mixing_console,
    console_parameters,
    console_processors,
    get_node_settings,
    node_settings_to_parameters,
    set_node_settings,
)
from grafx.mixing.readout import automation_curves, automation_readout, fader_curves

__all__ = [
    "CONSOLE_PRESETS",
    "CONSOLE_TYPES",
    "DEFAULT_CHAIN",
    "MASTER_CHAIN",
    "automation_curves",
    "automation_readout",
    "build_mixing_console",
    "console_parameters",
    "console_processors",
    "fader_curves",
    "get_node_settings",
    "node_settings_to_parameters",
    "set_node_settings",
]
