import math
import warnings

import numpy as np
import pytest
import torch

import grafx.processors.core.deprecation
from grafx.errors import AudioError, ConfigError
from grafx.processors.core.delay import (
    SurrogateDelay,
    delay_z_from_delay,
    radii_loss,
    surrogate_delay_ir,
)
from grafx.processors.delay import MultitapDelay, StereoMultitapDelay

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {
    "stereo": lambda **kw: MultitapDelay(
        segment_len=16, num_segments=2, zp_filter_bins=4, processor_channel="stereo", **kw
    ),
    "midside": lambda **kw: MultitapDelay(
        segment_len=16, num_segments=2, zp_filter_bins=4, processor_channel="midside", **kw
    ),
    "mono_two_taps": lambda **kw: MultitapDelay(
        segment_len=16,
        num_segments=2,
        num_delay_per_segment=2,
        zp_filter_per_tap=False,
        processor_channel="mono",
        **kw,
    ),
}


def make_params(processor, batch=3, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(batch, *v, generator=gen, dtype=dtype)
        for k, v in processor.parameter_size().items()
    }


def make_input(batch=3, channels=2, length=80, dtype=torch.float64, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, length, generator=gen, dtype=dtype)


def delay_params(delays, segment_len, radius=0.999, dtype=torch.float64):
    z = delay_z_from_delay(torch.tensor(delays, dtype=dtype), segment_len, radius)
    return torch.stack([z.real, z.imag], -1)[None]


@pytest.fixture(params=sorted(SMALL))
def processor(request):
    return SMALL[request.param]()


# ------------------------------------------------------------------------- surrogate core


