"""The processor registry: grafx's own names, the decorator and the entry-point group."""

import sys

import pytest
import torch
from torch import nn

import grafx.processors as P
from grafx.errors import ConfigError
from grafx.processors import Processor, registry

#: The public processor names of grafx before the registry (its `_LOCATIONS` table).
PUBLIC_NAMES = [
    "BiquadFilter",
    "PoleZeroFilter",
    "StateVariableFilter",
    "LowPassFilter",
    "HighPassFilter",
    "BandPassFilter",
    "BandRejectFilter",
    "AllPassFilter",
    "PeakingFilter",
    "LowShelf",
    "HighShelf",
    "FIRFilter",
    "ZeroPhaseFIREqualizer",
    "NewZeroPhaseFIREqualizer",
    "GraphicEqualizer",
    "ParametricEqualizer",
    "Compressor",
    "NoiseGate",
    "ApproxCompressor",
    "ApproxNoiseGate",
    "TanhDistortion",
    "PiecewiseTanhDistortion",
    "PowerDistortion",
    "ChebyshevDistortion",
    "STFTMaskedNoiseReverb",
    "FilteredNoiseShapingReverb",
    "MidSideFilteredNoiseReverb",
    "MultitapDelay",
    "StereoMultitapDelay",
    "StereoGain",
    "SideGainImager",
    "MonoToStereo",
    "StereoToMidSide",
    "MidSideToStereo",
    "DryWet",
    "SerialChain",
    "ParallelMix",
    "GainStagingRegularization",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_grafx_processor_is_registered_under_its_name(name):
    cls = registry.get_processor_class(name)
    assert cls.__name__ == name and cls.processor_name == name
    assert getattr(P, name) is cls
    assert issubclass(cls, Processor)
    assert name in P.__all__


def test_private_helpers_are_not_registered():
    names = registry.processor_names()
    assert not [n for n in names if n.startswith("_")]
    assert "Processor" not in names


def test_unknown_name_says_how_to_register():
    with pytest.raises(ConfigError, match=r"unknown processor 'Nope'.*register.*grafx.processors"):
        registry.get_processor_class("Nope")
    with pytest.raises(AttributeError, match="Nope"):
        P.Nope  # noqa: B018


def test_decorator_registers_a_plain_module_and_refuses_a_taken_name():
    @P.register(name="TestHalver")
    class Halver(nn.Module):
        def forward(self, input_signals):
            return input_signals / 2

        def parameter_size(self):
            return {}

    try:
        assert registry.get_processor_class("TestHalver") is Halver
        assert registry.processor_name_of(Halver()) == "TestHalver"
        with pytest.raises(ConfigError, match="'TestHalver' is already taken"):

            @P.register(name="TestHalver")
            class Other(nn.Module):
                def parameter_size(self):
                    return {}

        with pytest.raises(ConfigError, match="'Compressor' is already taken"):
            P.register(Halver, name="Compressor")
    finally:
        registry.unregister("TestHalver")
    assert "TestHalver" not in registry.processor_names()


def test_decorator_refuses_what_is_not_a_processor_class():
    with pytest.raises(ConfigError, match="not a processor class"):
        P.register(len)
    with pytest.raises(ConfigError, match="not an identifier"):
        P.register(P.StereoGain, name="a b")


def test_processor_subclass_outside_grafx_is_not_registered_automatically():
    class Local(Processor):
        pass

    assert Local.processor_name is None
    assert registry.processor_name_of(Local) is None


def _install_fake_package(root, module_body, entry_points):
    (root / "fake_grafx_plugin.py").write_text(module_body)
    dist = root / "fake_grafx_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-grafx-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{entry_points}\n")


PLUGIN = """
import torch
from grafx.processors import Processor

class Tripler(Processor):
    def forward(self, input_signals, log_gain):
        return 3 * input_signals * log_gain.exp()[:, :, None]

    def parameter_size(self):
        return {"log_gain": 1}
"""


def test_entry_point_processor_is_found_by_name(tmp_path, monkeypatch):
    _install_fake_package(tmp_path, PLUGIN, "PluginTripler = fake_grafx_plugin:Tripler")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry.reload_entry_points()
        cls = registry.get_processor_class("PluginTripler")
        assert cls.__module__ == "fake_grafx_plugin"
        y = cls()(torch.ones(1, 1, 4), log_gain=torch.zeros(1, 1))
        assert torch.equal(y, torch.full((1, 1, 4), 3.0))
        assert "PluginTripler" in registry.processor_names()
    finally:
        registry.unregister("PluginTripler")
        sys.modules.pop("fake_grafx_plugin", None)


def test_broken_entry_point_names_itself(tmp_path, monkeypatch):
    _install_fake_package(tmp_path, "raise RuntimeError('boom')\n", "Broken = fake_grafx_plugin:X")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ConfigError, match=r"entry point 'Broken'.*RuntimeError: boom"):
            registry.reload_entry_points()
    finally:
        sys.modules.pop("fake_grafx_plugin", None)
        monkeypatch.undo()
        registry.reload_entry_points()
