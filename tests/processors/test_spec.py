"""Processor specs: every processor of the contract configurations round-trips through JSON."""

import json

import numpy as np
import pytest
import torch
from test_contract import CASES, _Gain, build

from grafx.errors import ConfigError
from grafx.processors import FIRFilter
from grafx.processors.spec import build_processor, describe_spec, processor_spec


def _is_code(value):
    return callable(value) and not isinstance(value, (type, torch.nn.Module))


def test_spec_round_trip_of_every_processor_in_the_contract_configs():
    for case in CASES:
        name, make, channels = case.values
        processor = build(name, make)
        if any(isinstance(m, _Gain) for m in processor.modules()):
            with pytest.raises(ConfigError, match="_Gain is not a registered processor"):
                processor_spec(processor)
            continue
        if any(_is_code(v) for v in processor.constructor_arguments.values()):
            # A processor made from Python code (a BlackBox's function) has no JSON form.
            with pytest.raises(ConfigError, match="of type function cannot be saved"):
                processor_spec(processor)
            continue
        spec = processor_spec(processor)
        assert json.loads(json.dumps(spec)) == spec
        rebuilt = build_processor(spec)
        assert type(rebuilt) is type(processor) and processor_spec(rebuilt) == spec
        assert rebuilt.parameter_size() == processor.parameter_size()


def test_fir_filter_spec_keeps_its_arguments():
    spec = processor_spec(FIRFilter(fir_len=9, processor_channel="midside"))
    assert spec == {
        "processor": "FIRFilter",
        "args": {"fir_len": 9, "processor_channel": "midside"},
    }
    assert np.array_equal(build_processor(spec).parameter_size()["fir"], (2, 9))


def test_describe_spec_nests():
    spec = {"processor": "DryWet", "args": {"processor": {"processor": "StereoGain"}, "x": [1]}}
    assert describe_spec(spec) == "DryWet(processor=StereoGain(), x=[1])"
