import math
import warnings

import numpy as np
import pytest
import torch

from grafx.errors import AudioError, ConfigError, ParameterError
from grafx.processors import ApproxCompressor, ApproxNoiseGate, Compressor, NoiseGate
from grafx.processors.functional.dynamics import (
    knee_from_log_knee,
    knee_rectifier,
    log_knee_from_knee,
    log_ratio_from_ratio,
    log_threshold_from_threshold,
    ratio_from_log_ratio,
    smooth,
    threshold_from_log_threshold,
)

B = 3
KNEES = ["hard", "quadratic", "exponential"]


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ---- independent numpy reference: branchy formulas as the reference document states them ----


def ref_curve(kind, G, T, R, W, knee):
    """Output log-energy minus input log-energy, written branch by branch."""
    if kind == "compressor":
        if knee == "hard":
            out = np.minimum(G, T + (G - T) / R)
        elif knee == "quadratic":
            mid = G + (1 / R - 1) * (G - T + W / 2) ** 2 / (2 * W)
            out = np.where(G < T - W / 2, G, np.where(G > T + W / 2, T + (G - T) / R, mid))
        else:
            return (1 / R - 1) * np.logaddexp(0, W * (G - T)) / W
    else:
        if knee == "hard":
            out = np.minimum(G, T + R * (G - T))
        elif knee == "quadratic":
            mid = G + (1 - R) * (G - T - W / 2) ** 2 / (2 * W)
            out = np.where(G > T + W / 2, G, np.where(G < T - W / 2, T + R * (G - T), mid))
        else:
            return (1 - R) * np.logaddexp(0, W * (T - G)) / W
    return out - G


def ref_one_pole(x, alpha):
    y, state = np.empty_like(x), 0.0
    for n in range(len(x)):
        state = alpha * state + (1 - alpha) * x[n]
        y[n] = state
    return y


def ref_ballistics(x, fall, rise, state):
    y = np.empty_like(x)
    for n in range(len(x)):
        c = fall if x[n] < state else rise
        state = (1 - c) * state + c * x[n]
        y[n] = state
    return y


def ref_smooth(sig, kind, z, initial):
    if kind is None:
        return sig
    coeff = 1 / (1 + np.exp(-z))
    if kind == "iir":
        return ref_one_pole(sig, coeff[0])
    return ref_ballistics(sig, coeff[0], coeff[1], initial)


def reference_dynamics(kind, x, p, energy_smoother, gain_smoother, in_log, knee, legacy_gate=False):
    """Sample-by-sample numpy model of one node: x (C, L), p dict of 1-D numpy arrays."""
    e = (x**2).mean(0)
    e = ref_smooth(e, energy_smoother, p.get("z_alpha_pre"), 0.0)
    T = p["log_threshold"][0] - 6
    G = np.log(e + np.exp(T) * 1e-12)  # the floor sits 120 dB below the threshold
    R = np.exp(p["log_ratio"][0]) if legacy_gate else 1 + np.exp(p["log_ratio"][0])
    W = np.exp(p["log_knee"][0]) if knee != "hard" else None
    half = ref_curve(kind, G, T, R, W, knee) / 2  # energy gain -> amplitude gain
    if in_log:
        gain = np.exp(ref_smooth(half, gain_smoother, p.get("z_alpha_post"), 0.0))
    else:
        gain = ref_smooth(np.exp(half), gain_smoother, p.get("z_alpha_post"), 1.0)
    return x * gain


CONFIGS = [
    # (class, energy_smoother, gain_smoother, gain_smooth_in_log, knee)
    (Compressor, "iir", None, False, "quadratic"),
    (Compressor, "ballistics", "ballistics", False, "hard"),
    (Compressor, None, "iir", True, "exponential"),
    (Compressor, "ballistics", "iir", False, "exponential"),
    (NoiseGate, "iir", "ballistics", True, "quadratic"),
    (NoiseGate, "ballistics", None, False, "hard"),
    (NoiseGate, None, "iir", False, "exponential"),
]
IDS = [f"{c[0].__name__}-{c[1]}-{c[2]}-{'log' if c[3] else 'lin'}-{c[4]}" for c in CONFIGS]


