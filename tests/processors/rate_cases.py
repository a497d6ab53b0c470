"""Processors in small configurations for the sample-rate contract (``test_rate_contract.py``)."""

from __future__ import annotations

import math

import numpy as np
import torch

from grafx.io.audio import resample
from grafx.processors import registry
from grafx.processors.core.rate import spec_at_sample_rate
from grafx.processors.spec import build_processor, processor_spec

RATE_A, RATE_B = 44100, 48000
#: Seconds of test audio.
SECONDS = 0.3
#: The test audio's band: the contract is checked where both rates hold every component.
BAND_HZ = (60.0, 5000.0)


def band_limited_noise(sample_rate: int, channels: int = 2, seed: int = 0) -> torch.Tensor:
    """``(1, C, L)`` Gaussian noise limited to :data:`BAND_HZ` (FFT mask) with 20 ms fades,
    made at 44.1 kHz and resampled, so that both rates hold the same continuous signal."""
    length = round(SECONDS * RATE_A)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((channels, length)), axis=-1)
    freqs = np.fft.rfftfreq(length, 1 / RATE_A)
    spectrum[:, (freqs < BAND_HZ[0]) | (freqs > BAND_HZ[1])] = 0
    x = np.fft.irfft(spectrum, n=length, axis=-1)
    fade = round(0.02 * RATE_A)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
    x[:, :fade] *= ramp
    x[:, -fade:] *= ramp[::-1]
    x = 0.25 * x / np.sqrt(np.mean(x**2))
    audio = torch.from_numpy(x)[None]
    return audio if sample_rate == RATE_A else resample(audio, RATE_A, sample_rate)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def osc_params():
    return {"z_frequency": torch.tensor([[_logit(220.0 / 22050.0)]]), "log_gain": torch.zeros(1, 1)}


#: name -> (constructor keywords, input channels, parameter overrides or None). Missing names
#: are built with their defaults.
CASES: dict[str, tuple] = {
    "BiquadFilter": ({"num_filters": 2}, 2, None),
    "PoleZeroFilter": ({"num_filters": 2}, 2, None),
    "StateVariableFilter": ({"num_filters": 2}, 2, None),
    "PeakingFilter": ({"num_filters": 2}, 2, None),
    "LowShelf": ({}, 2, None),
    "HighShelf": ({}, 2, None),
    "FIRFilter": ({"fir_len": 63, "processor_channel": "stereo"}, 2, None),
    "NewZeroPhaseFIREqualizer": ({"num_frequency_bins": 64}, 2, None),
    "ParametricEqualizer": ({"num_filters": 4, "processor_channel": "stereo"}, 2, None),
    "GraphicEqualizer": ({}, 2, None),
    "Compressor": (
        {"energy_smoother": "iir", "gain_smoother": "ballistics", "iir_len": 2048},
        2,
        None,
    ),
    "NoiseGate": ({"iir_len": 2048}, 2, None),
    "Expander": ({"iir_len": 2048}, 2, None),
    "MultibandCompressor": ({"iir_len": 2048}, 2, None),
    "Limiter": ({}, 2, {"log_threshold": torch.tensor([[-1.5]])}),
    "MultitapDelay": ({"segment_len": 400, "num_segments": 4}, 2, None),
    "STFTMaskedNoiseReverb": ({"ir_len": 4096}, 2, None),
    "FilteredNoiseShapingReverb": ({"ir_len": 4096, "sr": RATE_A, "num_bands": 6}, 2, None),
    "FDNReverb": ({"ir_len": 4096}, 2, None),
    "Chorus": ({}, 2, None),
    "Flanger": ({}, 2, None),
    "Phaser": ({}, 2, None),
    "SineOscillator": ({}, 0, osc_params),
    "SawtoothOscillator": ({}, 0, osc_params),
    "SquareOscillator": ({}, 0, osc_params),
    "TriangleOscillator": ({}, 0, osc_params),
    "AdditiveSynth": (
        {"num_sinusoids": 3},
        0,
        lambda: {
            "z_frequency": torch.tensor([[_logit(f / 22050.0) for f in (110.0, 330.0, 1210.0)]]),
            "log_amplitude": torch.zeros(1, 3),
        },
    ),
    "LinkwitzRileyCrossover": ({}, 2, lambda: {"z_frequency": torch.tensor([[-3.0, -1.0]])}),
    "DryWet": (
        {
            "processor": {"processor": "ParametricEqualizer", "args": {"num_filters": 3}},
            "external_param": False,
        },
        2,
        None,
    ),
    "SerialChain": (
        {
            "processors": {
                "eq": {"processor": "PeakingFilter", "args": {}},
                "comp": {"processor": "Compressor", "args": {"iir_len": 1024}},
            }
        },
        2,
        None,
    ),
    "ParallelMix": (
        {
            "processors": {
                "a": {"processor": "LowPassFilter", "args": {}},
                "b": {"processor": "StereoGain", "args": {}},
            }
        },
        2,
        None,
    ),
    "GainStagingRegularization": (
        {"processor": {"processor": "HighPassFilter", "args": {}}},
        2,
        None,
    ),
    "MidSideToStereo": ({}, -1, None),
    "StereoToMidSide": ({}, 2, None),
    "MonoToStereo": ({}, 1, None),
    "SideGainImager": ({}, 2, None),
    "NoiseGenerator": ({"num_channels": 2}, 0, None),
    "ADSREnvelope": (
        {},
        0,
        lambda: {
            "log_attack": torch.tensor([[math.log(0.02)]]),
            "log_decay": torch.tensor([[math.log(0.05)]]),
            "z_sustain": torch.zeros(1, 1),
            "log_release": torch.tensor([[math.log(0.05)]]),
            "log_gate": torch.tensor([[math.log(0.15)]]),
        },
    ),
}

