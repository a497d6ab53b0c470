import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.errors import AudioError
from grafx.io import audio
from grafx.io.audio import (
    align_lengths,
    read_audio,
    read_stems,
    resample,
    to_stereo,
    write_audio,
)


def sine(freq, rate, seconds=0.25, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * freq * t)] * channels, axis=1)


def test_write_then_read_round_trips_float_wav(tmp_path):
    x = torch.randn(2, 500, dtype=torch.float64) * 0.3
    path = write_audio(tmp_path / "a.wav", x, 8000)
    y, rate = read_audio(path, dtype=torch.float64)
    assert rate == 8000 and y.shape == (2, 500)
    torch.testing.assert_close(y, x.float().double())  # 32-bit float file: exact to float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]  # no temporary left


def test_resampling_keeps_the_tone(tmp_path):
    sf.write(tmp_path / "s.wav", sine(500, 8000), 8000, subtype="FLOAT")
    y, rate = read_audio(tmp_path / "s.wav", sample_rate=16000)
    assert rate == 16000 and y.shape == (1, 4000)
    t = np.arange(4000) / 16000
    middle = slice(400, 3600)  # away from the filter's edge transients
    np.testing.assert_allclose(y[0, middle], 0.5 * np.sin(2 * np.pi * 500 * t[middle]), atol=2e-3)
    assert resample(torch.ones(1, 10), 8000, 8000).shape == (1, 10)


def test_stems_become_stereo_and_align(tmp_path):
    sf.write(tmp_path / "m.wav", sine(200, 8000, 0.25), 8000)
    sf.write(tmp_path / "s.wav", sine(300, 8000, 0.2, channels=2), 8000)
    with pytest.raises(
        AudioError,
        match=r"stems have different lengths \(m.wav: 0.250 s, s.wav: 0.200 s\).*--align pad\|trim",
    ):
        read_stems([tmp_path / "m.wav", tmp_path / "s.wav"])
    stems, rate = read_stems([tmp_path / "m.wav", tmp_path / "s.wav"], align="pad")
    assert stems.shape == (2, 2, 2000) and rate == 8000
    torch.testing.assert_close(stems[0, 0], stems[0, 1])  # mono duplicated
    assert stems[1, :, 1600:].abs().max() == 0
    stems, _ = read_stems([tmp_path / "m.wav", tmp_path / "s.wav"], align="trim")
    assert stems.shape == (2, 2, 1600)


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match=r"nope.wav: no such file"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a directory"):
        read_audio(tmp_path)
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(AudioError, match=r"bad.wav: cannot read audio"):
        read_audio(tmp_path / "bad.wav")
    sf.write(tmp_path / "three.wav", np.zeros((100, 3)), 8000)
    with pytest.raises(AudioError, match=r"three.wav: 3 channels; only mono or stereo"):
        read_audio(tmp_path / "three.wav")
    bad = sine(100, 8000)
    bad[7, 0] = np.inf
    sf.write(tmp_path / "inf.wav", bad, 8000, subtype="FLOAT")
    with pytest.raises(
        AudioError, match=r"inf.wav: audio contains 1 NaN/Inf samples \(first: Inf at sample 7\)"
    ):
        read_audio(tmp_path / "inf.wav")
    sf.write(tmp_path / "r.wav", sine(100, 16000), 16000)
    with pytest.raises(
        AudioError, match=r"r.wav: sample rate 16000 Hz differs from the required 8000 Hz"
    ):
        read_audio(tmp_path / "r.wav", sample_rate=8000, resample_to_rate=False)
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1)), 8000)
    with pytest.raises(AudioError, match="empty.wav: the file has no samples"):
        read_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="C = 1 or 2"):
        to_stereo(torch.zeros(3, 10), "x")


def test_failed_writes_leave_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "out.wav", torch.zeros(1, 100), 8000)
    before = path.read_bytes()
    with pytest.raises(AudioError, match=r"out.wav: audio contains 1 NaN/Inf"):
        write_audio(path, torch.tensor([[0.0, float("nan")]]), 8000)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_audio(path, torch.ones(1, 100), 8000)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with pytest.raises(AudioError, match="unknown audio format '.xyz'"):
        write_audio(tmp_path / "a.xyz", torch.zeros(1, 10), 8000)
    assert audio.MAX_CHANNELS == 2


def test_align_lengths_pads_or_trims_signals_of_any_shape():
    stems, target = torch.ones(3, 2, 5), torch.full((2, 8), 2.0)
    padded = align_lengths([stems, target], "pad")
    assert [tuple(s.shape) for s in padded] == [(3, 2, 8), (2, 8)]
    assert torch.equal(padded[0][..., :5], stems) and not padded[0][..., 5:].any()
    assert torch.equal(padded[1], target)
    trimmed = align_lengths([stems, target], "trim")
    assert [tuple(s.shape) for s in trimmed] == [(3, 2, 5), (2, 5)]
    assert torch.equal(trimmed[1], target[..., :5])
    assert align_lengths([stems, target], "refuse")[1] is target
    with pytest.raises(AudioError, match=r"align must be one of \('refuse', 'pad', 'trim'\)"):
        align_lengths([stems], "stretch")
