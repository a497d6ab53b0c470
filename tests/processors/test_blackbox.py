"""BlackBox: estimated gradients against analytic ones, batching, pools, seeds and errors."""

import copy
import os
import threading

import numpy as np
import pytest
import torch

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.errors import BlackBoxError, ConfigError, ParameterError
from grafx.processors import (
    StereoGain,
    registry,
)
from grafx.processors.base import has_settings
from grafx.processors.blackbox import BlackBox
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render
from grafx.testing.blackbox import gradient_cosine, reference_cases, wrap_processor


def gen(seed):
    return torch.Generator().manual_seed(seed)


def hard_clip(audio, level):
    return np.clip(audio, -level, level)


def gain_and_square(audio, a, b, c):
    """Linear in its settings: y = a x + b x^2 + c x^3."""
    return a * audio + b * audio**2 + c * audio**3


def scale(audio, gain):
    return gain * audio


def leaf(params):
    return {k: v.detach().clone().requires_grad_() for k, v in params.items()}


def test_registered_by_name():
    assert registry.get_processor_class("BlackBox") is BlackBox


@pytest.mark.parametrize("estimator", ["finite_difference", "spsa"])
def test_hard_clip_gradient_is_the_analytic_one(estimator):
    # clip is linear in the level between samples, so a central difference is exact as long as
    # no sample lies within the step (0.01 * 0.9) of the level.
    x = torch.tensor([[[-0.9, -0.2, 0.1, 0.8, 0.7]]], dtype=torch.float64)
    g = torch.tensor([[[0.3, -1.0, 2.0, 0.5, -0.25]]], dtype=torch.float64)
    box = BlackBox(hard_clip, {"level": (0.1, 1.0)}, estimator=estimator)
    params = leaf(box.parameters_from_settings({"level": 0.5}, dtype=torch.float64))
    y = box(x, **params)
    torch.testing.assert_close(y, x.clamp(-0.5, 0.5))
    (y * g).sum().backward()
    u = (0.5 - 0.1) / 0.9
    expected = (0.3 * -1 + 0.5 + -0.25) * 0.9 * u * (1 - u)  # dL/dlevel * dlevel/dz
    torch.testing.assert_close(params["z_level"].grad, torch.tensor([[expected]]).double())


def test_finite_differences_are_exact_for_settings_that_enter_linearly():
    x = torch.randn(3, 2, 64, dtype=torch.float64, generator=gen(0))
    g = torch.randn(3, 2, 64, dtype=torch.float64, generator=gen(1))
    ranges = {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)}
    box = BlackBox(gain_and_square, ranges, estimator="finite_difference")
    z = {
        k: 0.7 * torch.randn(3, 1, dtype=torch.float64, generator=gen(i + 2))
        for i, k in enumerate(box.parameter_size())
    }
    params = leaf(z)
    (box(x, **params) * g).sum().backward()
    for i, (name, (low, high)) in enumerate(ranges.items()):
        u = torch.sigmoid(z[f"z_{name}"])
        dy_dsetting = (g * x ** (i + 1)).sum((1, 2))[:, None]
        torch.testing.assert_close(
            params[f"z_{name}"].grad, dy_dsetting * (high - low) * u * (1 - u)
        )


def test_spsa_is_unbiased():
    # For settings that enter linearly, SPSA's estimate has mean J^T g; with N samples its
    # relative error is about sqrt((P - 1) / N) = 0.022 here, so 0.1 leaves a wide margin.
    x = torch.randn(1, 1, 64, dtype=torch.float64, generator=gen(0))
    g = torch.randn(1, 1, 64, dtype=torch.float64, generator=gen(1))
    ranges = {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)}
    exact, spsa = (
        BlackBox(gain_and_square, ranges, estimator=e, num_samples=4000, executor="serial")
        for e in ("finite_difference", "spsa")
    )
    grads = []
    for box in (exact, spsa):
        params = leaf(box.parameters_from_settings({"a": 0.5, "b": 0.1, "c": 0.3}, dtype=x.dtype))
        (box(x, **params) * g).sum().backward()
        grads.append(torch.cat([p.grad for p in params.values()], -1))
    error = (grads[1] - grads[0]).norm() / grads[0].norm()
    assert error < 0.1


