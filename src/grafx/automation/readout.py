"""The automation readout under its earlier module path: see :mod:`grafx.mixing.readout`."""

from grafx.mixing.readout import (
    MAX_READ_KNOTS,
    SEND_SETTING,
    SettingCurve,
    automated_nodes,
    automation_curves,
    automation_readout,
    fader_curves,
    knot_parameters,
)

__all__ = [
    "MAX_READ_KNOTS",
    "SEND_SETTING",
    "SettingCurve",
    "automated_nodes",
    "automation_curves",
    "automation_readout",
    "fader_curves",
    "knot_parameters",
]