def make(config, **kwargs):
    cls, es, gs, in_log, knee = config
    return cls(es, gs, in_log, knee, **kwargs)


def params_for(processor, seed=0):
    """Parameters that put the threshold inside the level range of 0.3 * randn signals."""
    base = {
        "log_threshold": 3.5,
        "log_ratio": 0.7,
        "log_knee": 0.3,
        "z_alpha_pre": [-1.0, 1.5],
        "z_alpha_post": [0.5, -0.5],
    }
    out = {}
    for key, size in processor.parameter_size().items():
        value = torch.tensor(
            base[key][:size] if size > 1 else [base[key]][:1] * 1, dtype=torch.float64
        )
        if key in ("z_alpha_pre", "z_alpha_post") and size == 1:
            value = torch.tensor([base[key][0]], dtype=torch.float64)
        noise = 0.3 * torch.randn(B, size, dtype=torch.float64, generator=gen(seed))
        out[key] = value + noise
        seed += 1
    return out


def signal(length, channels=2, seed=0):
    x = torch.randn(B, channels, length, dtype=torch.float64, generator=gen(seed))
    envelope = torch.linspace(0.05, 1.0, length, dtype=torch.float64)  # crosses the threshold
    return 0.3 * x * envelope


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_matches_sample_by_sample_numpy(config):
    processor = make(config)
    kind = "compressor" if config[0] is Compressor else "gate"
    params = params_for(processor)
    x = signal(600)
    y = processor(x, **params)
    for b in range(B):
        p = {k: v[b].numpy() for k, v in params.items()}
        want = reference_dynamics(kind, x[b].numpy(), p, *config[1:])
        # float64 throughout; FFT convolution and summation order give ~1e-15 differences
        np.testing.assert_allclose(y[b].numpy(), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("knee", KNEES)
@pytest.mark.parametrize("cls", [Compressor, NoiseGate])
@pytest.mark.parametrize(
    ("energy_smoother", "gain_smoother"),
    [(None, None), ("iir", "ballistics"), ("ballistics", "iir")],
)
def test_static_curve_after_settling(cls, knee, energy_smoother, gain_smoother):
    """Constant-level stereo input: the settled output level follows the curve formula."""
    processor = cls(energy_smoother, gain_smoother, knee=knee)
    levels_db = torch.linspace(-60, 0, 13, dtype=torch.float64)
    amp = 10 ** (levels_db / 20)
    n = amp.numel()
    # left and right at different constant levels: the detector uses their mean energy
    x = torch.stack([amp, 0.5 * amp], dim=1)[:, :, None].expand(n, 2, 3000).clone()
    T, R, W = -4.0, 4.0, 2.0
    params = {
        "log_threshold": torch.full((n, 1), float(log_threshold_from_threshold(torch.tensor(T)))),
        "log_ratio": torch.full((n, 1), float(log_ratio_from_ratio(torch.tensor(R)))),
        "log_knee": torch.full((n, 1), math.log(W)),
        "z_alpha_pre": torch.full((n, 2 if energy_smoother == "ballistics" else 1), -1.0),
        "z_alpha_post": torch.full((n, 2 if gain_smoother == "ballistics" else 1), -1.0),
    }
    params = {k: v.double() for k, v in params.items() if k in processor.parameter_size()}
    y = processor(x, **params)[..., -1]  # settled
    G = torch.log((x[..., -1] ** 2).mean(1)).numpy()  # no floor: the analytic curve
    kind = "compressor" if cls is Compressor else "gate"
    delta = ref_curve(kind, G, T, R, W, knee)
    measured = torch.log(y.square().sum(1) / x[..., -1].square().sum(1)).numpy()
    np.testing.assert_allclose(measured, delta, atol=1e-6)
    if knee == "hard":  # slope 1/R above (compressor) / R below (gate) the threshold, in dB
        g_out = G + measured
        above, below = G > T + 1e-9, G < T - 1e-9
        if kind == "compressor":
            np.testing.assert_allclose(np.diff(g_out[above]) / np.diff(G[above]), 1 / R, rtol=1e-6)
            np.testing.assert_allclose(g_out[below], G[below], atol=1e-12)
        else:
            np.testing.assert_allclose(np.diff(g_out[below]) / np.diff(G[below]), R, rtol=1e-6)
            np.testing.assert_allclose(g_out[above], G[above], atol=1e-12)


def settled_levels_db(processor, levels_db, threshold_db, ratio):
    """Output level (dB) of constant inputs at ``levels_db`` after a hard-knee static curve."""
    amp = 10 ** (torch.tensor(levels_db, dtype=torch.float64) / 20)
    x = amp[:, None, None].expand(len(levels_db), 1, 64).clone()
    threshold = torch.tensor(threshold_db * math.log(10) / 10, dtype=torch.float64)  # nats
    n = len(levels_db)
    params = {
        "log_threshold": log_threshold_from_threshold(threshold).expand(n, 1),
        "log_ratio": log_ratio_from_ratio(torch.tensor(ratio, dtype=torch.float64)).expand(n, 1),
    }
    return (20 * torch.log10(processor(x, **params)[:, 0, -1])).numpy()


def test_energy_floor_sits_far_below_the_threshold():
    """Audit: the floor was 1e-5 (-50 dB). A gate at -60 dB did nothing; a compressor at a
    -50 dB threshold had slope 0.405 instead of 1/R = 0.25 just above it. Reference: the
    analytic hard-knee curves, out = T + (in - T) / R above T, out = T + R (in - T) below."""
    compressor = Compressor(None, None, knee="hard")
    levels = [-49.0, -48.0, -45.0, -40.0]
    out = settled_levels_db(compressor, levels, threshold_db=-50.0, ratio=4.0)
    np.testing.assert_allclose(out, [-50 + (v + 50) / 4 for v in levels], atol=1e-9)
    slope = np.diff(out) / np.diff(levels)
    np.testing.assert_allclose(slope, 0.25, atol=1e-9)  # was 0.405 just above the threshold
    gate = NoiseGate(None, None, knee="hard")
    levels = [-100.0, -80.0, -70.0, -61.0, -50.0]
    out = settled_levels_db(gate, levels, threshold_db=-60.0, ratio=2.0)
    expected = [-60 + 2 * (v + 60) if v < -60 else v for v in levels]
    np.testing.assert_allclose(out, expected, atol=1e-9)  # the gate used to pass all unchanged
    # Digital silence stays finite (and silent) whatever the threshold, in float32 too.
    for dtype in (torch.float32, torch.float64):
        silence = torch.zeros(2, 1, 32, dtype=dtype)
        deep = torch.tensor([[-300.0], [0.0]], dtype=dtype)
        for proc in (compressor, gate):
            y = proc(silence, log_threshold=deep, log_ratio=torch.zeros(2, 1, dtype=dtype))
            assert torch.equal(y, silence)


def test_original_limiter_bug_is_fixed():
    """Original: amplitudes 0.1, 0.316, 1 all came out at 0.0497 (T = -6, R = 2, hard)."""
    c = Compressor(None, None, knee="hard")
    x = torch.tensor([0.1, 0.316, 1.0], dtype=torch.float64)[:, None, None].expand(3, 1, 16)
    z = torch.zeros(3, 1, dtype=torch.float64)
    out_db = 20 * torch.log10(c(x, log_threshold=z, log_ratio=z)[:, 0, -1])
    in_db = 20 * torch.log10(x[:, 0, -1])
    slope = torch.diff(out_db) / torch.diff(in_db)
    torch.testing.assert_close(slope, torch.full_like(slope, 0.5), atol=2e-3, rtol=0)


def test_log_domain_iir_gain_smoothing_compresses():
    x = 0.9 * torch.ones(1, 2, 2000, dtype=torch.float64)
    z = torch.zeros(1, 1, dtype=torch.float64)
    params = {"log_threshold": z, "log_ratio": z + 2, "log_knee": z, "z_alpha_post": z}
    y = Compressor(None, "iir", gain_smooth_in_log=True)(x, **params)
    assert y[0, 0, -1] < 0.5 * x[0, 0, -1]  # the original's ReLU made this exactly 0.9


def test_activations_and_inverses():
    v = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(log_ratio_from_ratio(ratio_from_log_ratio(v)), v)
    torch.testing.assert_close(log_knee_from_knee(knee_from_log_knee(v)), v)
    torch.testing.assert_close(log_threshold_from_threshold(threshold_from_log_threshold(v)), v)
    assert ratio_from_log_ratio(torch.tensor(0.0)) == 2


@pytest.mark.parametrize("config", CONFIGS[:3], ids=IDS[:3])
def test_batched_dtype_input_mono(config):
    processor = make(config)
    params = params_for(processor)
    x = signal(400)
    x0 = x.clone()
    y = processor(x, **params)
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    items = [{k: v[i : i + 1] for k, v in params.items()} for i in range(B)]
    one_by_one = torch.cat([processor(x[i : i + 1], **p) for i, p in enumerate(items)])
    torch.testing.assert_close(y, one_by_one)
    assert y.dtype == torch.float64
    y32 = processor(x.float(), **{k: v.float() for k, v in params.items()})
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=1e-3, atol=1e-4)
    # stereo-linked: identical channels behave like the mono signal
    mono = x[:, :1]
    torch.testing.assert_close(
        processor(mono.expand(-1, 2, -1), **params)[:, :1], processor(mono, **params)
    )


