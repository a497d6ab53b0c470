"""BandLoss, the default objective: band weighting, level weighting, settings and names."""

import numpy as np
import pytest
import torch

from grafx.errors import AudioError, ConfigError
from grafx.losses import (
    DEFAULT_LOSS,
    LOSSES,
    BandLoss,
    MixLoss,
    default_mix_loss,
    loss_settings,
    make_loss,
)

RATE = 44100
CENTRES = (40, 63, 125, 250, 500, 1000, 2000, 4000, 8000, 12500, 16000)


def pink(seconds=1.5, seed=0):
    """Stereo noise whose power falls 3 dB an octave (about equal power per band), peak 0.5."""
    n = int(seconds * RATE)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[:, 1:] /= np.sqrt(freqs[1:])
    spectrum[:, 0] = 0
    audio = np.fft.irfft(spectrum, n)
    return audio / np.abs(audio).max() / 2


def band_boost(audio, centre, gain_db):
    """The audio with its third-octave band [fc 10^-1/20, fc 10^1/20) raised by gain_db."""
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / RATE)
    inside = (freqs >= centre * 10**-0.05) & (freqs < centre * 10**0.05)
    spectrum[:, inside] *= 10 ** (gain_db / 20)
    return np.fft.irfft(spectrum, audio.shape[-1])


@pytest.fixture(scope="module")
def costs():
    target = pink()
    loss = BandLoss(RATE)
    t = torch.from_numpy(target)
    boosts = {fc: float(loss(torch.from_numpy(band_boost(target, fc, 3.0)), t)) for fc in CENTRES}
    level = float(loss(t * 10 ** (1 / 20), t))
    return boosts, level, target


def test_a_3db_band_boost_costs_about_the_same_from_40hz_to_16khz(costs):
    boosts, _, _ = costs
    assert min(boosts.values()) > 0
    assert max(boosts.values()) / min(boosts.values()) <= 2.0, boosts


def test_the_paper_loss_does_not(costs):
    """The reason for the default: MixLoss charges a 40 Hz boost a small fraction of a 4 kHz
    one (A-weighting and few mel bands at the bottom)."""
    _, _, target = costs
    loss, t = MixLoss(RATE), torch.from_numpy(target)
    low = float(loss(torch.from_numpy(band_boost(target, 40, 3.0)), t))
    mid = float(loss(torch.from_numpy(band_boost(target, 4000, 3.0)), t))
    assert mid / low > 10


def test_a_level_error_costs_as_much_as_an_error_in_every_band(costs):
    """+1 dB on the whole mix is 1 dB in every band: 0.1151 nepers, about 9x a +3 dB error in
    one third-octave band (about 2 of the 53 sixth-octave bands at 3 dB each)."""
    boosts, level, _ = costs
    # (the side term's floor, 15 dB below the mid, takes 4% off the side's share)
    assert level == pytest.approx(np.log(10) / 20, rel=0.02)
    assert level > 5 * max(boosts.values())


def test_identical_audio_is_zero_and_silence_is_finite():
    loss = BandLoss(16000)
    x = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert loss(x, x.detach()).item() == 0.0
    silent = torch.zeros(2, 16000, requires_grad=True)
    value = loss(silent, x.detach())
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(silent.grad).all()
    mono = loss(x[:1], x[:1].detach() * 2)  # left/right term only
    assert mono.item() == pytest.approx(0.5 * np.log(2), rel=1e-3)


def test_bands_and_resolutions():
    loss = BandLoss(30000)
    centres = loss.centres.numpy()
    assert centres[0] == pytest.approx(31.25) and centres[-1] * 2 ** (1 / 12) <= 15000
    assert np.allclose(np.diff(np.log2(centres)), 1 / 6)
    # every band is measured: each one's weights add up to its width in bins, at least one bin
    for n, weights in zip(loss.resolutions, loss.band_weights, strict=True):
        assert (weights.sum(-1) > 0.9).all(), n


def test_names_settings_and_errors():
    assert DEFAULT_LOSS == "band" and set(LOSSES) == {"band", "paper"}
    assert isinstance(default_mix_loss(30000), BandLoss)
    assert isinstance(make_loss("paper", 30000), MixLoss)
    settings = loss_settings(make_loss("band", 30000))
    assert settings["name"] == "band" and settings["sample_rate"] == 30000.0
    assert loss_settings(MixLoss(30000))["name"] == "paper"
    assert loss_settings(torch.nn.MSELoss()) == {"name": None, "class": "MSELoss"}
    with pytest.raises(ConfigError, match="unknown loss 'mel'.*'band', 'paper'"):
        make_loss("mel", 30000)
    with pytest.raises(ConfigError, match="sample_rate"):
        BandLoss(0)
    with pytest.raises(AudioError, match="same shape"):
        BandLoss(16000)(torch.zeros(2, 100), torch.zeros(2, 101))