CASES = reference_cases()


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("estimator", ["finite_difference", "spsa"])
def test_estimated_gradient_points_along_the_analytic_one(name, estimator):
    processor, ranges = CASES[name]
    box = wrap_processor(processor, ranges, estimator=estimator)
    x = 0.3 * torch.randn(8, 2, 1024, dtype=torch.float64, generator=gen(0))
    params = {
        k: 0.8 * torch.randn(8, n, dtype=torch.float64, generator=gen(1))
        for k, n in box.parameter_size().items()
    }
    g = torch.randn(8, 2, 1024, dtype=torch.float64, generator=gen(2))
    cosine, estimated, analytic = gradient_cosine(processor, box, x, params, g)
    if estimator == "finite_difference":
        assert cosine.min() >= 0.9, cosine
    else:  # default samples (8); the bar is on the mean over nodes
        assert cosine.mean() >= 0.7, cosine


def test_evaluations_per_backward_pass():
    calls = []

    def counted(audio, **settings):
        calls.append(1)
        return audio * (1 + sum(settings.values()))

    ranges = {f"s{i}": (0.0, 1.0) for i in range(5)}
    for estimator, per_node in (("spsa", 2 * 3), ("finite_difference", 2 * 5)):
        box = BlackBox(counted, ranges, estimator=estimator, num_samples=3)
        assert box.estimator.evaluations_per_node(5) == per_node
        params = leaf(box.parameters_from_settings(batch=4))
        calls.clear()
        y = box(torch.randn(4, 2, 16), **params)
        assert len(calls) == 4
        y.sum().backward()
        assert len(calls) == 4 + 4 * per_node


def test_spsa_is_seeded():
    x = torch.randn(2, 1, 32, dtype=torch.float64, generator=gen(0))
    ranges = {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)}

    def grad(box):
        params = leaf(box.parameters_from_settings({"a": 0.5}, batch=2, dtype=x.dtype))
        box(x, **params).pow(2).sum().backward()
        return torch.cat([p.grad for p in params.values()], -1)

    first = BlackBox(gain_and_square, ranges, num_samples=2, seed=3)
    a, b = grad(first), grad(first)
    first.reseed()
    torch.testing.assert_close(grad(first), a)
    torch.testing.assert_close(grad(BlackBox(gain_and_square, ranges, num_samples=2, seed=3)), a)
    assert not torch.allclose(a, b)
    assert not torch.allclose(grad(BlackBox(gain_and_square, ranges, num_samples=2, seed=4)), a)


def test_input_gradient_estimates():
    x = torch.randn(2, 2, 32, dtype=torch.float64, generator=gen(0))
    g = torch.randn(2, 2, 32, dtype=torch.float64, generator=gen(1))
    for kind, factor in (("straight_through", 1.0), ("gain", 0.25)):
        box = BlackBox(scale, {"gain": (0.0, 1.0)}, input_grad=kind)
        xg = x.clone().requires_grad_()
        (box(xg, **box.parameters_from_settings({"gain": 0.25}, 2, x.dtype)) * g).sum().backward()
        torch.testing.assert_close(xg.grad, factor * g)
    box = BlackBox(scale, {"gain": (0.0, 1.0)}, input_grad="none")
    xg = x.clone().requires_grad_()
    params = leaf(box.parameters_from_settings(batch=2, dtype=x.dtype))
    box(xg, **params).sum().backward()
    assert xg.grad is None and params["z_gain"].grad is not None


def test_mono_in_stereo_out_sums_the_straight_through_gradient():
    box = BlackBox(lambda a: np.concatenate([a, -2 * a]), {}, output_channels=2)
    x = torch.randn(3, 1, 16, requires_grad=True)
    y = box(x)
    assert y.shape == (3, 2, 16)
    torch.testing.assert_close(y, torch.cat([x, -2 * x], 1).detach())
    g = torch.randn(3, 2, 16)
    (y * g).sum().backward()
    torch.testing.assert_close(x.grad, g.sum(1, keepdim=True))


