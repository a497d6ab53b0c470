"""Numerical defects at the edges of the parameter ranges, each against an independent reference.

Shelving and peaking designs against the cookbook in numpy and ``scipy.signal.freqz``; the
FDN's T60 and onset against the analytic decay and a 4x longer frequency-sampled reference;
the limiter's ceiling, the modulated delays' read and LFO phase, the graphic EQ's range and
the gradients at the issue's parameter values against analytic results.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.processors import registry
from grafx.processors.core.geq import MAX_TARGET_GAIN_DB, GraphicEqualizerBiquad
from grafx.processors.functional.fdn import fdn_impulse_response, fdn_ir_len_for
from grafx.processors.functional.filter import LOG_GAIN_MAX, Q_INV_MAX, rbj_biquad
from grafx.processors.functional.limiter import lookahead_limiter
from grafx.processors.functional.modulation import fractional_delay_read, modulated_delay

pytestmark = pytest.mark.usefixtures("one_thread")

RAW = (-100.0, -50.0, -10.0, -2.0, 0.0, 2.0, 10.0, 50.0, 100.0)


def cookbook(kind, w0, q_inv, log_gain):
    """RBJ cookbook coefficients in numpy, at the parameters as :func:`rbj_biquad` bounds them."""
    omega = math.pi / (1 + math.exp(-w0))
    inv_q = math.exp(min(max(q_inv, -Q_INV_MAX), Q_INV_MAX))
    amp = math.exp(min(max(log_gain, -LOG_GAIN_MAX), LOG_GAIN_MAX))
    cos, alpha = math.cos(omega), math.sin(omega) * inv_q / 2
    root = 2 * math.sqrt(amp) * alpha
    if kind == "peaking":
        return [1 + alpha * amp, -2 * cos, 1 - alpha * amp], [
            1 + alpha / amp,
            -2 * cos,
            1 - alpha / amp,
        ]
    s = 1 if kind == "lowshelf" else -1
    p, m = amp + 1, amp - 1
    b = [
        amp * (p - s * m * cos + root),
        s * 2 * amp * (m - s * p * cos),
        amp * (p - s * m * cos - root),
    ]
    a = [p + s * m * cos + root, -s * 2 * (m + s * p * cos), p + s * m * cos - root]
    return b, a


def peak_gain(b, a, num=8192):
    """Largest magnitude on ``num`` bins; a 0/0 bin (a degenerate cookbook design) is skipped."""
    with np.errstate(invalid="ignore", divide="ignore"):
        _, h = scipy.signal.freqz(b, a, worN=num)
    return np.nanmax(np.abs(h))


def design(kind, w0, q_inv, log_gain):
    Bs, As = rbj_biquad(
        kind, *(torch.tensor([v], dtype=torch.float64) for v in (w0, q_inv, log_gain))
    )
    return Bs[0].numpy(), As[0].numpy()


@pytest.mark.parametrize("kind", ["lowshelf", "highshelf"])
def test_a_cutting_shelf_never_amplifies_at_any_raw_parameter(kind):
    # A shelf with gain A^2 <= 1 and Q <= 1/sqrt(2) has no overshoot: its response is <= 1. Before,
    # the stability clamp broke its pole-zero cancellation: gains up to 1e27, or NaN.
    q_inv_values = [v for v in RAW if v >= math.log(math.sqrt(2))]
    for w0, q_inv, log_gain in itertools.product(RAW, q_inv_values, [v for v in RAW if v <= 0]):
        b, a = design(kind, w0, q_inv, log_gain)
        assert np.isfinite(b).all() and np.isfinite(a).all()
        assert peak_gain(b, a) <= 1 + 1e-4, (w0, q_inv, log_gain)


@pytest.mark.parametrize("kind", ["lowshelf", "highshelf", "peaking"])
def test_rbj_designs_are_bounded_by_their_cookbook_peak(kind):
    raw = (-100.0, -10.0, -2.0, 0.0, 2.0, 10.0, 100.0)
    for w0, q_inv, log_gain in itertools.product(raw, raw, raw):
        b, a = design(kind, w0, q_inv, log_gain)
        assert np.isfinite(b).all() and np.isfinite(a).all()
        ours = peak_gain(b, a)
        if kind == "peaking":  # the cookbook's peak is exactly max(A^2, 1)
            amp = math.exp(min(max(log_gain, -LOG_GAIN_MAX), LOG_GAIN_MAX))
            reference = max(amp * amp, 1.0)
        else:  # the cookbook's own peak, sampled densely
            reference = peak_gain(*cookbook(kind, w0, q_inv, log_gain), num=16384)
        assert ours <= reference * (1 + 1e-4), (w0, q_inv, log_gain, ours, reference)


def test_rbj_designs_at_ordinary_settings_are_the_cookbook():
    rng = np.random.default_rng(0)
    for kind in ("lowshelf", "highshelf", "peaking"):
        for w0, q_inv, log_gain in rng.uniform(-2, 2, size=(20, 3)):
            b, a = design(kind, w0, q_inv, log_gain)
            rb, ra = (np.array(v) for v in cookbook(kind, w0, q_inv, log_gain))
            np.testing.assert_allclose(b, rb / ra[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(a, ra / ra[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["fsm", "lfilter"])
def test_parametric_equalizer_is_finite_at_large_gains(backend):
    eq = registry.get_processor_class("ParametricEqualizer")(num_filters=3, backend=backend)
    g = torch.Generator().manual_seed(0)
    for log_gain in (5.0, 10.0, 40.0, 100.0, -40.0, -100.0):
        for x in (torch.zeros(2, 2, 256), torch.randn(2, 2, 256, generator=g)):
            params = {k: torch.randn(2, *v, generator=g) for k, v in eq.parameter_size().items()}
            params["log_gain"] = torch.full_like(params["log_gain"], log_gain).requires_grad_()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = eq(x, **params)
            torch.tanh(y).sum().backward()
            assert torch.isfinite(y).all() and torch.isfinite(params["log_gain"].grad).all()
            if not x.any():
                assert not y.any()  # silence stays silence
            # +120 dB at most per band, three bands
            assert y.abs().max() <= 1e18 * max(1.0, x.abs().max().item())


def schroeder_t60(h, sample_rate):
    """T60 from the energy decay curve, a line fitted from -5 to -35 dB (T30 x 2)."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = (edc_db <= -5) & (edc_db >= -35)
    n = np.nonzero(fit)[0]
    slope = np.polyfit(n / sample_rate, edc_db[n], 1)[0]
    return -60 / slope


