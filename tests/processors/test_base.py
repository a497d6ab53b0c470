"""The Processor base class: strict keywords, compatibility warnings, one validation per call."""

import copy
import warnings

import pytest
import torch

import grafx.processors.base as base
import grafx.processors.core.validation as validation
from grafx.errors import ArgumentError, AudioError, GrafxError, ParameterError
from grafx.processors import (
    ApproxCompressor,
    BiquadFilter,
    Compressor,
    DryWet,
    FIRFilter,
    MidSideToStereo,
    Processor,
    StereoGain,
)
from grafx.processors.base import IgnoredArgumentWarning


def test_unknown_constructor_keyword_names_class_and_keyword():
    with pytest.raises(
        ArgumentError, match=r"FIRFilter: unknown keyword argument\(s\) \['fir_lenn'\]"
    ):
        FIRFilter(fir_lenn=5)
    with pytest.raises(ArgumentError, match=r"Compressor: .*\['thresh'\].*'energy_smoother'"):
        Compressor(thresh=1)


def test_unknown_backend_keyword_of_a_filter_raises():
    with pytest.raises(ArgumentError, match=r"BiquadFilter: .*\['fsm_fir_lenn'\].*'fsm_fir_len'"):
        BiquadFilter(fsm_fir_lenn=3)


def test_argument_error_is_a_type_error_and_a_grafx_error():
    with pytest.raises(TypeError):
        FIRFilter(fir_lenn=5)
    with pytest.raises(GrafxError, match="StereoGain: too many positional"):
        StereoGain(1)


def test_ignored_compatibility_keyword_warns_once(monkeypatch):
    monkeypatch.setattr(base, "_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Compressor(flashfftconv=False)
        Compressor(flashfftconv=False)
        Compressor()
    ignored = [w for w in caught if issubclass(w.category, IgnoredArgumentWarning)]
    assert len(ignored) == 1
    assert "Compressor: 'flashfftconv' is accepted for compatibility and ignored" in str(
        ignored[0].message
    )
    assert ignored[0].filename == __file__


def test_fir_filter_accepts_its_compatibility_keywords():
    with pytest.warns(IgnoredArgumentWarning):
        proc = FIRFilter(fir_len=4, max_input_len=2**10)
    assert proc.parameter_size() == {"fir": (1, 4)}


def test_deepcopy_rebuilds_without_constructor_arguments():
    proc = DryWet(StereoGain())
    clone = copy.deepcopy(proc)
    assert isinstance(clone.processor, StereoGain)


def test_validation_runs_once_per_call(monkeypatch):
    calls = []
    original = validation.check_parameters

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(base, "check_parameters", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        proc = ApproxCompressor(iir_len=16)
    params = {k: torch.zeros(2, 1) for k in proc.parameter_size()}
    proc(torch.zeros(2, 1, 32), **params)
    assert calls == ["ApproxCompressor"]


def test_bad_parameter_shape_is_refused_before_processing():
    with pytest.raises(
        ParameterError, match=r"StereoGain: parameter 'log_gain' has shape \(3, 2\)"
    ):
        StereoGain()(torch.zeros(2, 2, 8), log_gain=torch.zeros(3, 2))
    with pytest.raises(ParameterError, match="StereoGain: missing parameter 'log_gain'"):
        StereoGain()(torch.zeros(2, 2, 8))
    with pytest.raises(ParameterError, match="StereoGain: got an unexpected keyword"):
        StereoGain()(torch.zeros(2, 2, 8), log_gain=torch.zeros(2, 2), gain=torch.zeros(2, 2))


def test_inputs_must_be_three_dimensional_tensors():
    with pytest.raises(
        AudioError, match=r"StereoGain: input must be \(B, C, L\), got shape \(8,\)"
    ):
        StereoGain()(torch.zeros(8), log_gain=torch.zeros(1, 2))
    with pytest.raises(AudioError, match="MidSideToStereo: side must be a tensor, got list"):
        MidSideToStereo()(torch.zeros(1, 1, 4), [0.0])
    with pytest.raises(AudioError, match=r"MidSideToStereo: missing input\(s\) \['side'\]"):
        MidSideToStereo()(torch.zeros(1, 1, 4))


def test_processor_without_parameters_by_default():
    class Identity(Processor, register=False):
        def forward(self, input_signals):
            return input_signals

    x = torch.randn(2, 1, 5)
    assert Identity().parameter_size() == {}
    assert torch.equal(Identity()(x), x)
    assert Identity.processor_name is None


def test_filters_accept_the_development_era_flashfftconv_name(monkeypatch):
    from grafx.processors.filter import LowPassFilter

    monkeypatch.setattr(base, "_WARNED", set())
    with pytest.warns(IgnoredArgumentWarning, match="fsm_flashfftconv"):
        proc = LowPassFilter(backend="fsm", fsm_fir_len=64, fsm_flashfftconv=False)
    assert proc.iir.backend == "fsm" and proc.iir.fsm_fir_len == 64