def test_gradcheck_float64_where_the_estimates_are_exact():
    # A gain is linear in its setting (finite differences exact) and in its input (the "gain"
    # input estimate exact), so the estimated gradients pass gradcheck.
    box = BlackBox(scale, {"gain": (0.0, 2.0)}, estimator="finite_difference", input_grad="gain")
    x = torch.randn(2, 2, 16, dtype=torch.float64, generator=gen(0), requires_grad=True)
    z = torch.tensor([[0.3], [-1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, z: box(x, z_gain=z), (x, z))


def test_finite_gradients_at_extreme_parameters():
    box = BlackBox(gain_and_square, {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)})
    for fill in (-20.0, 20.0):
        params = {k: torch.full((2, 1), fill, requires_grad=True) for k in box.parameter_size()}
        x = torch.randn(2, 2, 32, requires_grad=True)
        box(x, **params).pow(2).sum().backward()
        assert torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in params.values())


def test_batched_equals_one_by_one_and_dtype_is_kept():
    box = BlackBox(gain_and_square, {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)})
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(3, 2, 32, dtype=dtype, generator=gen(0))
        original = x.clone()
        params = {k: torch.randn(3, 1, dtype=dtype, generator=gen(1)) for k in box.parameter_size()}
        y = box(x, **params)
        assert y.dtype == dtype
        torch.testing.assert_close(x, original)
        rows = [box(x[i : i + 1], **{k: v[i : i + 1] for k, v in params.items()}) for i in range(3)]
        torch.testing.assert_close(y, torch.cat(rows))


def test_clamp_mapping_uses_the_settings_units():
    box = BlackBox(scale, {"gain": (0.0, 2.0)}, mapping="clamp")
    assert box.parameter_size() == {"gain": 1}
    x = torch.ones(3, 1, 4)
    y = box(x, gain=torch.tensor([[0.5], [3.0], [-1.0]]))
    torch.testing.assert_close(y[:, 0, 0], torch.tensor([0.5, 2.0, 0.0]))
    params = box.parameters_from_settings({"gain": 1.5})
    torch.testing.assert_close(params["gain"], torch.tensor([[1.5]]))
    torch.testing.assert_close(box.settings_from_parameters(params)["gain"], torch.tensor([[1.5]]))


def test_vector_settings_reach_the_callable_as_arrays():
    seen = []

    def per_channel(audio, gains):
        seen.append(gains)
        return audio * gains[:, None]

    box = BlackBox(per_channel, {"gains": (0.0, 1.0, 2)}, mapping="clamp")
    assert box.parameter_size() == {"gains": 2}
    y = box(torch.ones(1, 2, 4), gains=torch.tensor([[0.25, 0.75]]))
    torch.testing.assert_close(y[0, :, 0], torch.tensor([0.25, 0.75]))
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (2,)


def test_torch_arrays_option():
    box = BlackBox(lambda a, gain: torch.tanh(a * gain), {"gain": (0.5, 4.0)}, array="torch")
    x = torch.randn(2, 2, 8)
    params = box.parameters_from_settings({"gain": 2.0}, batch=2)
    torch.testing.assert_close(box(x, **params), torch.tanh(2 * x))


def test_thread_pool_runs_a_step_in_parallel():
    threads, lock = set(), threading.Lock()
    barrier = threading.Barrier(2, timeout=10)

    def meet(audio, gain):
        with lock:
            threads.add(threading.get_ident())
        barrier.wait()  # two calls must be in flight at once, or this raises
        return audio * gain

    box = BlackBox(meet, {"gain": (0.0, 1.0)}, num_workers=2)
    box(torch.randn(2, 1, 8), **box.parameters_from_settings(batch=2))
    assert len(threads) == 2


def test_serial_thread_and_own_executor_agree():
    from concurrent.futures import ThreadPoolExecutor

    ranges = {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)}
    x = torch.randn(4, 2, 32, generator=gen(0))
    outs = []
    with ThreadPoolExecutor(2) as own:
        for executor in ("serial", "thread", own):
            box = BlackBox(gain_and_square, ranges, executor=executor, seed=1)
            params = leaf(box.parameters_from_settings({"a": 0.2}, batch=4))
            y = box(x, **params)
            y.pow(2).sum().backward()
            outs.append((y.detach(), params["z_a"].grad))
    for y, grad in outs[1:]:
        torch.testing.assert_close(y, outs[0][0])
        torch.testing.assert_close(grad, outs[0][1])


def test_deepcopy_keeps_the_seed_state():
    box = BlackBox(gain_and_square, {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0)})
    twin = copy.deepcopy(box)
    assert torch.equal(twin.generator.get_state(), box.generator.get_state())


