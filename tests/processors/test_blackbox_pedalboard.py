"""PedalboardEffect: pedalboard plugins as nodes, their settings checked, and a compressor fit."""

import numpy as np
import pedalboard
import pytest
import torch

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.errors import ConfigError
from grafx.processors import StereoGain, registry
from grafx.processors.blackbox_pedalboard import PedalboardEffect, plugin_settings
from grafx.render import prepare_render, render_grafx, reorder_for_fast_render

SR = 22050


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_registered_by_name():
    assert registry.get_processor_class("PedalboardEffect") is PedalboardEffect


@pytest.mark.parametrize(
    ("plugin", "settings", "values"),
    [
        (pedalboard.Compressor, {"threshold_db": (-60, 0), "ratio": (1, 20)}, (-20.0, 4.0)),
        (pedalboard.Reverb, {"room_size": (0, 1), "wet_level": (0, 1)}, (0.8, 0.5)),
        (pedalboard.Chorus, {"rate_hz": (0.1, 5), "depth": (0, 1)}, (2.0, 0.4)),
        (pedalboard.Distortion, {"drive_db": (0, 40)}, (18.0,)),
    ],
)
def test_output_is_pedalboards_own(plugin, settings, values):
    effect = PedalboardEffect(plugin, settings, sample_rate=SR)
    chosen = dict(zip(settings, values, strict=False))
    x = (0.3 * torch.randn(3, 2, 2048, generator=gen(0))).float()
    y = effect(x, **effect.parameters_from_settings(chosen, batch=3))
    for b in range(3):
        expected = plugin(**chosen)(x[b].numpy(), SR)
        np.testing.assert_allclose(y[b].numpy(), expected, atol=1e-6)


def test_an_instance_fixes_the_other_settings_and_mono_stays_mono():
    effect = PedalboardEffect(
        pedalboard.Compressor(attack_ms=20.0, release_ms=300.0), {"ratio": (1, 20)}, SR
    )
    x = (0.5 * torch.randn(2, 1, 1024, generator=gen(1))).double()
    y = effect(x, **effect.parameters_from_settings({"ratio": 8.0}, batch=2))
    assert y.shape == (2, 1, 1024) and y.dtype == torch.float64
    expected = pedalboard.Compressor(attack_ms=20.0, release_ms=300.0, ratio=8.0)(
        x[0].numpy().astype(np.float32), SR
    )
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-6)


def test_no_state_leaks_between_calls():
    effect = PedalboardEffect("Reverb", {"room_size": (0, 1)}, SR)
    x = torch.zeros(2, 2, 1024)
    x[0, :, 0] = 1.0  # an impulse in the first row only: the second must stay silent
    y = effect(x, **effect.parameters_from_settings(batch=2))
    assert y[0].abs().sum() > 0 and y[1].abs().max() == 0


def test_plugin_settings_lists_the_writable_numbers():
    assert set(plugin_settings(pedalboard.Compressor)) == {
        "threshold_db",
        "ratio",
        "attack_ms",
        "release_ms",
    }


def test_an_unknown_setting_is_named_with_those_the_plugin_has():
    with pytest.raises(
        ConfigError,
        match=r"Compressor has no setting\(s\) \['treshold_db'\]; "
        r"its settings are \['attack_ms', 'ratio', 'release_ms', 'threshold_db'\]",
    ):
        PedalboardEffect(pedalboard.Compressor, {"treshold_db": (-60, 0)})
    with pytest.raises(ConfigError, match="pedalboard has no plugin 'Compresor'"):
        PedalboardEffect("Compresor", {})
    with pytest.raises(ConfigError, match="setting 'ratio' has range"):
        PedalboardEffect("Compressor", {"ratio": (20, 1)})
    with pytest.raises(ConfigError, match="sample_rate"):
        PedalboardEffect("Compressor", {"ratio": (1, 20)}, sample_rate=0)


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match=r"PedalboardEffect: unknown keyword.*'samples'"):
        PedalboardEffect("Compressor", {"ratio": (1, 20)}, samples=3)