#: Classes whose output is noise (a realisation that may differ between rates): compared by
#: their level in third-octave bands, not sample by sample.
NOISE_LIKE = {"NoiseGenerator"}


def spec_for(name: str) -> dict:
    """The spec of the test configuration of ``name`` at 44.1 kHz."""
    args = dict(CASES.get(name, ({}, 2, None))[0])
    return {"processor": name, "args": args}


def channels_for(name: str) -> int:
    return CASES.get(name, ({}, 2, None))[1]


def parameters_for(name: str, processor, seed: int = 0) -> dict:
    """Seeded random parameters (std 0.5) shaped like ``parameter_size()``, float64."""
    override = CASES.get(name, ({}, 2, None))[2]
    generator = torch.Generator().manual_seed(seed)

    def make(size):
        if isinstance(size, dict):
            return {k: make(v) for k, v in size.items()}
        shape = (size,) if isinstance(size, int) else tuple(size)
        return 0.5 * torch.randn(1, *shape, generator=generator, dtype=torch.float64)

    params = make(processor.parameter_size())
    _set_w0(params, generator)
    if override is not None:
        values = override() if callable(override) else override
        params.update({k: v.double() for k, v in values.items()})
    return params


def _set_w0(params: dict, generator: torch.Generator) -> None:
    """Centre frequencies inside the test band (200 Hz to 3 kHz, at 44.1 kHz), not random."""
    for key, value in params.items():
        if isinstance(value, dict):
            _set_w0(value, generator)
        elif key == "w0":
            hz = 200 * 15 ** torch.rand(value.shape, generator=generator, dtype=value.dtype)
            params[key] = torch.logit(hz / 22050)


def render(name: str, sample_rate: int):
    """``(output (C, L) at sample_rate, processor)`` of the case built at 44.1 kHz and, for
    ``sample_rate`` 48 kHz, converted with :func:`spec_at_sample_rate`."""
    spec = spec_for(name)
    processor = build_processor(spec, name)
    spec = processor_spec(processor, name)
    if sample_rate != RATE_A:
        processor = build_processor(spec_at_sample_rate(spec, sample_rate, name), name)
    params = parameters_for(name, build_processor(spec, name))
    channels = channels_for(name)
    length = round(SECONDS * sample_rate)
    with torch.no_grad():
        if channels == 0:
            out = processor(num_samples=length, **params)
        elif channels == -1:
            x = band_limited_noise(sample_rate)
            out = processor(x[:, :1], x[:, 1:], **params)
        else:
            x = band_limited_noise(sample_rate, max(channels, 1))[:, :channels]
            out = processor(x, **params)
    if isinstance(out, tuple):
        out = out[0]
    if isinstance(out, list):
        out = torch.cat(out, 1)
    return out[0], processor


def registered_names() -> list[str]:
    return registry.builtin_processor_names()
