"""Physical settings on the processor classes: settings -> parameters and back."""

import math
import warnings

import numpy as np
import pytest
import scipy.signal
import torch

from grafx.errors import ParameterError
from grafx.processors import (
    ApproxCompressor,
    BiquadFilter,
    Compressor,
    DryWet,
    MultitapDelay,
    NoiseGate,
    ParametricEqualizer,
    SideGainImager,
    StereoGain,
)
from grafx.processors.base import has_settings
from grafx.processors.functional.dynamics import threshold_from_log_threshold
from grafx.processors.functional.eq import parametric_eq_biquads


def test_stereo_gain_centre_is_unity_and_pan_is_constant_power():
    proc = StereoGain()
    torch.testing.assert_close(
        proc.settings_to_parameters({})["log_gain"], torch.zeros(2, dtype=torch.float64)
    )
    log_gain = proc.settings_to_parameters({"gain_db": 6.0, "pan": 0.5})["log_gain"]
    power = torch.exp(2 * log_gain).sum()
    torch.testing.assert_close(power, torch.tensor(2 * 10 ** (6 / 10), dtype=torch.float64))
    assert log_gain[1] > log_gain[0]  # panned right
    back = proc.parameters_to_settings({"log_gain": log_gain})
    assert back == pytest.approx({"gain_db": 6.0, "pan": 0.5})


def test_imager_width_is_the_side_gain():
    proc = SideGainImager()
    values = proc.settings_to_parameters({"width": 2.0})
    torch.testing.assert_close(
        values["log_gain"], torch.tensor([math.log(2.0)], dtype=torch.float64)
    )
    assert proc.parameters_to_settings(values) == pytest.approx({"width": 2.0})
    with pytest.raises(ParameterError, match="SideGainImager: width must be positive, got -1.0"):
        proc.settings_to_parameters({"width": -1})


def test_parametric_eq_band_gain_in_db_matches_scipy_response():
    proc = ParametricEqualizer(num_filters=3)
    sr, freqs, gains = 16000.0, [100.0, 1000.0, 6000.0], [0.0, 6.0, 0.0]
    values = proc.settings_to_parameters(
        {"eq_gains_db": gains, "eq_freqs_hz": freqs, "eq_q": 2.0, "sample_rate": sr}
    )
    assert {k: tuple(v.shape) for k, v in values.items()} == {
        k: tuple(s) for k, s in proc.parameter_size().items()
    }
    Bs, As = parametric_eq_biquads(values["w0"], values["q_inv"], values["log_gain"], True)
    sos = np.concatenate([Bs[0].numpy(), As[0].numpy()], axis=-1)
    _, response = scipy.signal.sosfreqz(sos, worN=[1000.0], fs=sr)
    assert 20 * np.log10(abs(response[0])) == pytest.approx(6.0, abs=1e-6)
    back = proc.parameters_to_settings(values, sample_rate=sr)
    assert back["eq_gains_db"] == pytest.approx(gains, abs=1e-9)
    assert back["eq_freqs_hz"] == pytest.approx(freqs)
    assert back["eq_q"] == pytest.approx([2.0] * 3)


def test_parametric_eq_defaults_and_errors():
    proc = ParametricEqualizer(num_filters=4, processor_channel="stereo")
    values = proc.settings_to_parameters({"sample_rate": 8000})
    freqs = proc.parameters_to_settings(values, sample_rate=8000)["eq_freqs_hz"]
    assert np.array(freqs).shape == (2, 4)
    assert freqs[0] == pytest.approx(np.logspace(2, math.log10(3200), 4).tolist())
    with pytest.raises(ParameterError, match="ParametricEqualizer: frequencies 30000.0 must"):
        proc.settings_to_parameters({"eq_freqs_hz": 30000.0})
    with pytest.raises(ParameterError, match=r"ParametricEqualizer: unknown setting\(s\) \['q'\]"):
        proc.settings_to_parameters({"q": 1.0})