def test_fdn_default_length_holds_its_longest_t60():
    sample_rate = 8000.0
    fdn = registry.get_processor_class("FDNReverb")(sample_rate=sample_rate)
    assert fdn.ir_len == fdn_ir_len_for(fdn.t60_max, sample_rate)
    g = torch.Generator().manual_seed(1)
    b = torch.randn(1, len(fdn.delays), dtype=torch.float64, generator=g)
    c = torch.randn(1, len(fdn.delays), dtype=torch.float64, generator=g)
    first_echo = int(fdn.delays.min())
    for t60 in (fdn.t60_max, fdn.t60_max / 2):
        t = torch.full((1, fdn.num_bands), t60, dtype=torch.float64)
        h = fdn_impulse_response(t, b, c, fdn.delays, fdn.ir_len, sample_rate)[0].numpy()
        # nothing can arrive before the shortest delay line: 80 dB below the response
        assert np.abs(h[:first_echo]).max() <= 1e-4 * np.abs(h).max()
        # a 4x longer frequency sampling (far less aliasing) as the reference render
        ref = fdn_impulse_response(t, b, c, fdn.delays, 4 * fdn.ir_len, sample_rate)[0].numpy()
        error = np.linalg.norm(h - ref[: fdn.ir_len]) / np.linalg.norm(ref[: fdn.ir_len])
        assert error < 1e-3
        assert schroeder_t60(h, sample_rate) == pytest.approx(t60, rel=0.03)


def test_fdn_short_ir_len_warns():
    cls = registry.get_processor_class("FDNReverb")
    with pytest.warns(UserWarning, match=r"FDNReverb: ir_len 32768 holds only 11\.1 dB"):
        cls(ir_len=2**15)


