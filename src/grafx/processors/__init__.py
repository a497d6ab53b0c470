"""Differentiable audio processors: graph nodes that take ``(B, C, L)`` audio and parameters.

Every class is importable from here; the module it lives in is imported on first use, so
``import grafx.processors`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LOCATIONS = {
    "filter": [
        "BiquadFilter",
        "PoleZeroFilter",
        "StateVariableFilter",
        "LowPassFilter",
        "HighPassFilter",
        "BandPassFilter",
        "BandRejectFilter",
        "AllPassFilter",
        "PeakingFilter",
        "LowShelf",
        "HighShelf",
        "FIRFilter",
    ],
    "eq": [
        "ZeroPhaseFIREqualizer",
        "NewZeroPhaseFIREqualizer",
        "GraphicEqualizer",
        "ParametricEqualizer",
    ],
    "dynamics": ["Compressor", "NoiseGate", "ApproxCompressor", "ApproxNoiseGate"],
    "nonlinear": [
        "TanhDistortion",
        "PiecewiseTanhDistortion",
        "PowerDistortion",
        "ChebyshevDistortion",
    ],
    "reverb": [
        "STFTMaskedNoiseReverb",
        "FilteredNoiseShapingReverb",
        "MidSideFilteredNoiseReverb",
    ],
    "delay": ["MultitapDelay", "StereoMultitapDelay"],
    "stereo": [
        "StereoGain",
        "SideGainImager",
        "MonoToStereo",
        "StereoToMidSide",
        "MidSideToStereo",
    ],
    "container": ["DryWet", "SerialChain", "ParallelMix", "GainStagingRegularization"],
}
_MODULE_OF = {name: module for module, names in _LOCATIONS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        module = importlib.import_module(f"{__name__}.{_MODULE_OF[name]}")
        return getattr(module, name)
    if name == "core":
        return importlib.import_module(f"{__name__}.core")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*__all__, "core"]