def test_parameter_sizes():
    assert Compressor().parameter_size() == {
        "log_threshold": 1,
        "log_ratio": 1,
        "log_knee": 1,
        "z_alpha_pre": 1,
    }
    assert NoiseGate("ballistics", "ballistics", knee="hard").parameter_size() == {
        "log_threshold": 1,
        "log_ratio": 1,
        "z_alpha_pre": 2,
        "z_alpha_post": 2,
    }
    assert Compressor(None, "iir").parameter_size()["z_alpha_post"] == 1
    legacy = ["log_knee", "log_ratio", "log_threshold", "z_alpha"]  # the seed page's order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert list(ApproxCompressor().parameter_size()) == legacy
        assert list(ApproxNoiseGate().parameter_size()) == legacy


def test_errors():
    with pytest.raises(ConfigError, match="Compressor.*knee"):
        Compressor(knee="soft")
    with pytest.raises(ConfigError, match="NoiseGate.*energy_smoother"):
        NoiseGate(energy_smoother="rms")
    c = Compressor()
    good = {k: torch.zeros(2, v) for k, v in c.parameter_size().items()}
    with pytest.raises(ParameterError, match="Compressor.*log_ratio"):
        c(torch.zeros(2, 2, 8), **{**good, "log_ratio": torch.zeros(2, 2)})
    with pytest.raises(ParameterError, match="Compressor.*log_knee"):
        c(torch.zeros(2, 2, 8), **{**good, "log_knee": None})
    with pytest.raises(AudioError, match="Compressor"):
        c(torch.zeros(2, 8), **good)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gate = ApproxNoiseGate()
    with pytest.raises(ParameterError, match="ApproxNoiseGate.*z_alpha"):
        gate(torch.zeros(2, 1, 8), *[torch.zeros(2, 2)] + [torch.zeros(2, 1)] * 3)


