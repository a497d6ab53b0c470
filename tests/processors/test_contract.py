"""The processor contract, checked once for every registered grafx processor.

For each processor (in small configurations, one per channel mode where it has several): the
output keeps the batch and the length; a batch of nodes equals the nodes rendered one by one;
float32 stays float32 and float64 float64; neither the input nor the parameters are modified;
gradients reach the input and every parameter and are finite; a parameter of the wrong shape, a
missing one and an unknown one are refused by name. A processor registered without an entry in
``CONFIGS`` is checked in its default configuration, so a new processor is covered as soon as it
exists.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from grafx.errors import ParameterError
from grafx.processors import registry
from grafx.processors.base import Processor

pytestmark = pytest.mark.usefixtures("one_thread")


class _Gain(nn.Module):
    """A plain ``nn.Module`` (the seed page's contract) inside the containers."""

    def forward(self, input_signals: Tensor, log_gain: Tensor) -> Tensor:
        return input_signals * log_gain.exp()[:, :, None]

    def parameter_size(self) -> dict:
        return {"log_gain": 1}


def _delay():
    return registry.get_processor_class("MultitapDelay")(
        segment_len=8, num_segments=2, zp_filter_bins=4
    )


def _reverb():
    return registry.get_processor_class("STFTMaskedNoiseReverb")(ir_len=64, n_fft=16, hop_length=8)


def _tanh_gain(audio, gain, bias):
    """A gradient-free callable for the black-box processors."""
    return np.tanh(gain * audio + bias)


#: name -> {config id: (constructor keywords or a factory, input channels)}.
CONFIGS: dict[str, dict[str, tuple]] = {
    "BiquadFilter": {
        "k2": ({"num_filters": 2}, 2),
        "normalized": ({"normalized": True}, 1),
        "fsm": ({"num_filters": 2, "backend": "fsm", "fsm_fir_len": 64}, 2),
        "ssm": ({"num_filters": 2, "backend": "ssm"}, 2),
    },
    "PoleZeroFilter": {"k2": ({"num_filters": 2}, 2)},
    "StateVariableFilter": {"k2": ({"num_filters": 2}, 2)},
    "PeakingFilter": {"fsm": ({"num_filters": 2, "backend": "fsm", "fsm_fir_len": 64}, 2)},
    "LowShelf": {"ssm": ({"backend": "ssm"}, 2)},
    "FIRFilter": {
        mode: ({"fir_len": 7, "processor_channel": mode}, 2)
        for mode in ("mono", "stereo", "midside")
    },
    "ZeroPhaseFIREqualizer": {"small": ({"num_magnitude_bins": 8}, 2)},
    "NewZeroPhaseFIREqualizer": {
        "mono": ({"num_frequency_bins": 8}, 2),
        "midside_bank": (
            {
                "num_frequency_bins": 16,
                "processor_channel": "midside",
                "use_filterbank": True,
                "filterbank_kwargs": {"num_filters": 4, "sr": 8000},
            },
            2,
        ),
    },
    "ParametricEqualizer": {
        "mono": ({"num_filters": 3}, 2),
        "stereo": ({"num_filters": 2, "processor_channel": "stereo"}, 2),
    },
    "GraphicEqualizer": {"midside": ({"processor_channel": "midside", "sr": 8000}, 2)},
    "Compressor": {
        "iir": ({"iir_len": 32}, 2),
        "ballistics": (
            {
                "energy_smoother": "ballistics",
                "gain_smoother": "iir",
                "iir_len": 32,
                "knee": "hard",
            },
            1,
        ),
    },
    "NoiseGate": {"iir": ({"iir_len": 32, "knee": "exponential"}, 2)},
    "ApproxCompressor": {"small": ({"iir_len": 32}, 2)},
    "ApproxNoiseGate": {"small": ({"freq_sample_n": 32}, 2)},
    "TanhDistortion": {"bias_post": ({"inverse_post_gain": False, "use_bias": True}, 2)},
    "PowerDistortion": {"k3": ({"max_order": 3}, 2)},
    "ChebyshevDistortion": {"k3_tanh": ({"max_order": 3, "use_tanh": True}, 2)},
    "STFTMaskedNoiseReverb": {
        mode: ({"ir_len": 64, "n_fft": 16, "hop_length": 8, "processor_channel": mode}, 2)
        for mode in ("pseudo_midside", "stereo", "midside", "mono")
    }
    | {"env": ({"ir_len": 64, "n_fft": 16, "hop_length": 8, "gain_envelope": True}, 2)},
    "MidSideFilteredNoiseReverb": {
        "env": ({"ir_len": 64, "n_fft": 16, "hop_length": 8, "gain_envelope": True}, 2)
    },
    "FilteredNoiseShapingReverb": {
        mode: (
            {"ir_len": 64, "num_bands": 3, "sr": 8000, "f_max": 2000, "processor_channel": mode},
            2,
        )
        for mode in ("midside", "stereo", "pseudo_midside", "mono")
    }
    | {
        "fade_in": (
            {
                "ir_len": 64,
                "num_bands": 3,
                "sr": 8000,
                "f_max": 2000,
                "use_fade_in": True,
            },
            2,
        )
    },
    "MultitapDelay": {
        mode: (
            {"segment_len": 8, "num_segments": 2, "zp_filter_bins": 4, "processor_channel": mode},
            2,
        )
        for mode in ("stereo", "midside", "mono")
    }
    | {"two_taps": ({"segment_len": 8, "num_segments": 2, "num_delay_per_segment": 2}, 1)},
    "StereoMultitapDelay": {
        "small": ({"segment_len": 8, "num_segments": 2, "zp_filter_bins": 4}, 2)
    },
    "StereoGain": {"mono_in": ({}, 1), "stereo_in": ({}, 2)},
    "Panner": {
        "mono_in": ({}, 1),
        "stereo_in_linear": ({"law": "linear"}, 2),
        "minus_4_5_db_normalized": ({"law": "-4.5dB", "normalize_center": True}, 2),
    },
    "Limiter": {"lookahead_4": ({"lookahead_len": 4}, 2)},
    "Expander": {"iir": ({"iir_len": 32}, 2)},
    "LinkwitzRileyCrossover": {
        "3_bands": ({"num_bands": 3, "sample_rate": 8000}, 2),
        "2_bands_lr8": ({"num_bands": 2, "order": 8, "sample_rate": 8000}, 1),
    },
    "FDNReverb": {"small": ({"delays": (5, 7, 11), "ir_len": 64, "sample_rate": 8000}, 2)},
    "Flanger": {"8k": ({"sample_rate": 8000}, 1)},
    "Phaser": {"short_frames": ({"sample_rate": 8000, "n_fft": 16}, 2)},
    "MultibandCompressor": {"iir": ({"num_bands": 3, "sample_rate": 8000, "iir_len": 32}, 2)},
    "MonoToStereo": {"default": ({}, 1)},
    "MidSideToStereo": {"default": ({}, 1)},
    "DryWet": {"internal": (lambda cls: cls(_delay(), external_param=False), 2)},
    "SerialChain": {"two": (lambda cls: cls({"reverb": _reverb(), "gain": _Gain()}), 2)},
    "ParallelMix": {
        "softmax": (lambda cls: cls({"reverb": _reverb(), "gain": _Gain()}), 2),
        "softplus": (lambda cls: cls({"reverb": _reverb(), "delay": _delay()}, "softplus"), 2),
    },
    "GainStagingRegularization": {"reverb": (lambda cls: cls(_reverb()), 2)},
    "BlackBox": {
        "spsa": (lambda cls: cls(_tanh_gain, {"gain": (0.5, 4.0), "bias": (-0.1, 0.1)}), 2),
        "fd_clamp_mono": (
            lambda cls: cls(
                _tanh_gain,
                {"gain": (0.5, 4.0), "bias": (-0.1, 0.1)},
                mapping="clamp",
                estimator="finite_difference",
                input_grad="gain",
            ),
            1,
        ),
    },
    "PedalboardEffect": {
        "compressor": (
            lambda cls: cls("Compressor", {"threshold_db": (-60, 0), "ratio": (1, 20)}, 8000),
            2,
        )
    },
}


def _cases():
    for name in registry.builtin_processor_names():
        for config_id, (make, channels) in CONFIGS.get(name, {"default": ({}, 2)}).items():
            yield pytest.param(name, make, channels, id=f"{name}-{config_id}")


CASES = list(_cases())


def build(name, make):
    cls = registry.get_processor_class(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the old names are checked too
        processor = make(cls) if callable(make) else cls(**make)
    for module in processor.modules():
        delay = getattr(module, "delay", None)
        if delay is not None and hasattr(delay, "straight_through"):
            delay.normalize_gradients = False
    return processor


def make_params(size, batch, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = {}
    for key in sorted(size):
        shape = size[key]
        if isinstance(shape, dict):
            params[key] = make_params(shape, batch, dtype, seed + 1)
            continue
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        params[key] = 0.5 * torch.randn((batch, *shape), generator=generator, dtype=dtype)
    return params


def leaves(params, prefix=""):
    for key, value in params.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def replace_leaf(params, path, value):
    out = dict(params)
    head, _, rest = path.partition(".")
    out[head] = replace_leaf(params[head], rest, value) if rest else value
    return out


def drop_leaf(params, path):
    out = dict(params)
    head, _, rest = path.partition(".")
    if rest:
        out[head] = drop_leaf(params[head], rest)
    else:
        del out[head]
    return out


def slice_params(params, i):
    return {
        k: slice_params(v, i) if isinstance(v, dict) else v[i : i + 1] for k, v in params.items()
    }


def make_inputs(processor, batch, channels, length, dtype, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, channels, length, generator=generator, dtype=dtype)
        for _ in processor.input_names
    ]


def outputs_of(result):
    """The output tensors of a call and its tensor extras."""
    extras = {}
    if isinstance(result, tuple):
        result, extras = result
    outputs = list(result) if isinstance(result, list) else [result]
    return outputs, dict(leaves(extras or {}))


def length_of(processor, length):
    """The ``num_samples`` keyword of a generator (a processor without audio input)."""
    return {} if processor.input_names else {"num_samples": length}


def call(processor, inputs, params, length):
    return outputs_of(processor(*inputs, **params, **length_of(processor, length)))


def test_every_registered_processor_is_a_processor():
    for name in registry.builtin_processor_names():
        assert issubclass(registry.get_processor_class(name), Processor), name


def test_every_config_names_a_registered_processor():
    assert set(CONFIGS) <= set(registry.builtin_processor_names())


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
def test_shapes_and_batch_equals_one_by_one(name, make, channels):
    processor = build(name, make)
    batch, length = 3, 96
    inputs = make_inputs(processor, batch, channels, length, torch.float64)
    params = make_params(processor.parameter_size(), batch, torch.float64)
    batched, _ = call(processor, inputs, params, length)
    for output in batched:
        assert output.ndim == 3 and output.shape[0] == batch and output.shape[2] == length
        assert output.shape[1] in (1, 2)
    singles = [
        call(processor, [x[i : i + 1] for x in inputs], slice_params(params, i), length)[0]
        for i in range(batch)
    ]
    for k, output in enumerate(batched):
        torch.testing.assert_close(output, torch.cat([s[k] for s in singles]))


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_kept_and_nothing_modified(name, make, channels, dtype):
    processor = build(name, make)
    inputs = make_inputs(processor, 2, channels, 80, dtype)
    params = make_params(processor.parameter_size(), 2, dtype)
    inputs_before = [x.clone() for x in inputs]
    params_before = {k: v.clone() for k, v in leaves(params)}
    outputs, extras = call(processor, inputs, params, 80)
    for tensor in [*outputs, *extras.values()]:
        assert tensor.dtype == dtype
    for x, before in zip(inputs, inputs_before, strict=True):
        assert torch.equal(x, before)
    for key, value in leaves(params):
        assert torch.equal(value, params_before[key]), key


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
def test_gradients_reach_every_parameter_and_are_finite(name, make, channels):
    processor = build(name, make)
    inputs = [x.requires_grad_() for x in make_inputs(processor, 2, channels, 80, torch.float64)]
    params = make_params(processor.parameter_size(), 2, torch.float64)
    for _, value in leaves(params):
        value.requires_grad_()
    outputs, extras = call(processor, inputs, params, 80)
    loss = sum(y.square().sum() + y.sum() for y in outputs)
    loss = loss + sum(e.sum() for e in extras.values())
    loss.backward()
    for x in inputs:
        assert x.grad is not None and torch.isfinite(x.grad).all()
    for key, value in leaves(params):
        assert value.grad is not None, key
        assert torch.isfinite(value.grad).all(), key


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
def test_bad_parameters_are_refused_by_name(name, make, channels):
    processor = build(name, make)
    inputs = make_inputs(processor, 2, channels, 32, torch.float64)
    params = make_params(processor.parameter_size(), 2, torch.float64)
    length = length_of(processor, 32)
    for path, value in leaves(params):
        # A container names itself, or the member that checks its own parameters.
        key = path.rsplit(".", 1)[-1]
        wrong_batch = replace_leaf(params, path, value[:1])
        # A generator's parameters set its batch: with one parameter, no batch is wrong.
        if processor.input_names or len(list(leaves(params))) > 1:
            with pytest.raises(ParameterError, match=rf"^\w+: .*'([\w.]+\.)?{re.escape(key)}'"):
                processor(*inputs, **wrong_batch, **length)
        wrong_shape = replace_leaf(params, path, torch.zeros(2, *value.shape[1:], 5))
        with pytest.raises(ParameterError, match=rf"^\w+: .*'([\w.]+\.)?{re.escape(key)}'"):
            processor(*inputs, **wrong_shape, **length)
        with pytest.raises(ParameterError, match=rf"^\w+: .*'([\w.]+\.)?{re.escape(key)}'"):
            processor(*inputs, **drop_leaf(params, path), **length)
    with pytest.raises(ParameterError, match=r"^\w+: .*'not_a_parameter'"):
        processor(*inputs, **params, **length, not_a_parameter=torch.zeros(2, 1))
