"""Mix descriptors of grafx.metrics against direct numpy/scipy computations."""

import math

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import torch

from grafx.errors import AudioError
from grafx.metrics import (
    band_frame_size,
    band_levels,
    crest_factor_db,
    descriptor_errors,
    loudness_range,
    mix_descriptors,
    third_octave_centres,
)

RATE = 48000


def sines(freqs_amps, seconds=1.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return sum(a * np.sin(2 * np.pi * f * t) for f, a in freqs_amps)


def long_term_band_levels(x, rate, centres, n):
    """Band levels of a 1-D signal from a frame-by-frame loop: periodic-Hann frames of ``n``
    every ``n / 4`` over the zero-padded signal, one-sided power summed and scaled so that all
    bins give the mean square (Parseval), then summed between the band edges."""
    hop = n // 4
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    padded = np.concatenate([np.zeros(n), x, np.zeros(2 * n)])
    power = np.zeros(n // 2 + 1)
    for t in range(-(-x.size // hop) + 3):
        frame = padded[n + (t - 3) * hop : n + (t + 1) * hop]
        power += np.abs(np.fft.rfft(frame * window)) ** 2
    power[1 : (n + 1) // 2] *= 2
    power /= n * 1.5 * x.size  # the squared windows of the frames sum to 1.5 everywhere
    freqs = np.arange(n // 2 + 1) * rate / n
    bins = [(freqs >= c * 10**-0.05) & (freqs < c * 10**0.05) for c in centres]
    return np.array([10 * np.log10(power[b].sum()) if b.any() else np.nan for b in bins])


def test_third_octave_centres_are_the_base_ten_series_up_to_nyquist():
    centres = third_octave_centres(44100)
    assert centres[0] == pytest.approx(31.62, abs=0.01) and centres[-1] == pytest.approx(
        15849, abs=1
    )
    assert np.allclose(np.diff(np.log10(centres)), 0.1)
    assert third_octave_centres(30000)[-1] == pytest.approx(12589, abs=1)  # 16 kHz band > 15 kHz


def test_band_levels_of_sines_and_of_noise():
    assert band_frame_size(48000) == band_frame_size(44100) == 32768
    assert band_frame_size(8000) == 8192
    x = sines([(100, 0.5), (1000, 0.25), (10000, 0.1)], seconds=20.0)
    centres = third_octave_centres(RATE)
    levels = band_levels(x, RATE, centres)
    for freq, amp in ((100, 0.5), (1000, 0.25), (10000, 0.1)):
        band = int(np.argmin(abs(centres - freq)))
        assert levels[band] == pytest.approx(10 * np.log10(amp**2 / 2), abs=0.01)
    assert np.sort(levels)[-4] < -40  # the other bands: the leakage of the window and ends
    noise = np.random.default_rng(0).standard_normal(RATE // 2)
    levels = band_levels(noise, RATE, centres)
    expected = long_term_band_levels(noise, RATE, centres, 32768)
    np.testing.assert_allclose(levels, expected, atol=1e-9)
    # (..., L) rows are measured alike; a frame size may be given
    both = band_levels(np.stack([noise, 0.5 * noise]), RATE, centres, frame_size=4096)
    np.testing.assert_allclose(both[1], both[0] + 20 * np.log10(0.5), atol=1e-9)
    assert np.isnan(both[0, 1])  # 4096 samples at 48 kHz: no bin in the 40 Hz band
    np.testing.assert_allclose(
        both[0], long_term_band_levels(noise, RATE, centres, 4096), atol=1e-9
    )


@pytest.mark.parametrize("block", [1000, 48000, 100000])
def test_streamed_descriptors_equal_the_one_shot_ones(block):
    rng = np.random.default_rng(5)
    gain = np.repeat([0.1, 0.03, 0.2, 0.05], 1.5 * RATE)  # 6 s at four levels
    mix = torch.from_numpy(rng.standard_normal((2, gain.size)) * gain)
    one_shot = mix_descriptors(mix, RATE, block_samples=1 << 24)
    streamed = mix_descriptors(mix, RATE, block_samples=block)
    for name in ("mid_db", "side_db", "width_db"):
        np.testing.assert_allclose(getattr(streamed, name), getattr(one_shot, name), rtol=1e-9)
    for name in ("loudness_lufs", "loudness_range_lu", "crest_db"):
        assert getattr(streamed, name) == pytest.approx(getattr(one_shot, name), rel=1e-9)
    # the one-shot values are those of the whole-signal functions
    mid = 0.5 * (mix[0] + mix[1]).numpy()
    np.testing.assert_allclose(one_shot.mid_db, band_levels(mid, RATE, one_shot.centres))
    assert one_shot.loudness_lufs == pytest.approx(
        pyloudnorm.Meter(RATE).integrated_loudness(mix.numpy().T), abs=1e-9
    )
    assert one_shot.loudness_range_lu == pytest.approx(loudness_range(mix, RATE), abs=1e-9)
    assert one_shot.crest_db == pytest.approx(crest_factor_db(mix), abs=1e-12)


def test_mid_side_width_loudness_and_crest():
    s1 = np.random.default_rng(1).standard_normal(RATE) * 0.1
    s2 = np.random.default_rng(2).standard_normal(RATE) * 0.02
    mix = np.stack([s1 + s2, s1 - s2])  # mid = s1, side = s2
    d = mix_descriptors(torch.from_numpy(mix), RATE)
    assert np.allclose(d.mid_db, band_levels(s1, RATE, d.centres), atol=1e-9)
    assert np.allclose(d.side_db, band_levels(s2, RATE, d.centres), atol=1e-9)
    assert np.allclose(d.width_db, d.side_db - d.mid_db)
    assert np.median(d.width_db) == pytest.approx(-14.0, abs=1.0)  # 20 log10(0.02 / 0.1)
    expected = pyloudnorm.Meter(RATE).integrated_loudness(mix.T)
    assert d.loudness_lufs == pytest.approx(expected, abs=1e-9)
    assert d.crest_db == pytest.approx(
        20 * np.log10(np.abs(mix).max() / np.sqrt(np.mean(mix**2))), abs=1e-12
    )
    assert crest_factor_db(sines([(1000, 0.3)])[None]) == pytest.approx(10 * np.log10(2), abs=1e-3)
    assert math.isnan(d.loudness_range_lu)  # 1 s: shorter than one 3 s window
    with pytest.raises(AudioError, match="expected audio"):
        mix_descriptors(np.zeros((3, 100)), RATE)


def k_weighted_48k(x):
    """ITU-R BS.1770-4's two K-weighting stages with its published 48 kHz coefficients."""
    b1 = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    a1 = [1.0, -1.69065929318241, 0.73248077421585]
    b2, a2 = [1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621]
    return scipy.signal.lfilter(b2, a2, scipy.signal.lfilter(b1, a1, x, axis=-1), axis=-1)


def test_loudness_range_against_a_direct_ebu_tech_3342_computation():
    rng = np.random.default_rng(3)
    seconds = np.repeat([0.1, 0.0316, 0.2, 0.05], 4)  # 16 s in four levels (4 s each)
    gain = np.repeat(seconds, RATE)
    mix = rng.standard_normal((2, gain.size)) * gain
    weighted = k_weighted_48k(mix)
    window, hop = 3 * RATE, RATE // 10
    power = np.array(
        [
            np.mean(weighted[:, s : s + window] ** 2, -1).sum()
            for s in range(0, gain.size - window + 1, hop)
        ]
    )
    loudness = -0.691 + 10 * np.log10(power)
    relative = -0.691 + 10 * np.log10(power[loudness > -70].mean()) - 20
    kept = loudness[(loudness > -70) & (loudness > relative)]
    expected = np.percentile(kept, 95) - np.percentile(kept, 10)
    assert loudness_range(mix, RATE) == pytest.approx(expected, abs=0.02)
    assert 10 < expected < 17  # the levels span 16 dB


def test_descriptor_errors_of_a_6db_low_boost():
    rng = np.random.default_rng(4)
    length = 8 * RATE
    target = rng.standard_normal((2, length)) * 0.1
    spectrum = np.fft.rfft(target)
    freqs = np.fft.rfftfreq(length, 1 / RATE)
    # +6.02 dB over the three bands 80, 100 and 125 Hz (70.8 to 141 Hz)
    spectrum[:, (freqs >= 80 * 10**-0.05) & (freqs < 125 * 10**0.05)] *= 2.0
    estimate = np.fft.irfft(spectrum, length)
    errors = descriptor_errors(torch.from_numpy(estimate), torch.from_numpy(target), RATE)
    band = errors["bands"]["centre_hz"].index(100.0)
    assert errors["bands"]["mid_error_db"][band] == pytest.approx(20 * np.log10(2), abs=0.02)
    assert errors["band_max_db"] == pytest.approx(20 * np.log10(2), abs=0.1)
    assert errors["band_range_hz"] == [pytest.approx(39.81, abs=0.01), pytest.approx(15849, abs=1)]
    n = len([f for f in errors["bands"]["centre_hz"] if 39 < f < 16100])
    assert errors["band_rms_db"] == pytest.approx(20 * np.log10(2) * np.sqrt(3 / n), abs=0.1)