def test_legacy_compressor_equals_compressor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = ApproxCompressor(iir_len=1000)
    new = Compressor("iir", None, knee="quadratic", iir_len=1000)
    x = signal(1500)
    p = params_for(new)
    y_new = new(x, **p)
    y_old = legacy(x, p["z_alpha_pre"], p["log_threshold"], p["log_ratio"], p["log_knee"])
    torch.testing.assert_close(y_old, y_new, rtol=0, atol=0)


def test_legacy_gate_ratio_is_exp():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = ApproxNoiseGate(freq_sample_n=500)
    x = signal(800)
    z = torch.zeros(B, 1, dtype=torch.float64)
    kwargs = {"z_alpha": z, "log_threshold": z + 4, "log_knee": z}
    torch.testing.assert_close(legacy(x, log_ratio=z, **kwargs), x)  # R = exp(0) = 1: identity
    r = torch.full((B, 1), 1.3, dtype=torch.float64)
    gate = NoiseGate("iir", None, knee="quadratic", iir_len=500)
    want = gate(
        x, log_ratio=torch.log(torch.exp(r) - 1), z_alpha_pre=z, log_threshold=z + 4, log_knee=z
    )
    torch.testing.assert_close(legacy(x, log_ratio=r, **kwargs), want)


def test_deprecation_warns_once():
    import grafx.processors.core.deprecation as deprecation

    deprecation._WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ApproxCompressor()
        ApproxCompressor()
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert len(messages) == 1 and "Compressor" in messages[0]


