"""The sample-rate contract, for every registered grafx processor.

A processor built at 44.1 kHz and the same spec converted to 48 kHz
(:func:`grafx.processors.core.rate.spec_at_sample_rate`), given the same parameters and the same
band-limited signal (60 Hz to 5 kHz noise, made at 44.1 kHz and resampled), must give the same
sound: after resampling the 48 kHz output to 44.1 kHz,

* third-octave band levels (100 Hz to 4 kHz) agree within 0.5 dB, and
* the waveforms differ by at most -20 dB (relative RMS error; the resampling alone is at -56 dB).
  The IR-based classes (delays, reverbs, FIRs) resample an IR whose onset and truncation are
  not band-limited, which costs -22 to -37 dB; biquads moved through Hz differ by their
  bilinear warping (-32 to -41 dB).

Exceptions, with their reason: the ``Limiter`` rounds its look-ahead latency to a whole sample
(up to 10 us at 48 kHz, a phase error at 5 kHz), so only its band levels are compared (and its
waveform within -12 dB); ``NoiseGenerator`` is white noise of a set RMS at any rate, so its RMS
is compared at each rate (its band levels change by the rate ratio, by design). A class that
cannot convert declares ``rate_bound`` with a reason, and converting it must raise a one-line
:class:`~grafx.errors.ConfigError` naming it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from rate_cases import RATE_A, RATE_B, render

from grafx.errors import ConfigError
from grafx.io.audio import resample
from grafx.processors import registry
from grafx.processors.core.rate import spec_at_sample_rate

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

#: Classes that need a callable or plugin (not a JSON spec); they are checked by attribute.
NEEDS_OBJECTS = {"BlackBox", "PedalboardEffect"}
WAVEFORM_DB = -20.0
BAND_DB = 0.5
LIMITER_WAVEFORM_DB = -12.0


def band_levels(audio: np.ndarray, sample_rate: float, low=100.0, high=4000.0) -> np.ndarray:
    """Energy in dB of each third-octave band (centres 1 kHz * 2^(k/3)) from low to high."""
    power = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / sample_rate)
    k = np.arange(math.ceil(3 * math.log2(low / 1000)), math.floor(3 * math.log2(high / 1000)) + 1)
    levels = []
    for centre in 1000 * 2.0 ** (k / 3):
        band = (freqs >= centre * 2 ** (-1 / 6)) & (freqs < centre * 2 ** (1 / 6))
        levels.append(10 * np.log10(power[..., band].sum() + 1e-30))
    return np.array(levels)


def _names(kind: str) -> list[str]:
    names = []
    for name in registry.builtin_processor_names():
        cls = registry.get_processor_class(name)
        bound = getattr(cls, "rate_bound", None) is not None
        if name in NEEDS_OBJECTS:
            continue
        if (kind == "bound") == bound:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _names("convertible"))
def test_same_sound_at_44100_and_48000(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, processor = render(name, RATE_A)
        b, converted = render(name, RATE_B)
    if name == "NoiseGenerator":
        rms_a, rms_b = (float(v.square().mean().sqrt()) for v in (a, b))
        assert 20 * math.log10(rms_b / rms_a) == pytest.approx(0.0, abs=0.2)
        return
    back = resample(b, RATE_B, RATE_A)[..., : a.shape[-1]]
    n = a.shape[-1]
    middle = slice(n // 10, 9 * n // 10)
    error = (a[..., middle] - back[..., middle]).norm() / a[..., middle].norm()
    error_db = 20 * math.log10(max(float(error), 1e-12))
    limit = LIMITER_WAVEFORM_DB if name == "Limiter" else WAVEFORM_DB
    assert error_db < limit, f"{name}: waveforms differ by {error_db:.1f} dB"
    levels_a = band_levels(a[..., middle].numpy(), RATE_A)
    levels_b = band_levels(back[..., middle].numpy(), RATE_A)
    assert np.abs(levels_a - levels_b).max() < BAND_DB, (levels_a - levels_b).round(2)


@pytest.mark.parametrize("name", _names("bound"))
def test_rate_bound_classes_refuse_another_rate_by_name(name):
    cls = registry.get_processor_class(name)
    reason = cls.rate_bound
    assert isinstance(reason, str) and len(reason) > 10
    with pytest.raises(ConfigError, match=rf"^node: {name} cannot render at 48000 Hz.*: ") as info:
        spec_at_sample_rate({"processor": name, "args": {}}, RATE_B, "node")
    assert "\n" not in str(info.value)


def test_blackbox_is_rate_bound_and_pedalboard_takes_a_rate():
    assert registry.get_processor_class("BlackBox").rate_bound
    pedalboard = registry.get_processor_class("PedalboardEffect")
    assert pedalboard.rate_bound is None and pedalboard.sample_rate_argument == "sample_rate"


def test_conversion_is_reversible_and_keeps_the_default_spec():
    spec = {"processor": "ParametricEqualizer", "args": {"num_filters": 4, "sample_rate": 30000}}
    up = spec_at_sample_rate(spec, 44100)
    assert up["args"] == {"num_filters": 4, "sample_rate": 44100.0, "reference_rate": 30000.0}
    assert spec_at_sample_rate(up, 30000)["args"] == {"num_filters": 4, "sample_rate": 30000.0}
    nested = {"processor": "DryWet", "args": {"processor": spec}}
    inner = spec_at_sample_rate(nested, 48000)["args"]["processor"]["args"]
    assert inner["sample_rate"] == 48000 and inner["reference_rate"] == 30000
    free = {"processor": "StereoGain", "args": {}}
    assert spec_at_sample_rate(free, 48000) == free


@pytest.mark.parametrize("rate", [0, -44100, float("nan"), float("inf"), "44100", True])
def test_bad_rates_are_refused_by_name(rate):
    with pytest.raises(ConfigError, match="sample_rate must be a positive number of Hz"):
        spec_at_sample_rate({"processor": "Limiter", "args": {}}, rate, "node")
    with pytest.raises(ConfigError, match="Limiter: sample_rate must be a positive number"):
        registry.get_processor_class("Limiter")(sample_rate=rate)


def test_graphic_equalizer_refuses_a_rate_below_twice_its_highest_band():
    spec = {"processor": "GraphicEqualizer", "args": {}}
    with pytest.raises(
        ConfigError,
        match=r"node: GraphicEqualizer: cannot serve sr=16000 Hz: its "
        r"highest band, designed at 44100 Hz, is at 13500 Hz, at or above the Nyquist frequency 8000 Hz",
    ):
        from grafx.processors.spec import build_processor

        build_processor(spec_at_sample_rate(spec, 16000), "node")