def test_worker_processes_give_the_same_audio():
    x = (0.3 * torch.randn(2, 2, 512, generator=gen(2))).float()
    effects = [
        PedalboardEffect("Distortion", {"drive_db": (0, 40)}, SR, executor=kind, num_workers=1)
        for kind in ("process", "serial")
    ]
    outs = [e(x, **e.parameters_from_settings(batch=2)) for e in effects]
    torch.testing.assert_close(outs[0], outs[1])


def frame_db(y, frame=512):
    energy = y.reshape(*y.shape[:-1], -1, frame).pow(2).mean((-3, -1))
    return 10 * torch.log10(energy + 1e-10)


@pytest.mark.parametrize("estimator", ["finite_difference", "spsa"])
def test_fit_recovers_compressor_settings_inside_a_graph(estimator):
    # Noise in 12 steps from -45 to -3 dB: the levels above threshold pin down both settings.
    n = 11 * 1024
    levels = torch.linspace(-45, -3, 12).repeat_interleave(n // 12 + 1)[:n]
    source = (torch.randn(1, 2, n, generator=gen(0)) * 10 ** (levels / 20)).float()
    G = GRAFX(config=NodeConfigs(["comp"]))
    G.add_serial_chain(["in", "comp", "out"])
    render_data = prepare_render(reorder_for_fast_render(convert_to_tensor(G), method="beam"))
    comp = PedalboardEffect(
        "Compressor", {"threshold_db": (-60, 0), "ratio": (1, 20)}, SR, estimator=estimator
    )
    processors = {"comp": comp}
    hidden = {"comp": comp.parameters_from_settings({"threshold_db": -24.0, "ratio": 5.0})}
    with torch.no_grad():
        target, _ = render_grafx(source, processors, hidden, render_data)
    start = comp.parameters_from_settings()  # mid-range: -30 dB, ratio 10.5
    params = {"comp": {k: v.requires_grad_() for k, v in start.items()}}
    optimiser = torch.optim.Adam(params["comp"].values(), lr=0.1)
    for _ in range(150):
        optimiser.zero_grad()
        output, _ = render_grafx(source, processors, params, render_data)
        (frame_db(output) - frame_db(target)).pow(2).mean().backward()
        optimiser.step()
    fitted = comp.settings_from_parameters(params["comp"])
    assert abs(fitted["threshold_db"].item() + 24.0) < 2.0
    assert abs(fitted["ratio"].item() - 5.0) < 0.2 * 5.0


def test_fit_with_a_grafx_node_before_the_plugin():
    # A StereoGain (analytic gradients) feeding the compressor: its gradient passes through the
    # plugin by the straight-through estimate and reaches the gain.
    G = GRAFX(config=NodeConfigs(["gain", "comp"]))
    G.add_serial_chain(["in", "gain", "comp", "out"])
    render_data = prepare_render(reorder_for_fast_render(convert_to_tensor(G), method="beam"))
    comp = PedalboardEffect("Compressor", {"threshold_db": (-60, 0)}, SR)
    processors = {"gain": StereoGain(), "comp": comp}
    log_gain = torch.zeros(1, 2, requires_grad=True)
    params = {"gain": {"log_gain": log_gain}, "comp": comp.parameters_from_settings()}
    source = (0.01 * torch.randn(1, 2, 2048, generator=gen(3))).float()  # below threshold
    output, _ = render_grafx(source, processors, params, render_data)
    output.pow(2).sum().backward()
    # Below the threshold the compressor is the identity, so straight-through is exact there.
    expected = torch.autograd.grad(StereoGain()(source, log_gain=log_gain).pow(2).sum(), log_gain)[
        0
    ]
    torch.testing.assert_close(log_gain.grad, expected, rtol=1e-3, atol=1e-6)