def test_soft_knees_and_smoothers_name_what_they_miss():
    v = torch.linspace(-1, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(knee_rectifier(v, None, "hard"), torch.relu(v))
    for knee in ("quadratic", "exponential"):
        with pytest.raises(ParameterError, match=f"knee '{knee}' needs a knee width"):
            knee_rectifier(v, None, knee)
    signals = torch.rand(2, 16, dtype=torch.float64)
    assert smooth(signals, None, None, 8, 0.0) is signals
    for smoother in ("iir", "ballistics"):
        with pytest.raises(ParameterError, match=f"smoother '{smoother}' needs its coefficients"):
            smooth(signals, smoother, None, 8, 0.0)


@pytest.mark.parametrize("cls, kind", [(Compressor, "compressor"), (NoiseGate, "gate")])
@pytest.mark.parametrize(
    "method, knee",
    [("gain_hard_knee", "hard"), ("gain_quad_knee", "quadratic"), ("gain_exp_knee", "exponential")],
)
def test_static_knee_methods_match_the_curves(cls, kind, method, knee):
    # The original's static methods, called as its knee test does: levels (400,), threshold
    # and ratio (1,), knee 0-d; the threshold is taken as given (no 6-nat offset).
    levels = torch.linspace(-60.0, 20.0, 400, dtype=torch.float64)
    T, log_ratio, log_knee = torch.tensor([-10.0]), torch.tensor([math.log(3.0)]), torch.tensor(2.0)
    gain = getattr(cls, method)(levels, T, log_ratio, log_knee)
    expected = ref_curve(kind, levels.numpy(), -10.0, 4.0, math.exp(2.0), knee)
    assert gain.shape == (400,)
    np.testing.assert_allclose(gain.numpy(), expected, atol=1e-9)
    # the same on an instance, and the hard knee without a knee argument
    assert torch.equal(getattr(cls(knee=knee), method)(levels, T, log_ratio, log_knee), gain)
    if knee == "hard":
        assert torch.equal(cls.gain_hard_knee(levels, T, log_ratio), gain)
    else:
        with pytest.raises(ParameterError, match="log_knee"):
            getattr(cls, method)(levels, T, log_ratio, None)


def test_legacy_gate_static_method_uses_its_exp_ratio():
    levels = torch.linspace(-40.0, 0.0, 50, dtype=torch.float64)
    gain = ApproxNoiseGate.gain_hard_knee(
        levels, torch.tensor([-20.0]), torch.tensor([math.log(3.0)])
    )
    np.testing.assert_allclose(
        gain.numpy(), ref_curve("gate", levels.numpy(), -20.0, 3.0, 1.0, "hard")
    )


# ---- detectors: a peak envelope and per-channel (unlinked) detection, as JUCE's compressor ----

DETECTOR_CONFIGS = [
    # (class, energy_smoother, knee, detector, linked)
    (Compressor, "ballistics", "hard", "peak", False),
    (Compressor, "ballistics", "quadratic", "peak", True),
    (Compressor, "iir", "quadratic", "energy", False),
    (NoiseGate, "ballistics", "exponential", "peak", False),
]
DETECTOR_IDS = [f"{c[0].__name__}-{c[1]}-{c[2]}-{c[3]}-{c[4]}" for c in DETECTOR_CONFIGS]


def make_detector(config):
    cls, es, knee, detector, linked = config
    return cls(es, None, knee=knee, detector=detector, linked=linked, iir_len=2048)


def reference_detector(kind, x, p, es, knee, detector, linked):
    """Sample loop: each channel alone when unlinked; the peak detector smooths |x| (the
    channels' largest) and squares it."""
    if not linked:
        return np.concatenate(
            [reference_detector(kind, x[c : c + 1], p, es, knee, detector, True) for c in range(2)]
        )
    if detector == "peak":
        e = ref_smooth(np.abs(x).max(0), es, p["z_alpha_pre"], 0.0) ** 2
    else:
        e = ref_smooth((x**2).mean(0), es, p["z_alpha_pre"], 0.0)
    T = p["log_threshold"][0] - 6
    G = np.log(e + np.exp(T) * 1e-12)
    R = 1 + np.exp(p["log_ratio"][0])
    W = np.exp(p["log_knee"][0]) if knee != "hard" else None
    return x * np.exp(ref_curve(kind, G, T, R, W, knee) / 2)


@pytest.mark.parametrize("config", DETECTOR_CONFIGS, ids=DETECTOR_IDS)
def test_detectors_match_sample_by_sample_numpy(config):
    processor = make_detector(config)
    kind = "compressor" if config[0] is Compressor else "gate"
    params = params_for(processor)
    x = signal(600)
    x[:, 1] *= 0.3  # channels at different levels: linking matters
    y = processor(x, **params)
    for b in range(B):
        p = {k: v[b].numpy() for k, v in params.items()}
        want = reference_detector(kind, x[b].numpy(), p, *config[1:])
        np.testing.assert_allclose(y[b].numpy(), want, rtol=1e-9, atol=1e-12)


def juce_parameters(processor, threshold_db, ratio, attack_ms, release_ms, sample_rate):
    p = processor.settings_to_parameters({"threshold_db": threshold_db, "ratio": ratio})
    # the weight of the new sample is 1 - JUCE's coefficient; index 0 release, 1 attack
    weights = [
        1 - math.exp(-2 * math.pi * 1000 / (sample_rate * t)) for t in (release_ms, attack_ms)
    ]
    z = torch.tensor([[math.log(w / (1 - w)) for w in weights]], dtype=torch.float64)
    return {**{k: v[None] for k, v in p.items()}, "z_alpha_pre": z}


def test_peak_unlinked_hard_compressor_is_juces(juce_compressor):
    rate = 8000.0
    processor = Compressor(
        "ballistics", knee="hard", detector="peak", linked=False, sample_rate=rate
    )
    x = signal(3000)[:1]
    x[:, 1] *= 0.2
    settings = (-22.0, 5.0, 3.0, 60.0)
    y = processor(x, **juce_parameters(processor, *settings, rate))
    want = juce_compressor(x[0].numpy(), rate, *settings)
    assert np.abs(want - x[0].numpy()).max() > 0.05  # it compresses
    np.testing.assert_allclose(y[0].numpy(), want, rtol=1e-9, atol=1e-12)


def test_peak_unlinked_hard_compressor_matches_pedalboard():
    pedalboard = pytest.importorskip("pedalboard")
    rate = 16000.0
    processor = Compressor(
        "ballistics", knee="hard", detector="peak", linked=False, sample_rate=rate
    )
    x = signal(8000, seed=4)[:1].float()
    x[:, 1] *= 0.2
    settings = (-18.0, 4.0, 5.0, 100.0)
    plugin = pedalboard.Compressor(
        threshold_db=settings[0], ratio=settings[1], attack_ms=settings[2], release_ms=settings[3]
    )
    want = plugin(x[0].numpy(), rate)
    y = processor(x.double(), **juce_parameters(processor, *settings, rate))
    np.testing.assert_allclose(y[0].numpy(), want, atol=1e-5)


#: Every configuration above and every detector configuration, as (id, constructor) pairs.
BUILDERS = [(i, lambda c=c: make(c)) for i, c in zip(IDS, CONFIGS, strict=True)] + [
    (i, lambda c=c: make_detector(c)) for i, c in zip(DETECTOR_IDS, DETECTOR_CONFIGS, strict=True)
]


@pytest.mark.parametrize("build", [b for _, b in BUILDERS], ids=[i for i, _ in BUILDERS])
def test_gradcheck_float64(build):
    processor = build()
    params = params_for(processor, seed=5)
    x = signal(16, seed=3)
    names = list(params)

    def run(x, *values):
        return processor(x, **dict(zip(names, values, strict=True)))

    inputs = (x.requires_grad_(), *(p.requires_grad_() for p in params.values()))
    # fast mode compares random projections of the numerical and analytical Jacobians (cheaper)
    assert torch.autograd.gradcheck(run, inputs, fast_mode=True)


@pytest.mark.parametrize("build", [b for _, b in BUILDERS], ids=[i for i, _ in BUILDERS])
@pytest.mark.parametrize("fill", [-20.0, 20.0])
@pytest.mark.parametrize("source", ["silence", "full_scale", "noise"])
def test_extremes_finite(build, fill, source):
    processor = build()
    x = {
        "silence": torch.zeros(B, 2, 256, dtype=torch.float64),
        "full_scale": torch.sign(torch.randn(B, 2, 256, dtype=torch.float64, generator=gen(0))),
        "noise": torch.randn(B, 2, 256, dtype=torch.float64, generator=gen(0)),
    }[source].requires_grad_()
    params = {
        k: torch.full((B, v), fill, dtype=torch.float64, requires_grad=True)
        for k, v in processor.parameter_size().items()
    }
    y = processor(x, **params)
    (y * torch.randn(y.shape, dtype=y.dtype, generator=gen(1))).sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    for key, p in params.items():
        assert torch.isfinite(p.grad).all(), key


def test_unlinked_is_each_channel_alone_and_automates():
    processor = Compressor("ballistics", knee="hard", linked=False)
    params = params_for(processor)
    x = signal(500)
    y = processor(x, **params)
    linked = Compressor("ballistics", knee="hard")
    for c in range(2):
        torch.testing.assert_close(y[:, c : c + 1], linked(x[:, c : c + 1], **params))
    # an automated threshold (B, 1, L) follows each channel too
    curve = params["log_threshold"][:, :, None].expand(-1, 1, 500).clone()
    torch.testing.assert_close(processor(x, **{**params, "log_threshold": curve}), y)


def test_detector_errors_and_spec():
    with pytest.raises(ConfigError, match="Compressor.*detector 'rms'"):
        Compressor(detector="rms")
    with pytest.raises(ConfigError, match="NoiseGate: linked must be True or False"):
        NoiseGate(linked="no")
    c = Compressor("ballistics", knee="hard", detector="peak", linked=False)
    assert c.constructor_arguments == {
        "energy_smoother": "ballistics",
        "knee": "hard",
        "detector": "peak",
        "linked": False,
    }


def test_ballistics_time_settings_round_trip():
    rate = 30000.0
    processor = Compressor("ballistics", knee="hard", sample_rate=rate)
    values = processor.settings_to_parameters({"attack_ms": 2.0, "release_ms": 40.0})
    # the weight of the new sample is 1 - exp(-1 / (t fs)): index 0 release, 1 attack
    weights = torch.sigmoid(values["z_alpha_pre"])
    want = [1 - math.exp(-1000.0 / (t * rate)) for t in (40.0, 2.0)]
    np.testing.assert_allclose(weights.numpy(), want, rtol=1e-12)
    back = processor.parameters_to_settings(values)
    assert back["attack_ms"] == pytest.approx(2.0) and back["release_ms"] == pytest.approx(40.0)
    times = processor.time_constants_ms(values)["energy_ms"]  # [release, attack]
    assert times == pytest.approx([40.0, 2.0])
    assert "z_alpha_pre" not in processor.settings_to_parameters({})  # not given: untouched
    assert "attack_ms" not in Compressor().parameters_to_settings(
        Compressor().settings_to_parameters({})
    )
    with pytest.raises(ParameterError, match="attack_ms and release_ms go together"):
        processor.settings_to_parameters({"attack_ms": 2.0})
    with pytest.raises(ParameterError, match="must be positive"):
        processor.settings_to_parameters({"attack_ms": 2.0, "release_ms": -1.0})
    with pytest.raises(ParameterError, match="unknown setting"):
        Compressor().settings_to_parameters({"attack_ms": 2.0, "release_ms": 40.0})