def numpy_surrogate(z, n):
    """The docstring's closed form: h[n] = (1/N)(1 + 2 sum r^k cos(k phi_n) + Nyquist term)."""
    w = z * np.tanh(abs(z)) / (abs(z) + 1e-7) + 1e-7
    r, theta = abs(w), np.angle(w)
    out = np.zeros(n)
    for i in range(n):
        phi = theta + 2 * np.pi * i / n
        total = 1.0
        for k in range(1, (n + 1) // 2):
            total += 2 * r**k * np.cos(k * phi)
        if n % 2 == 0:
            total += r ** (n // 2) * np.cos(n // 2 * phi)
        out[i] = total / n
    return out


@pytest.mark.parametrize("n", [16, 17])
def test_surrogate_ir_matches_closed_form(n):
    rng = np.random.default_rng(n)
    zs = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    irs = surrogate_delay_ir(torch.from_numpy(zs), n)
    assert irs.shape == (4, n) and irs.dtype == torch.float64
    for z, ir in zip(zs, irs, strict=True):
        np.testing.assert_allclose(ir.numpy(), numpy_surrogate(z, n), atol=1e-12)


@pytest.mark.parametrize("n", [32, 33])
def test_surrogate_peaks_at_the_delay_within_documented_error(n):
    delays = torch.tensor([0.0, 3.0, n - 1.0, 17.0], dtype=torch.float64)
    radius = 0.9999
    irs = surrogate_delay_ir(delay_z_from_delay(delays, n, radius), n)
    assert irs.argmax(-1).tolist() == delays.long().tolist()
    # Peak below 1 by about (1 - r) N / 4.
    peak_error = 1 - irs.max(-1).values
    assert torch.all(peak_error > 0)
    assert torch.all(peak_error < 2 * (1 - radius) * n / 4)


def test_straight_through_is_an_exact_one_hot_with_soft_gradients():
    z = delay_z_from_delay(torch.tensor([5.0, 9.0], dtype=torch.float64), 20, 0.9)
    z.requires_grad_()
    target = torch.randn(2, 20, dtype=torch.float64)
    hard, _ = SurrogateDelay(20, straight_through=True, normalize_gradients=False)(z)
    expected = torch.zeros(2, 20, dtype=torch.float64)
    expected[0, 5] = expected[1, 9] = 1
    torch.testing.assert_close(hard, expected, rtol=0, atol=0)
    (hard * target).sum().backward()
    z_soft = z.detach().clone().requires_grad_()
    (surrogate_delay_ir(z_soft, 20) * target).sum().backward()
    torch.testing.assert_close(z.grad, z_soft.grad)


def test_normalized_gradients_have_unit_modulus():
    gen = torch.Generator().manual_seed(0)
    z0 = 0.3 * torch.randn(6, dtype=torch.complex128, generator=gen)
    weights = torch.randn(6, 24, dtype=torch.float64, generator=gen)
    grads = {}
    for normalize in (False, True):
        z = z0.clone().requires_grad_()
        irs, _ = SurrogateDelay(24, straight_through=False, normalize_gradients=normalize)(z)
        (irs * weights).sum().backward()
        grads[normalize] = z.grad
    raw = grads[False]
    # Same direction as the raw gradient, modulus |g| / (|g| + 1e-7): one up to that guard.
    torch.testing.assert_close(grads[True], raw / (raw.abs() + 1e-7))
    assert torch.all((grads[True].abs() - 1).abs() < 1e-7 / raw.abs())


def test_radii_loss_flag_is_honoured():
    z = torch.randn(3, 4, dtype=torch.complex64)
    _, loss = SurrogateDelay(10, radii_loss=True)(z)
    torch.testing.assert_close(loss, (1 - torch.tanh(z.abs())).square().sum())
    assert SurrogateDelay(10, radii_loss=False)(z)[1] is None
    assert radii_loss(z).shape == ()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_surrogate_real_dtype_follows_complex_dtype(dtype):
    irs, _ = SurrogateDelay(12)(torch.randn(2, dtype=dtype))
    assert irs.dtype == torch.empty(0, dtype=dtype).real.dtype


def test_surrogate_finite_at_zero_and_huge_z():
    z = torch.tensor([0j, 1e-30 + 0j, 50 + 50j], dtype=torch.complex128, requires_grad=True)
    irs, loss = SurrogateDelay(16, straight_through=False, normalize_gradients=False)(z)
    (irs.sum() + loss).backward()
    assert torch.isfinite(irs).all() and torch.isfinite(z.grad).all()


# ---------------------------------------------------------------------- multitap delay


def test_parameter_sizes():
    assert MultitapDelay().parameter_size() == {"delay_z": (40, 2), "log_fir_magnitude": (40, 20)}
    mono = MultitapDelay(num_segments=5, num_delay_per_segment=3, processor_channel="mono")
    assert mono.parameter_size() == {"delay_z": (15, 2), "log_fir_magnitude": (15, 20)}
    bare = MultitapDelay(zp_filter_per_tap=False, processor_channel="midside")
    assert bare.parameter_size() == {"delay_z": (40, 2)}


@pytest.mark.parametrize("zp_filter_per_tap", [False, True])
def test_impulse_appears_at_the_taps_with_equal_gains(zp_filter_per_tap):
    seg, segments = 50, 3
    proc = MultitapDelay(
        segment_len=seg,
        num_segments=segments,
        processor_channel="stereo",
        zp_filter_per_tap=zp_filter_per_tap,
        zp_filter_bins=6,
    )
    taps = [[10, 25, 40], [3, 0, 49]]  # per channel, per segment
    params = {"delay_z": delay_params(sum(taps, []), seg, radius=0.9)}
    if zp_filter_per_tap:
        params["log_fir_magnitude"] = torch.zeros(1, 6, 6, dtype=torch.float64)  # identity FIRs
    impulse = torch.zeros(1, 1, 200, dtype=torch.float64)
    impulse[..., 0] = 1
    y, extras = proc(impulse, **params)
    expected = torch.zeros(1, 2, 200, dtype=torch.float64)
    # Unit-energy normalisation of 3 one-hot taps per channel: each tap is 1/sqrt(3).
    for c, channel_taps in enumerate(taps):
        for s, d in enumerate(channel_taps):
            expected[0, c, s * seg + d] = 1 / math.sqrt(3)
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    assert set(extras) == {"radii_reg"}


def test_soft_taps_are_close_to_the_one_hot_within_the_surrogate_error():
    seg = 40
    proc = MultitapDelay(
        segment_len=seg,
        num_segments=2,
        processor_channel="mono",
        zp_filter_per_tap=False,
        straight_through=False,
    )
    params = {"delay_z": delay_params([7, 33], seg, radius=0.99999)}
    impulse = torch.zeros(1, 1, 100, dtype=torch.float64)
    impulse[..., 0] = 1
    y, _ = proc(impulse, **params)
    expected = torch.zeros(1, 1, 100, dtype=torch.float64)
    expected[0, 0, 7] = expected[0, 0, seg + 33] = 1 / math.sqrt(2)
    # Peak error about (1 - r) N / 4 = 1e-4; other samples smaller still.
    torch.testing.assert_close(y, expected, rtol=0, atol=2e-4)


def test_zero_phase_fir_colours_each_tap_in_place():
    seg, bins = 30, 4
    proc = MultitapDelay(
        segment_len=seg, num_segments=1, processor_channel="mono", zp_filter_bins=bins
    )
    delay_z = delay_params([12], seg)
    log_mag = torch.randn(1, 1, bins, dtype=torch.float64)
    ir, _ = proc.impulse_response(delay_z, log_mag)
    # The tap's IR is its FIR, centred on the delay: numpy design of the same FIR.
    magnitude = np.exp(log_mag[0, 0].numpy())
    fir = np.roll(np.fft.irfft(magnitude, n=2 * bins - 1), bins - 1) * np.hanning(2 * bins - 1)
    expected = np.zeros(seg)
    expected[12 - (bins - 1) : 12 + bins] = fir
    np.testing.assert_allclose(ir[0, 0].numpy(), expected, atol=1e-12)


def test_midside_really_processes_mid_and_side():
    seg = 20
    proc = MultitapDelay(
        segment_len=seg, num_segments=1, processor_channel="midside", zp_filter_per_tap=False
    )
    params = {"delay_z": delay_params([4, 9], seg)}  # mid tap at 4, side tap at 9
    x = torch.zeros(1, 2, 30, dtype=torch.float64)
    x[0, 0, 0] = 1  # impulse on the left only: mid = side = 1/2
    y, _ = proc(x, **params)
    g = 1.0  # unit-energy normalisation of one tap per channel
    expected = torch.zeros(1, 2, 30, dtype=torch.float64)
    expected[0, 0, 4] = expected[0, 0, 9] = g / 2
    expected[0, 1, 4], expected[0, 1, 9] = g / 2, -g / 2
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)


def test_mono_mode_filters_every_channel_alike():
    proc = SMALL["mono_two_taps"]()
    params = make_params(proc, batch=1)
    x = make_input(batch=1)
    y, _ = proc(x, **params)
    y0, _ = proc(x[:, :1], **params)
    y1, _ = proc(x[:, 1:], **params)
    assert y.shape == x.shape
    torch.testing.assert_close(y, torch.cat([y0, y1], 1))


def test_pre_delay_shifts_the_output():
    kw = {"segment_len": 16, "num_segments": 2, "zp_filter_bins": 4}
    plain, shifted = MultitapDelay(**kw), MultitapDelay(pre_delay=5, **kw)
    params = make_params(plain, batch=1)
    x = make_input(batch=1)
    y, _ = plain(x, **params)
    y_shifted, _ = shifted(x, **params)
    torch.testing.assert_close(y_shifted[..., 5:], y[..., :-5])
    # Silence up to FFT-convolution rounding (the IRs are longer than the direct-form limit).
    assert y_shifted[..., :5].abs().max() < 1e-12 * y.abs().max()


def test_radii_reg_matches_the_formula_and_can_be_off():
    proc = SMALL["stereo"]()
    params = make_params(proc)
    _, extras = proc(make_input(), **params)
    z = params["delay_z"]
    expected = (1 - torch.tanh(torch.sqrt(z[..., 0] ** 2 + z[..., 1] ** 2))).square().sum()
    torch.testing.assert_close(extras["radii_reg"], expected)
    _, none = SMALL["stereo"](radii_loss=False)(make_input(), **params)
    assert none == {}


def test_errors():
    with pytest.raises(ConfigError, match="sideways"):
        MultitapDelay(processor_channel="sideways")
    with pytest.raises(ConfigError, match="wobble"):
        MultitapDelay(wobble=True)
    proc = SMALL["midside"]()
    with pytest.raises(AudioError, match="stereo"):
        proc(make_input(channels=1), **make_params(proc))


def test_gradcheck_float64(processor):
    processor.delay.straight_through = False
    processor.delay.normalize_gradients = False
    x = make_input(batch=1, length=40).requires_grad_()
    params = make_params(processor, batch=1)
    names = list(params)

    def run(x, *values):
        y, extras = processor(x, **dict(zip(names, values, strict=True)))
        return y, extras["radii_reg"]

    assert torch.autograd.gradcheck(run, (x, *(p.requires_grad_() for p in params.values())))


@pytest.mark.parametrize("value", [-20.0, 20.0])
@pytest.mark.parametrize("signal", ["silence", "full_scale"])
def test_finite_at_extremes(processor, value, signal):
    x = make_input(batch=2)
    x = torch.zeros_like(x) if signal == "silence" else x.sign()
    x.requires_grad_()
    params = {
        k: torch.full_like(v, value).requires_grad_() for k, v in make_params(processor, 2).items()
    }
    y, extras = processor(x, **params)
    assert torch.isfinite(y).all()
    (y.square().sum() + y.sum() + extras["radii_reg"]).backward()
    assert torch.isfinite(x.grad).all()
    for p in params.values():
        assert torch.isfinite(p.grad).all()


def test_batched_equals_one_by_one(processor):
    x = make_input()
    params = make_params(processor)
    batched, extras = processor(x, **params)
    singles = [
        processor(x[i : i + 1], **{k: v[i : i + 1] for k, v in params.items()}) for i in range(3)
    ]
    torch.testing.assert_close(batched, torch.cat([s[0] for s in singles]))
    torch.testing.assert_close(extras["radii_reg"], sum(s[1]["radii_reg"] for s in singles))


def test_default_configuration_runs():
    proc = MultitapDelay()
    x = make_input(batch=1, length=2**14, dtype=torch.float32)
    y, extras = proc(x, **make_params(proc, batch=1, dtype=torch.float32))
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_stereo_multitap_delay_is_deprecated_and_equivalent(monkeypatch):
    monkeypatch.setattr(grafx.processors.core.deprecation, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = StereoMultitapDelay(segment_len=16, num_segments=2, zp_filter_bins=4)
        old_mono = StereoMultitapDelay(segment_len=16, num_segments=2, stereo=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(messages) == 1 and "MultitapDelay" in messages[0]
    assert old_mono.processor_channel == "mono"
    new = MultitapDelay(segment_len=16, num_segments=2, zp_filter_bins=4)
    assert old.parameter_size() == new.parameter_size()
    params = make_params(new)
    x = make_input()
    torch.testing.assert_close(old(x, **params)[0], new(x, **params)[0], rtol=0, atol=0)
