"""grafx.metrics against direct numpy computations, BS.1770 test tones and bad input."""

import math

import numpy as np
import pytest
import torch

from grafx.errors import AudioError
from grafx.losses import MixLoss
from grafx.metrics import integrated_loudness, mix_metrics, snr_db

RATE = 8000


def noise(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def sine(freq, amplitude, seconds, rate=RATE, channels=2):
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).expand(channels, -1).clone()


def numpy_stft_distance(x, y, fft_sizes=(512, 1024, 2048), eps=1e-8):
    """Centred, zero-padded, periodic-Hann STFT; SC + mean |log| per resolution, averaged."""

    def magnitude(signal, n):
        hop = n // 4
        padded = np.pad(signal, [(0, 0), (n // 2, n // 2)])
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
        frames = 1 + signal.shape[-1] // hop
        spectra = np.stack(
            [
                np.fft.rfft(padded[:, t * hop : t * hop + n] * window, axis=-1)
                for t in range(frames)
            ],
            axis=-1,
        )
        return np.sqrt(np.abs(spectra) ** 2 + eps)

    total = 0.0
    for n in fft_sizes:
        a, b = magnitude(x, n), magnitude(y, n)
        sc = np.linalg.norm(b - a) / (np.linalg.norm(b) + eps)
        total += sc + np.mean(np.abs(np.log(b) - np.log(a)))
    return total / len(fft_sizes)


def test_values_match_direct_computations():
    target = noise(2, RATE)
    estimate = 0.8 * target + 0.1 * noise(2, RATE, seed=1)
    metrics = mix_metrics(estimate.float(), target.float(), RATE)
    assert list(metrics) == ["mix_loss", "stft_distance", "snr_db", "loudness_diff_lu"]
    x, y = estimate.float().double().numpy(), target.float().double().numpy()
    expected_snr = 10 * np.log10(np.sum(y**2) / np.sum((y - x) ** 2))
    assert metrics["snr_db"] == pytest.approx(expected_snr, rel=1e-12)
    assert metrics["stft_distance"] == pytest.approx(numpy_stft_distance(x, y), rel=1e-9)
    expected_mix = MixLoss(RATE)(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert metrics["mix_loss"] == pytest.approx(expected_mix, rel=1e-12)
    assert all(isinstance(v, float) for v in metrics.values())


def test_loudness_of_the_ebu_3341_tone_and_of_a_scaled_copy():
    # EBU Tech 3341 case 1: a stereo 1 kHz sine at -23 dBFS measures -23.0 +- 0.1 LUFS.
    rate = 48000
    tone = sine(1000, 10 ** (-23 / 20), 5.0, rate)
    assert integrated_loudness(tone, rate) == pytest.approx(-23.0, abs=0.1)
    import pyloudnorm

    direct = pyloudnorm.Meter(rate).integrated_loudness(tone.numpy().T)
    assert integrated_loudness(tone, rate) == pytest.approx(direct, abs=1e-12)
    # A gain of 0.5 lowers every gated block by 20 log10(2) dB, so the loudness too.
    metrics = mix_metrics(0.5 * tone, tone, rate)
    assert metrics["loudness_diff_lu"] == pytest.approx(-20 * math.log10(2), abs=1e-9)
    assert metrics["snr_db"] == pytest.approx(20 * math.log10(2), abs=1e-9)


def test_identical_mixes():
    target = noise(2, RATE)
    metrics = mix_metrics(target, target.clone(), RATE)
    assert metrics["mix_loss"] == 0.0 and metrics["stft_distance"] == 0.0
    assert metrics["snr_db"] == math.inf and metrics["loudness_diff_lu"] == 0.0


def test_silent_and_short_audio_give_the_documented_values():
    silent = torch.zeros(2, RATE, dtype=torch.float64)
    mix = sine(440, 0.3, 1.0)
    metrics = mix_metrics(mix, silent, RATE)
    assert metrics["snr_db"] == -math.inf and metrics["loudness_diff_lu"] == math.inf
    assert math.isfinite(metrics["mix_loss"]) and math.isfinite(metrics["stft_distance"])
    assert mix_metrics(silent, mix, RATE)["loudness_diff_lu"] == -math.inf
    both = mix_metrics(silent, silent.clone(), RATE)
    assert math.isnan(both["snr_db"]) and math.isnan(both["loudness_diff_lu"])
    assert both["mix_loss"] == 0.0
    short = mix_metrics(mix[:, : int(0.3 * RATE)] * 0.5, mix[:, : int(0.3 * RATE)], RATE)
    assert math.isnan(short["loudness_diff_lu"]) and short["snr_db"] == pytest.approx(6.0206, 1e-4)
    assert math.isnan(integrated_loudness(mix[:, :100], RATE))


def test_mono_is_dual_mono_and_float32_is_measured_in_float64():
    target, estimate = noise(1, RATE), noise(1, RATE, seed=2)
    mono = mix_metrics(estimate, target, RATE)
    dual = mix_metrics(estimate.expand(2, -1), target.expand(2, -1), RATE)
    assert mono == pytest.approx(dual, rel=1e-12)
    single = mix_metrics(estimate.float(), target.float(), RATE)
    doubled = mix_metrics(estimate.float().double(), target.float().double(), RATE)
    assert single == pytest.approx(doubled, rel=1e-12)


def test_snr_formula():
    assert snr_db(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0])) == pytest.approx(
        10 * math.log10(4 / 2)
    )


@pytest.mark.parametrize(
    ("estimate", "target", "rate", "kwargs", "message"),
    [
        (noise(2, 100), noise(2, 101), RATE, {}, r"estimate \(2, 100\) and target \(2, 101\)"),
        (noise(1, 100), noise(2, 100), RATE, {}, "must have the same shape"),
        (noise(3, 100), noise(3, 100), RATE, {}, r"estimate must be mono or stereo.*\(3, 100\)"),
        (noise(1, 2, 100), noise(1, 2, 100), RATE, {}, r"got shape \(1, 2, 100\)"),
        (noise(2, 100), noise(2, 100).numpy(), RATE, {}, "target must be a torch.Tensor"),
        (noise(2, 0), noise(2, 0), RATE, {}, "no samples"),
        (noise(2, 100), noise(2, 100), 0, {}, "sample_rate must be a positive number, got 0"),
        (noise(2, 100), noise(2, 100), float("nan"), {}, "got nan"),
        (noise(2, 100), noise(2, 100), "8000", {}, "got '8000'"),
        (noise(2, 100), noise(2, 100), RATE, {"target_sample_rate": 16000}, "at 16000 Hz"),
        (
            noise(2, 100) * float("nan"),
            noise(2, 100),
            RATE,
            {},
            "mix_metrics: estimate: audio contains 200 NaN",
        ),
    ],
)
def test_bad_input_is_refused(estimate, target, rate, kwargs, message):
    with pytest.raises(AudioError, match=message):
        mix_metrics(estimate, target, rate, **kwargs)


def test_numpy_integer_rate_is_accepted():
    x = noise(2, RATE)
    assert mix_metrics(x, x, np.int64(RATE))["mix_loss"] == 0.0


@pytest.mark.parametrize("block", [1, 257, 1000, 4999])
def test_streamed_blocks_give_the_whole_signal_values(block):
    gen = torch.Generator().manual_seed(3)
    target = torch.randn(2, 5000, generator=gen, dtype=torch.float64) * 0.3
    estimate = 0.8 * target + 0.05 * torch.randn(2, 5000, generator=gen, dtype=torch.float64)
    one_shot = mix_metrics(estimate, target, 8000, block_samples=1 << 20)
    streamed = mix_metrics(estimate, target, 8000, block_samples=block)
    for key, value in one_shot.items():
        assert streamed[key] == pytest.approx(value, rel=1e-9), key
    # the one-shot values are the whole signal's (the losses on the whole tensors)
    x, y = estimate.numpy(), target.numpy()
    assert one_shot["stft_distance"] == pytest.approx(numpy_stft_distance(x, y), rel=1e-9)
    assert one_shot["mix_loss"] == pytest.approx(float(MixLoss(8000)(estimate, target)), rel=1e-9)
    assert one_shot["loudness_diff_lu"] == pytest.approx(
        integrated_loudness(estimate, 8000) - integrated_loudness(target, 8000), rel=1e-9
    )


def test_block_size_must_be_positive():
    x = noise(2, RATE)
    with pytest.raises(AudioError, match="block_samples must be a positive integer"):
        mix_metrics(x, x, RATE, block_samples=0)
