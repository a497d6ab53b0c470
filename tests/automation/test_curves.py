"""Curve interpolation against numpy and scipy, and the timeline's checks."""

import math

import numpy as np
import pytest
import torch
from scipy.interpolate import PchipInterpolator

from grafx.automation import Timeline, interpolate_curve
from grafx.automation.curves import curve_segments
from grafx.errors import ParameterError

KNOTS = [0.0, 0.3, 1.0, 1.1, 2.5, 3.0]


def _held(reference, times, values):
    """numpy/scipy's interpolant, holding the end values outside the knots."""
    out = np.where(times < KNOTS[0], values[0], reference)
    return np.where(times > KNOTS[-1], values[-1], out)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_matches_numpy_and_scipy(method):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 2, len(KNOTS)))
    times = np.linspace(-0.5, 3.5, 997)
    got = interpolate_curve(
        torch.from_numpy(values),
        torch.tensor(KNOTS, dtype=torch.float64),
        torch.from_numpy(times),
        method,
    ).numpy()
    for index in np.ndindex(values.shape[:-1]):
        v = values[index]
        if method == "linear":
            expected = np.interp(times, KNOTS, v)
        else:
            inside = PchipInterpolator(KNOTS, v, extrapolate=False)(times)
            expected = _held(np.nan_to_num(inside), times, v)
        np.testing.assert_allclose(got[index], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_monotone_data_gives_a_monotone_curve(method):
    values = torch.tensor([[0.0, 0.1, 5.0, 5.0, 6.0, 20.0]], dtype=torch.float64)
    times = torch.linspace(0, 3, 3001, dtype=torch.float64)
    curve = interpolate_curve(values, torch.tensor(KNOTS, dtype=torch.float64), times, method)
    assert bool((curve[0, 1:] >= curve[0, :-1]).all())  # no overshoot past a flat stretch


@pytest.mark.parametrize("method", ["linear", "cubic"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_constant_curve_is_exact(method, dtype):
    values = torch.full((4, 2, len(KNOTS)), 0.3712, dtype=dtype)
    times = torch.linspace(-1, 4, 501, dtype=dtype)
    curve = interpolate_curve(values, torch.tensor(KNOTS, dtype=dtype), times, method)
    assert curve.dtype == dtype
    assert bool((curve == values[..., :1]).all())


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_gradcheck(method):
    values = torch.randn(2, len(KNOTS), dtype=torch.float64, requires_grad=True)
    knots = torch.tensor(KNOTS, dtype=torch.float64)
    times = torch.linspace(-0.2, 3.2, 40, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: interpolate_curve(v, knots, times, method), values)


def test_gradients_finite_on_flat_and_turning_knots():
    values = torch.tensor([[1.0, 1.0, 2.0, 0.0, 0.0, 3.0]], requires_grad=True)
    times = torch.linspace(0, 3, 200)
    interpolate_curve(values, torch.tensor(KNOTS), times, "cubic").sum().backward()
    assert bool(torch.isfinite(values.grad).all())


def test_one_knot_holds_its_value():
    values = torch.tensor([[2.0]])
    out = interpolate_curve(values, torch.tensor([0.5]), torch.linspace(0, 1, 5))
    assert out.tolist() == [[2.0] * 5]


def test_wrong_sizes_and_methods_are_named():
    with pytest.raises(ParameterError, match="3 knot time"):
        interpolate_curve(torch.zeros(2, 4), torch.tensor([0.0, 1, 2]), torch.zeros(3))
    with pytest.raises(ParameterError, match="unknown interpolation"):
        interpolate_curve(torch.zeros(2, 3), torch.tensor([0.0, 1, 2]), torch.zeros(3), "spline")


def test_timeline_crop_and_rates():
    tl = Timeline.uniform(duration=2.0, every=0.5, sample_rate=8)
    assert tl.knot_times == (0.0, 0.5, 1.0, 1.5, 2.0)
    assert Timeline.uniform(1.3, 0.5, 8).knot_times == (0.0, 0.5, 1.0, 1.3)
    np.testing.assert_allclose(tl.crop(4).sample_times(3).numpy(), [0.5, 0.625, 0.75])
    assert tl.at_rate(16).crop(4).start == 0.25
    assert Timeline.from_dict(tl.to_dict(), 8) == tl


@pytest.mark.parametrize(
    "knots, message",
    [
        ((0.0, 1.0, 1.0), "must increase"),
        ((0.0, 2.0, 1.0), "must increase"),
        ((-1.0, 1.0), "before the start"),
        ((0.0, float("nan")), "finite"),
        ((), "no knot"),
    ],
)
def test_bad_knots_are_refused(knots, message):
    with pytest.raises(ParameterError, match=message):
        Timeline(knots, 44100)


def test_knots_outside_the_song_and_bad_rates_are_refused():
    with pytest.raises(ParameterError, match="after the song's end"):
        Timeline((0.0, 5.0), 44100, duration=4.0)
    for rate in (0, -1, float("nan"), "fast"):
        with pytest.raises(ParameterError, match="sample_rate"):
            Timeline((0.0, 1.0), rate)
    with pytest.raises(ParameterError, match="timeline: knot times must be numbers"):
        Timeline.from_dict({"knot_times": [0, "x"]}, 8)
    with pytest.raises(ParameterError, match="unknown key"):
        Timeline.from_dict({"knot_times": [0, 1], "speed": 2}, 8)


def _sorted_times(dtype):
    """Sorted times with stretches before, between, on and after the knots (ties included)."""
    inside = torch.linspace(-0.4, 3.4, 3001, dtype=torch.float64)
    on = torch.tensor(KNOTS + KNOTS[2:4], dtype=torch.float64)
    return torch.cat([inside, on]).sort().values.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_segments_of_sorted_times_match_the_search_of_every_time(dtype):
    knots = torch.tensor(KNOTS, dtype=dtype)
    times = _sorted_times(dtype)
    index, position = curve_segments(knots, times, increasing=True)
    expected = np.clip(np.searchsorted(np.array(KNOTS), times.double().numpy(), "right") - 1, 0, 4)
    if dtype == torch.float64:
        np.testing.assert_array_equal(index.numpy(), expected)
    reference = curve_segments(knots, times)
    assert torch.equal(index, reference[0])
    assert torch.equal(position, reference[1])
    two = torch.tensor(KNOTS[:2], dtype=dtype)  # no inner knot: every time in segment 0
    assert torch.equal(curve_segments(two, times, increasing=True)[0], torch.zeros_like(index))


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_curves_on_sorted_times_match_numpy_and_scipy(method):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((2, 3, len(KNOTS)))
    times = _sorted_times(torch.float64)
    knots = torch.tensor(KNOTS, dtype=torch.float64)
    segments = curve_segments(knots, times, increasing=True)
    got = interpolate_curve(torch.from_numpy(values), knots, times, method, segments).numpy()
    t = times.numpy()
    for index in np.ndindex(values.shape[:-1]):
        v = values[index]
        if method == "linear":
            expected = np.interp(t, KNOTS, v)
        else:
            expected = _held(np.nan_to_num(PchipInterpolator(KNOTS, v, extrapolate=False)(t)), t, v)
        np.testing.assert_allclose(got[index], expected, rtol=0, atol=1e-12)


def test_linear_curves_are_left_plus_step_times_position_bit_for_bit():
    """float32 curves over a render's sample grid give the plain two-point formula exactly."""
    timeline = Timeline.uniform(3.0, 0.25, 1000)
    knots = timeline.knot_tensor(torch.zeros((), dtype=torch.float32))
    times = timeline.sample_times(3000, dtype=torch.float32)
    values = torch.randn(4, 2, timeline.num_knots)
    index, position = curve_segments(knots, times, increasing=True)
    left, right = values[..., index], values[..., index + 1]
    expected = left + (right - left) * position
    assert torch.equal(
        interpolate_curve(values, knots, times, "linear", (index, position)), expected
    )


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_gradcheck_of_rows_of_curves_on_a_sample_grid(method):
    values = torch.randn(2, 3, len(KNOTS), dtype=torch.float64, requires_grad=True)
    knots = torch.tensor(KNOTS, dtype=torch.float64)
    times = torch.linspace(-0.2, 3.2, 60, dtype=torch.float64)
    segments = curve_segments(knots, times, increasing=True)
    assert torch.autograd.gradcheck(
        lambda v: interpolate_curve(v, knots, times, method, segments), values
    )


def test_linear_gradients_sum_over_segments_in_any_order_of_times():
    """The knots' gradient against autograd through numpy's formula, times sorted or not."""
    knots = torch.tensor(KNOTS, dtype=torch.float64)
    times = torch.linspace(-0.3, 3.3, 500, dtype=torch.float64)
    for order in (
        torch.arange(500),
        torch.randperm(500, generator=torch.Generator().manual_seed(0)),
    ):
        values = torch.randn(3, 2, len(KNOTS), dtype=torch.float64, requires_grad=True)
        weights = torch.randn(3, 2, 500, dtype=torch.float64)
        (interpolate_curve(values, knots, times[order], "linear") * weights).sum().backward()
        index, position = curve_segments(knots, times[order])
        expected = values.detach().clone().requires_grad_()
        left, right = expected[..., index], expected[..., index + 1]
        ((left + (right - left) * position) * weights).sum().backward()
        torch.testing.assert_close(values.grad, expected.grad, rtol=1e-12, atol=1e-12)
    shuffled = times[torch.randperm(500, generator=torch.Generator().manual_seed(1))][:40]
    values = torch.randn(2, len(KNOTS), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: interpolate_curve(v, knots, shuffled), values)


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_a_curve_closed_at_every_knot_stays_closed(method):
    knots = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    times = torch.linspace(0, 3, 31, dtype=torch.float64)
    values = torch.tensor([[-math.inf] * 4, [-math.inf, -math.inf, 0.5, 0.5]], dtype=torch.float64)
    curve = interpolate_curve(values, knots, times, method)
    assert bool((curve[0] == -math.inf).all())
    assert bool((curve[1, times < 1] == -math.inf).all())
    assert bool((curve[1, times >= 2] == 0.5).all())