def test_inside_a_graph_gradients_reach_upstream_nodes():
    G = GRAFX(config=NodeConfigs(["gain", "box"]))
    G.add_serial_chain(["in", "gain", "box", "out"])
    G_t = reorder_for_fast_render(convert_to_tensor(G), method="beam")
    box = BlackBox(hard_clip, {"level": (0.1, 1.0)}, name="box")
    processors = {"gain": StereoGain(), "box": box}
    parameters = {
        "gain": {"log_gain": torch.zeros(1, 2, requires_grad=True)},
        "box": leaf(box.parameters_from_settings({"level": 0.5})),
    }
    source = torch.randn(1, 2, 64, generator=gen(0))
    output, _ = render_grafx(source, processors, parameters, prepare_render(G_t))
    # The render equals the two processors called in turn.
    expected = box(processors["gain"](source, **parameters["gain"]), **parameters["box"])
    torch.testing.assert_close(output, expected)
    output.pow(2).sum().backward()
    assert parameters["gain"]["log_gain"].grad.abs().sum() > 0
    assert parameters["box"]["z_level"].grad.abs().sum() > 0


# --- bad input -------------------------------------------------------------------------------


def test_a_callable_that_raises_is_named():
    def broken(audio, gain):
        raise RuntimeError("plugin crashed")

    box = BlackBox(broken, {"gain": (0.0, 1.0)}, name="my_fx")
    with pytest.raises(
        BlackBoxError,
        match=r"BlackBox 'my_fx', batch row 0.*broken raised "
        r"RuntimeError: plugin crashed",
    ):
        box(torch.randn(2, 1, 8), **box.parameters_from_settings(batch=2))


def test_a_wrong_shape_is_named():
    box = BlackBox(lambda audio, gain: audio[:, :4], {"gain": (0.0, 1.0)})
    with pytest.raises(
        BlackBoxError,
        match=r"BlackBox '.*<lambda>'.*returned shape \(2, 4\) "
        r"for input \(2, 8\); expected \(2, 8\)",
    ):
        box(torch.randn(1, 2, 8), **box.parameters_from_settings())


def test_nan_is_named_in_the_forward_and_in_the_backward_pass():
    def nan_above(audio, gain):
        return audio * (np.nan if gain > 0.5 else gain)

    box = BlackBox(nan_above, {"gain": (0.0, 1.0)}, name="fx")
    with pytest.raises(BlackBoxError, match=r"'fx', batch row 0.*nan_above returned NaN or Inf"):
        box(torch.randn(1, 2, 8), **box.parameters_from_settings({"gain": 0.9}))
    params = leaf(box.parameters_from_settings({"gain": 0.495}))
    y = box(torch.randn(1, 2, 8), **params)
    with pytest.raises(BlackBoxError, match="NaN or Inf"):
        y.sum().backward()


def test_not_an_array_is_named():
    box = BlackBox(lambda audio: object(), {})
    with pytest.raises(BlackBoxError, match="returned"):
        box(torch.randn(1, 2, 8))


@pytest.mark.parametrize("spec", [(1.0, 1.0), (2.0, -1.0), (0.0, float("inf")), (0.0,), "x"])
def test_bad_ranges(spec):
    with pytest.raises(ConfigError, match="setting 'gain'"):
        BlackBox(scale, {"gain": spec})


def test_bad_options():
    with pytest.raises(ConfigError, match="fn must be callable"):
        BlackBox(3, {})
    with pytest.raises(ConfigError, match="unknown method 'adam'"):
        BlackBox(scale, {"gain": (0, 1)}, estimator="adam")
    with pytest.raises(ConfigError, match="num_samples"):
        BlackBox(scale, {"gain": (0, 1)}, num_samples=0)
    with pytest.raises(ConfigError, match="step"):
        BlackBox(scale, {"gain": (0, 1)}, step=0.7)
    with pytest.raises(ConfigError, match="input_grad"):
        BlackBox(scale, {"gain": (0, 1)}, input_grad="exact")
    with pytest.raises(ConfigError, match="mapping"):
        BlackBox(scale, {"gain": (0, 1)}, mapping="tanh")
    with pytest.raises(ConfigError, match="executor"):
        BlackBox(scale, {"gain": (0, 1)}, executor="gpu")
    with pytest.raises(ConfigError, match="array"):
        BlackBox(scale, {"gain": (0, 1)}, array="jax")
    with pytest.raises(ConfigError, match="size 0"):
        BlackBox(scale, {"gain": (0, 1, 0)})