@pytest.mark.parametrize(("cls", "threshold_db"), [(Compressor, -20.0), (NoiseGate, -60.0)])
def test_dynamics_settings_in_db(cls, threshold_db):
    proc = cls()
    values = proc.settings_to_parameters({})
    level_db = threshold_from_log_threshold(values["log_threshold"]) * 10 / math.log(10)
    torch.testing.assert_close(level_db, torch.tensor([threshold_db], dtype=torch.float64))
    settings = {"threshold_db": -30.0, "ratio": 4.0, "knee_db": 3.0}
    back = proc.parameters_to_settings(proc.settings_to_parameters(settings))
    assert back == pytest.approx(settings)
    with pytest.raises(ParameterError, match=f"{cls.__name__}: need ratio > 1"):
        proc.settings_to_parameters({"ratio": 1.0})


def test_hard_knee_has_no_knee_parameter():
    proc = Compressor(knee="hard")
    assert set(proc.settings_to_parameters({})) == {"log_threshold", "log_ratio"}
    assert set(proc.parameters_to_settings(proc.settings_to_parameters({}))) == {
        "threshold_db",
        "ratio",
    }


def test_drywet_mix_named_after_the_node_type_and_inner_settings():
    proc = DryWet(StereoGain(), external_param=False)
    values = proc.settings_to_parameters({"reverb_mix": 0.3, "gain_db": 6.0}, name="reverb")
    assert torch.sigmoid(values["drywet_weight"]).item() == pytest.approx(0.3)
    back = proc.parameters_to_settings(values, name="reverb")
    assert back == pytest.approx({"reverb_mix": 0.3, "gain_db": 6.0, "pan": 0.0}, abs=1e-9)
    assert proc.parameters_to_settings(proc.settings_to_parameters({})) == pytest.approx(
        {"mix": 0.5, "gain_db": 0.0, "pan": 0.0}, abs=1e-9
    )
    with pytest.raises(ParameterError, match=r"reverb: reverb_mix must be in \(0, 1\), got 1.0"):
        proc.settings_to_parameters({"reverb_mix": 1.0}, name="reverb")
    with pytest.raises(ParameterError, match="external_param=True"):
        DryWet(StereoGain()).settings_to_parameters({})
    wet_delay = DryWet(MultitapDelay(segment_len=8, num_segments=2), external_param=False)
    with pytest.raises(ParameterError, match=r"DryWet: unknown setting\(s\) \['feedback'\]"):
        wet_delay.settings_to_parameters({"feedback": 0.5})


def test_processors_without_units_say_so():
    assert not has_settings(BiquadFilter())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = ApproxCompressor()
    assert not has_settings(legacy) and has_settings(Compressor())
    with pytest.raises(ParameterError, match="BiquadFilter has no physical settings"):
        BiquadFilter().settings_to_parameters({"gain_db": 1})
    with pytest.raises(ParameterError, match="eq: BiquadFilter has no physical read-back"):
        BiquadFilter().parameters_to_settings({}, name="eq")


def test_console_reads_back_eq_and_compressor_settings():
    from grafx.presets import (
        build_mixing_console,
        console_parameters,
        console_processors,
        get_node_settings,
    )

    chain = ("eq", "compressor")
    G, _ = build_mixing_console(1, chain=chain)
    processors = console_processors(chain)
    settings = {
        "track0/eq": {"eq_gains_db": [3.0, 0.0, -2.0, 1.0]},
        "track0/compressor": {"threshold_db": -12.0, "ratio": 3.0},
    }
    params = console_parameters(G, processors, sample_rate=32000, settings=settings)
    eq = get_node_settings(params, G, "track0/eq", sample_rate=32000)
    assert eq["eq_gains_db"] == pytest.approx([3.0, 0.0, -2.0, 1.0], abs=1e-5)
    assert eq["eq_freqs_hz"] == pytest.approx([120.0, 700.0, 3000.0, 8000.0], rel=1e-4)
    comp = get_node_settings(params, G, "track0/compressor", processors)
    expected = {"threshold_db": -12.0, "ratio": 3.0, "knee_db": 6.0, "mix": 0.99}  # mix: its gate
    assert comp == pytest.approx(expected, rel=1e-5)
