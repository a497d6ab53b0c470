import math

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.data import GRAFX, NodeConfigs
from grafx.errors import AudioError, ConfigError, ParameterError
from grafx.processors import (
    AdditiveSynth,
    ADSREnvelope,
    NoiseGenerator,
    SawtoothOscillator,
    SineOscillator,
    SquareOscillator,
    StereoGain,
    TriangleOscillator,
)
from grafx.processors.functional.generators import (
    frequency_from_z_frequency,
    level_from_z_level,
    z_frequency_from_frequency,
    z_level_from_level,
)
from grafx.render import prepare_render, render_grafx

SR = 8000.0
OSCILLATORS = [SineOscillator, SawtoothOscillator, SquareOscillator, TriangleOscillator]


def z_freq(hz, batch=1, dtype=torch.float64):
    return z_frequency_from_frequency(torch.full((batch, 1), hz, dtype=dtype), SR)


def numpy_oscillator(waveform, f, gain, n, sr, num_harmonics):
    """Sample-by-sample Fourier series of the waveform, harmonics below Nyquist only."""
    out = np.zeros(n)
    for i in range(n):
        for k in range(1, (1 if waveform == "sine" else num_harmonics) + 1):
            if k * f >= sr / 2:
                continue
            a = {
                "sine": 1.0 if k == 1 else 0.0,
                "sawtooth": -2 / (np.pi * k),
                "square": 4 / (np.pi * k) if k % 2 else 0.0,
                "triangle": 8 * (-1) ** ((k - 1) // 2) / (np.pi * k) ** 2 if k % 2 else 0.0,
            }[waveform]
            out[i] += gain * a * np.sin(2 * np.pi * k * f * i / sr)
    return out


def test_activations_are_inverse():
    f = torch.tensor([1.0, 440.0, 3999.0], dtype=torch.float64)
    torch.testing.assert_close(frequency_from_z_frequency(z_frequency_from_frequency(f, SR), SR), f)
    s = torch.tensor([0.01, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(level_from_z_level(z_level_from_level(s)), s)


@pytest.mark.parametrize("cls", OSCILLATORS)
def test_oscillators_match_a_numpy_loop(cls):
    osc = cls(sample_rate=SR, num_harmonics=12)
    f, gain, n = 700.0, 0.5, 200  # harmonics 6.., i.e. 4200 Hz and up, are above Nyquist
    y = osc(num_samples=n, z_frequency=z_freq(f), log_gain=torch.full((1, 1), math.log(gain)))
    expected = numpy_oscillator(cls.waveform, f, gain, n, SR, 12)
    np.testing.assert_allclose(y[0, 0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("cls", "reference"),
    [
        (SawtoothOscillator, lambda t: scipy.signal.sawtooth(t)),
        (SquareOscillator, lambda t: scipy.signal.square(t)),
        (TriangleOscillator, lambda t: scipy.signal.sawtooth(t + np.pi / 2, 0.5)),
    ],
)
def test_oscillators_tend_to_scipy_waveforms_by_the_truncation_error(cls, reference):
    # A 10 Hz fundamental at 8 kHz (400 harmonics below Nyquist) with K = 50: the RMS distance
    # to the ideal waveform is that of the dropped harmonics, sqrt(sum_{k > K} a_k^2 / 2).
    K, f, n = 50, 10.0, 8000
    osc = cls(sample_rate=SR, num_harmonics=K)
    y = osc(num_samples=n, z_frequency=z_freq(f), log_gain=torch.zeros(1, 1, dtype=torch.float64))
    ideal = reference(2 * np.pi * f * np.arange(n) / SR)
    rms = np.sqrt(np.mean((y[0, 0].numpy() - ideal) ** 2))
    k = np.arange(K + 1, 400)
    a = {
        SawtoothOscillator: 2 / (np.pi * k),
        SquareOscillator: np.where(k % 2 == 1, 4 / (np.pi * k), 0),
        TriangleOscillator: np.where(k % 2 == 1, 8 / (np.pi * k) ** 2, 0),
    }[cls]
    # The ideal waveform's jumps (sampled at 0 by scipy, not at the mid-point) add a little.
    expected = np.sqrt(np.sum(a**2) / 2)
    assert abs(rms - expected) < 0.15 * expected + 2e-3


def test_oscillator_is_band_limited_at_any_frequency():
    osc = SawtoothOscillator(sample_rate=SR, num_harmonics=64)
    n = 8000
    for f in (100.0, 1000.0, 1900.0, 3900.0):
        y = osc(
            num_samples=n, z_frequency=z_freq(f), log_gain=torch.zeros(1, 1, dtype=torch.float64)
        )
        spectrum = np.abs(np.fft.rfft(y[0, 0].numpy())) / (n / 2)
        bins = np.arange(spectrum.size)  # 1 Hz per bin
        harmonic = (bins % round(f) == 0) & (bins > 0)
        assert spectrum[~harmonic].max() < 1e-9  # nothing else: no aliases
        for k in (k for k in range(1, 65) if k * f < SR / 2):
            assert spectrum[int(k * f)] == pytest.approx(2 / (np.pi * k), rel=1e-9)


def test_float32_keeps_pitch_on_long_signals():
    osc = SineOscillator(sample_rate=SR)
    n = 2**17
    z = z_freq(1234.5, dtype=torch.float32)
    y = osc(num_samples=n, z_frequency=z, log_gain=torch.zeros(1, 1))
    f = float(frequency_from_z_frequency(z, SR))  # the float32 frequency it plays
    expected = np.sin(2 * np.pi * f * np.arange(n) / SR)
    assert y.dtype == torch.float32
    assert np.abs(y[0, 0].numpy() - expected).max() < 1e-5


def test_additive_synth_is_a_sum_of_sines_and_drops_partials_above_nyquist():
    synth = AdditiveSynth(num_sinusoids=3, sample_rate=SR)
    f_np, a_np = [220.0, 1500.0, 3999.0], [1.0, 0.25, 0.5]
    freqs = torch.tensor([f_np], dtype=torch.float64)
    amps = torch.tensor([a_np], dtype=torch.float64)
    y = synth(
        num_samples=100, z_frequency=z_frequency_from_frequency(freqs, SR), log_amplitude=amps.log()
    )
    t = np.arange(100) / SR
    expected = sum(a * np.sin(2 * np.pi * f * t) for f, a in zip(f_np, a_np, strict=True))
    np.testing.assert_allclose(y[0, 0].numpy(), expected, atol=1e-10)
    above = AdditiveSynth(num_sinusoids=1, sample_rate=SR)
    silent = above(
        num_samples=10, z_frequency=torch.full((1, 1), 40.0), log_amplitude=torch.zeros(1, 1)
    )
    assert torch.equal(silent, torch.zeros(1, 1, 10))  # sigmoid(40) = 1: exactly Nyquist


def test_noise_is_seeded_gaussian_with_the_given_gain():
    noise = NoiseGenerator(num_channels=2, seed=3)
    g = torch.full((2, 1), math.log(0.5), dtype=torch.float64)
    y = noise(num_samples=20000, log_gain=g)
    assert y.shape == (2, 2, 20000)
    assert torch.equal(y, noise(num_samples=20000, log_gain=g))
    assert not torch.equal(y[0, 0], y[0, 1])  # channels independent
    assert abs(float(y.std()) - 0.5) < 0.01 and abs(float(y.mean())) < 0.01
    other = NoiseGenerator(num_channels=2, seed=4)(num_samples=20000, log_gain=g)
    assert abs(float(torch.corrcoef(torch.stack([y[0, 0], other[0, 0]]))[0, 1])) < 0.03


def numpy_adsr(a, d, s, r, gate, n, sr):
    def level(u):
        return u / a if u < a else 1 - (1 - s) * min(1.0, (u - a) / d)

    out = np.zeros(n)
    for i in range(n):
        t = i / sr
        out[i] = level(t) if t < gate else level(gate) * max(0.0, 1 - (t - gate) / r)
    return out


@pytest.mark.parametrize(
    ("a", "d", "s", "r", "gate"),
    [
        (0.002, 0.003, 0.6, 0.004, 0.008),
        (0.004, 0.001, 0.3, 0.002, 0.002),
    ],  # the second: early gate
)
def test_adsr_matches_a_numpy_loop(a, d, s, r, gate):
    env = ADSREnvelope(sample_rate=SR)
    values = {"log_attack": a, "log_decay": d, "log_release": r, "log_gate": gate}
    params = {k: torch.full((1, 1), math.log(v), dtype=torch.float64) for k, v in values.items()}
    params["z_sustain"] = z_level_from_level(torch.full((1, 1), s, dtype=torch.float64))
    y = env(num_samples=120, **params)
    np.testing.assert_allclose(y[0, 0].numpy(), numpy_adsr(a, d, s, r, gate, 120, SR), atol=1e-12)


def all_generators():
    return [
        *(cls(sample_rate=SR, num_harmonics=4) for cls in OSCILLATORS),
        AdditiveSynth(num_sinusoids=2, sample_rate=SR),
        NoiseGenerator(num_channels=2),
        ADSREnvelope(sample_rate=SR),
    ]


def params_for(processor, value=None, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key, size in processor.parameter_size().items():
        if value is None:
            out[key] = 0.5 * torch.randn(batch, size, generator=generator, dtype=torch.float64)
        else:
            out[key] = torch.full((batch, size), value, dtype=torch.float64)
    if isinstance(processor, ADSREnvelope) and value is None:
        # Times of a few samples, so that the 24 samples cross every segment.
        for key in ("log_attack", "log_decay", "log_release", "log_gate"):
            out[key] = out[key] + math.log(6 / SR)
    return out


@pytest.mark.parametrize("processor", all_generators(), ids=lambda p: type(p).__name__)
def test_gradcheck_float64(processor):
    params = params_for(processor)
    names = list(params)

    def run(*values):
        return processor(num_samples=24, **dict(zip(names, values, strict=True)))

    assert torch.autograd.gradcheck(run, tuple(p.requires_grad_() for p in params.values()))


@pytest.mark.parametrize("processor", all_generators(), ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("value", [-20.0, 20.0])
def test_finite_gradients_at_extreme_parameters(processor, value):
    params = {k: v.float().requires_grad_() for k, v in params_for(processor, value).items()}
    y = processor(num_samples=64, **params)
    assert torch.isfinite(y).all()
    (y.square().sum() + y.sum()).backward()
    for key, p in params.items():
        assert torch.isfinite(p.grad).all(), key


@pytest.mark.parametrize("bad", [None, 0, -3, 2.5, True])
def test_bad_num_samples_is_named(bad):
    with pytest.raises(AudioError, match="SineOscillator: num_samples must be a positive integer"):
        SineOscillator()(num_samples=bad, z_frequency=torch.zeros(1, 1), log_gain=torch.zeros(1, 1))


def test_wrong_shapes_and_disagreeing_batches_are_named():
    with pytest.raises(ParameterError, match="SineOscillator: .*'log_gain'"):
        SineOscillator()(num_samples=8, z_frequency=torch.zeros(2, 1), log_gain=torch.zeros(2, 3))
    with pytest.raises(ParameterError, match="disagree on the batch size: 'z_frequency' has 2"):
        SineOscillator()(num_samples=8, z_frequency=torch.zeros(2, 1), log_gain=torch.zeros(3, 1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SineOscillator(sample_rate=0), "SineOscillator: sample_rate"),
        (lambda: SquareOscillator(num_harmonics=0), "SquareOscillator: num_harmonics"),
        (lambda: AdditiveSynth(num_sinusoids=0), "AdditiveSynth: num_sinusoids"),
        (lambda: NoiseGenerator(num_channels=3), "NoiseGenerator: num_channels"),
        (lambda: ADSREnvelope(sample_rate=-1.0), "ADSREnvelope: sample_rate"),
    ],
)
def test_bad_configuration_is_named(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def generator_graph():
    """``in`` (unconnected: it sets the length) ; ``osc -> gain -> out`` ; ``noise -> out``."""
    config = NodeConfigs(
        {
            "osc": {"inlets": [], "outlets": ["main"]},
            "noise": {"inlets": [], "outlets": ["main"]},
            "gain": {"inlets": ["main"], "outlets": ["main"]},
        }
    )
    G = GRAFX(config=config)
    G.add("in")
    out = G.add("out")
    for _ in range(2):
        osc, gain = G.add("osc"), G.add("gain")
        G.connect(osc, gain)
        G.connect(gain, out)
    G.connect(G.add("noise"), out)
    return G


def test_generator_renders_into_an_effect_into_out():
    G = generator_graph()
    processors = {
        "osc": SawtoothOscillator(sample_rate=SR, num_harmonics=8),
        "noise": NoiseGenerator(seed=1),
        "gain": StereoGain(),
    }
    params = {
        "osc": {
            "z_frequency": z_freq(300.0, 2),
            "log_gain": torch.zeros(2, 1, dtype=torch.float64),
        },
        "noise": {"log_gain": torch.full((1, 1), -3.0, dtype=torch.float64)},
        "gain": {"log_gain": torch.tensor([[0.0, -1.0], [-2.0, 0.5]], dtype=torch.float64)},
    }
    source = torch.zeros(1, 2, 256, dtype=torch.float64)
    y, _ = render_grafx(source, processors, params, prepare_render(G))
    assert y.shape == (1, 2, 256)
    osc = processors["osc"](num_samples=256, **params["osc"])
    noise = processors["noise"](num_samples=256, **params["noise"])
    expected = noise + processors["gain"](osc, **params["gain"]).sum(0, keepdim=True)
    torch.testing.assert_close(y, expected)
    # 4-D sources: every item renders the same generators.
    y4, _ = render_grafx(source[None].repeat(3, 1, 1, 1), processors, params, prepare_render(G))
    torch.testing.assert_close(y4, y[None].expand(3, -1, -1, -1))


def test_fit_recovers_a_gain_and_frequency_from_a_neutral_start():
    osc = SineOscillator(sample_rate=SR)
    target = osc(
        num_samples=256,
        z_frequency=z_freq(1010.0),
        log_gain=torch.full((1, 1), math.log(0.5), dtype=torch.float64),
    )
    z = z_freq(1000.0).requires_grad_()  # a neutral start within the loss's basin
    g = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([z, g], lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        loss = (osc(num_samples=256, z_frequency=z, log_gain=g) - target).square().mean()
        loss.backward()
        optimizer.step()
    f = float(frequency_from_z_frequency(z.detach(), SR))
    assert abs(f - 1010.0) < 1.0 and abs(float(g.detach().exp()) - 0.5) < 0.01