def test_bad_settings_and_parameters():
    box = BlackBox(scale, {"gain": (0.0, 1.0)}, name="fx")
    with pytest.raises(ParameterError, match=r"'fx'.*unknown setting\(s\) \['gian'\]"):
        box.parameters_from_settings({"gian": 0.5})
    with pytest.raises(ParameterError, match=r"setting 'gain' = \[1.5\] is outside \[0.0, 1.0\]"):
        box.parameters_from_settings({"gain": 1.5})
    with pytest.raises(ParameterError, match="BlackBox.*z_gain"):
        box(torch.randn(2, 1, 8), z_gain=torch.zeros(3, 1))


def test_a_lambda_cannot_go_to_worker_processes():
    box = BlackBox(
        lambda audio, gain: audio, {"gain": (0.0, 1.0)}, executor="process", num_workers=1
    )
    with pytest.raises(BlackBoxError, match="cannot be sent to worker processes"):
        box(torch.randn(2, 1, 8), **box.parameters_from_settings(batch=2))


def test_processor_settings_contract():
    box = BlackBox(gain_and_square, {"a": (-1.0, 2.0), "b": (-0.5, 0.5), "c": (0.0, 1.0, 2)})
    assert has_settings(box)
    params = box.settings_to_parameters({"a": 1.5, "c": [0.25, 0.75]})
    assert params["z_a"].shape == (1,) and params["z_c"].shape == (2,)
    assert params["z_a"].dtype == torch.float64
    settings = box.parameters_to_settings(params)
    assert settings["a"] == pytest.approx(1.5) and settings["b"] == pytest.approx(0.0)
    assert settings["c"] == pytest.approx([0.25, 0.75])
    with pytest.raises(ParameterError, match=r"^track1/fx: unknown setting\(s\) \['d'\]"):
        box.settings_to_parameters({"d": 1.0}, name="track1/fx")


def test_jobs_started_inside_a_pool_job_run_in_that_worker():
    # A callable that itself fans out on the same one-worker pool: queued there, the inner jobs
    # would wait for the only worker, which waits for them.
    from grafx.processors.core.blackbox_pool import run_jobs, shared_executor

    pool = shared_executor("thread", 1)

    def inner(audio, gain):
        return audio * gain

    def outer(audio, gain):
        parts = run_jobs(
            inner, [audio, audio], [{"gain": gain}, {"gain": 2 * gain}], ["a", "b"], pool
        )
        return parts[0] + parts[1]

    result = {}

    def work():
        audios = [np.ones((1, 4)), 2 * np.ones((1, 4))]
        result["out"] = run_jobs(outer, audios, [{"gain": 1.0}, {"gain": 0.5}], ["x", "y"], pool)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "nested black-box jobs deadlocked the shared pool"
    np.testing.assert_allclose(result["out"][0], 3 * np.ones((1, 4)))
    np.testing.assert_allclose(result["out"][1], 3 * np.ones((1, 4)))


def test_close_shared_executors_ends_the_pool_threads():
    from grafx.processors.core.blackbox_pool import close_shared_executors, shared_executor

    close_shared_executors()
    pool = shared_executor("thread", 2)
    assert shared_executor("thread", 2) is pool  # shared until closed
    barrier = threading.Barrier(2, timeout=10)
    list(pool.map(lambda _: barrier.wait(), range(2)))  # both workers started
    alive = [t for t in threading.enumerate() if t.name.startswith("grafx-blackbox")]
    assert len(alive) == 2
    close_shared_executors()
    assert not any(t.is_alive() for t in alive)
    assert shared_executor("thread", 2) is not pool  # a new pool after close
    close_shared_executors()


def test_close_shared_executors_ends_the_pool_processes():
    from grafx.processors.core.blackbox_pool import close_shared_executors, shared_executor

    close_shared_executors()
    pool = shared_executor("process", 1)
    child = pool.submit(os.getpid).result(timeout=60)
    assert child != os.getpid()
    processes = list(pool._processes.values())
    assert [p.pid for p in processes] == [child]
    close_shared_executors()
    assert not any(p.is_alive() for p in processes)
    with pytest.raises(ProcessLookupError):  # exited and reaped
        os.kill(child, 0)