def test_limiter_never_exceeds_its_ceiling_in_float32():
    worst = 0.0
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        x = 30 * torch.randn(4, 2, 2048, generator=g)
        ceiling = torch.exp(torch.rand(4, 1, generator=g) * 4 - 3)
        for lookahead in (1, 7, 64):
            y = lookahead_limiter(x, ceiling, lookahead)
            worst = max(worst, (y.abs().amax((-2, -1)) / ceiling[:, 0]).max().item())
    assert worst <= 1.0


def test_fractional_read_at_zero_delay_is_the_input():
    x = torch.randn(2, 2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for delay in (0.0, 1e-12):
        y = fractional_delay_read(x, torch.full_like(x, delay), max_delay=3)
        torch.testing.assert_close(y, x, rtol=0, atol=1e-11)


def test_flanger_without_base_delay_and_depth_passes_the_last_sample():
    flanger = registry.get_processor_class("Flanger")(sample_rate=8000, base_delay_ms=0.0)
    x = torch.randn(1, 1, 128, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    params = {
        k: torch.zeros(1, *((v,) if isinstance(v, int) else v), dtype=torch.float64)
        for k, v in flanger.parameter_size().items()
    }
    params["z_depth"] = torch.full_like(params["z_depth"], -60.0)  # depth ~ 1e-26 samples
    y = flanger(x, **params)
    assert y[0, 0, -1].item() == pytest.approx(x[0, 0, -1].item(), abs=1e-12)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12)


def test_chorus_right_lfo_is_a_quarter_period_ahead():
    # On a ramp x[n] = n the linear interpolation is exact, so n - y[n] is the delay d[n].
    sample_rate, rate, length = 8000.0, 25.0, 1200
    period = int(sample_rate / rate)  # 320 samples
    x = torch.arange(length, dtype=torch.float64).expand(1, 2, length).contiguous()
    y = modulated_delay(
        x,
        torch.tensor([[rate]], dtype=torch.float64),
        torch.tensor([[20.0]], dtype=torch.float64),
        torch.ones(1, 1, dtype=torch.float64),
        30.0,
        52,
        sample_rate,
        math.pi / 2,
    )
    delay = (x - y)[0, :, 100:]
    left, right = delay[0], delay[1]
    # ahead: the right delay at n is the left delay at n + period / 4
    torch.testing.assert_close(right[: -period // 4], left[period // 4 :], rtol=0, atol=1e-9)
    assert not torch.allclose(left[: -period // 4], right[period // 4 :], atol=1e-3)


def test_graphic_eq_holds_its_targets_within_24_db():
    geq = GraphicEqualizerBiquad("third_octave", 48000)
    bound = MAX_TARGET_GAIN_DB * math.log(10) / 20
    centres = geq.center_frequencies.numpy()
    for target_db in (24.0, 40.0, 1e4):
        target = (
            torch.tensor(
                [[(-1) ** k * target_db for k in range(geq.num_bands)]], dtype=torch.float64
            )
            * math.log(10)
            / 20
        )
        Bs, As = geq(target.requires_grad_())
        sos = torch.cat([Bs, As], -1)[0].detach().numpy()
        _, h = scipy.signal.sosfreqz(sos, worN=centres, fs=48000)
        response = 20 * np.log10(np.abs(h))
        expected = target.clamp(-bound, bound)[0].detach().numpy() * 20 / math.log(10)
        assert np.abs(response - expected).max() < 0.35
        Bs.sum().backward()
        assert torch.isfinite(target.grad).all()


def _grads_finite(name, kwargs, values, channels=2, length=256):
    """Outputs and gradients of processor ``name`` with ``values`` overriding its parameters."""
    processor = registry.get_processor_class(name)(**kwargs)
    g = torch.Generator().manual_seed(0)
    params = {}
    for key, shape in processor.parameter_size().items():
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        value = values.get(key)
        params[key] = (
            torch.full((2, *shape), value)
            if value is not None
            else 0.5 * torch.randn(2, *shape, generator=g)
        ).requires_grad_()
    x = torch.randn(2, channels, length, generator=g).requires_grad_()
    out = processor(x, **params)
    outputs = out if isinstance(out, list) else [out]
    sum(torch.tanh(y).mean() for y in outputs).backward()
    finite = all(torch.isfinite(y).all() for y in outputs) and torch.isfinite(x.grad).all()
    return finite and all(torch.isfinite(p.grad).all() for p in params.values())


ISSUE_CASES = [
    ("ParametricEqualizer", {"num_filters": 3}, {"log_gain": 5.0}),
    ("ParametricEqualizer", {"num_filters": 3}, {"log_gain": 50.0}),
    ("GraphicEqualizer", {"sr": 8000}, {"log_gains": 25.0}),
    ("GraphicEqualizer", {"sr": 8000}, {"log_gains": -100.0}),
    ("ChebyshevDistortion", {}, {"log_pre_gain": 10.0}),
    ("ChebyshevDistortion", {}, {"log_pre_gain": 100.0}),
    ("PowerDistortion", {}, {"log_pre_gain": 10.0}),
    ("PowerDistortion", {}, {"log_pre_gain": 100.0}),
    ("ApproxNoiseGate", {"freq_sample_n": 32}, {"log_knee": 12.6}),
    ("ApproxNoiseGate", {"freq_sample_n": 32}, {"log_knee": 50.0}),
    ("Compressor", {"iir_len": 32}, {"log_knee": -50.0}),
    ("Compressor", {"iir_len": 32}, {"log_knee": -100.0}),
    ("NoiseGate", {"iir_len": 32}, {"log_knee": -50.0}),
    ("Expander", {"iir_len": 32}, {"log_knee": -50.0}),
    ("PiecewiseTanhDistortion", {}, {"log_hardness": -50.0}),
    ("PiecewiseTanhDistortion", {}, {"log_hardness": -100.0}),
    ("LinkwitzRileyCrossover", {"num_bands": 3, "sample_rate": 8000}, {"z_frequency": -100.0}),
    (
        "MultibandCompressor",
        {"num_bands": 3, "sample_rate": 8000, "iir_len": 32},
        {"z_frequency": -100.0},
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "values"), ISSUE_CASES)
def test_fuzzed_parameter_values_give_finite_outputs_and_gradients(name, kwargs, values):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _grads_finite(name, kwargs, values)


@pytest.mark.parametrize("log_time", [-100.0, -50.0, 50.0, 100.0])
@pytest.mark.parametrize("key", ["log_attack", "log_decay", "log_release", "log_gate"])
def test_adsr_gradients_are_finite_at_extreme_times(key, log_time):
    adsr = registry.get_processor_class("ADSREnvelope")(sample_rate=8000)
    params = {k: torch.full((1, 1), -3.0) for k in adsr.parameter_size()}
    params[key] = torch.full((1, 1), log_time)
    for value in params.values():
        value.requires_grad_()
    y = adsr(num_samples=256, **params)
    y.sum().backward()
    assert torch.isfinite(y).all() and ((y >= 0) & (y <= 1)).all()
    assert all(torch.isfinite(v.grad).all() for v in params.values())


def test_adsr_with_an_instant_attack_is_the_analytic_envelope():
    adsr = registry.get_processor_class("ADSREnvelope")(sample_rate=1000)
    sustain, decay = 0.5, 0.1
    params = {
        "log_attack": torch.tensor([[-60.0]]),  # instant (held at 2 ns)
        "log_decay": torch.tensor([[math.log(decay)]]),
        "z_sustain": torch.logit(torch.tensor([[sustain]])),
        "log_release": torch.tensor([[math.log(0.1)]]),
        "log_gate": torch.tensor([[math.log(10.0)]]),
    }
    y = adsr(num_samples=200, **params)[0, 0].double()
    t = torch.arange(200, dtype=torch.float64) / 1000
    expected = 1 - (1 - sustain) * torch.clamp(t / decay, max=1)
    expected[0] = 0.0  # t = 0 < attack: the start of the (2 ns) ramp
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
