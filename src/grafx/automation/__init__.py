r"""Automation: parameters that move over a song, given as curves at knots and fitted end to end.

* :mod:`grafx.automation.curves`: linear and monotone cubic interpolation (torch, differentiable);
* :mod:`grafx.automation.timeline`: :class:`Timeline`, the knot times in seconds and the stretch
  of the song a render covers;
* :mod:`grafx.automation.expand`: what the render engine does with a curve before a processor
  call (interpolate it to one value per sample, or per control block of samples for
  filter coefficients such as the parametric EQ's bands);
* :mod:`grafx.automation.parameters`: static parameters to flat curves and back, and the
  smoothness penalty of an automated fit (:mod:`grafx.automation.smoothness`, beside the fit
  loop's other penalties).

A processor lists the parameters it takes as curves in its class attribute ``time_varying``;
``render_grafx(..., timeline=...)`` renders a parameter dict whose time-varying entries are
``(N_t, *shape, K)`` curves.
"""

from grafx.automation.curves import INTERPOLATIONS, interpolate_curve
from grafx.automation.expand import expand_curves, time_varying_keys
from grafx.automation.parameters import (
    automatable_types,
    automate_parameters,
    curve_keys,
    static_parameters,
)
from grafx.automation.timeline import MAX_KNOTS, Timeline

__all__ = [
    "INTERPOLATIONS",
    "MAX_KNOTS",
    "Timeline",
    "automatable_types",
    "automate_parameters",
    "curve_keys",
    "expand_curves",
    "interpolate_curve",
    "static_parameters",
    "time_varying_keys",
]
