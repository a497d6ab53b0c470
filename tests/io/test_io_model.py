"""Graph files that carry their processors: specs, grafx.io.load, round trips, bad input."""

import json
import os
import subprocess
import sys

import pytest
import soundfile as sf
import torch

from grafx.data import GRAFX, NodeConfigs
from grafx.errors import ConfigError, GraphFileError
from grafx.fit import GraphRenderer
from grafx.io import load, load_graph, save_graph
from grafx.processors import (
    Compressor,
    DryWet,
    LowPassFilter,
    MultitapDelay,
    ParametricEqualizer,
    SerialChain,
    SideGainImager,
    StereoGain,
    STFTMaskedNoiseReverb,
    TanhDistortion,
    registry,
)
from grafx.processors.spec import processor_spec
from grafx.utils import create_empty_parameters

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RATE = 8000

#: One node type per processor family (filter, eq, dynamics, nonlinear, reverb, delay, stereo,
#: containers).
FAMILIES = {
    "eq": lambda: ParametricEqualizer(num_filters=3, processor_channel="stereo"),
    "comp": lambda: Compressor(iir_len=64, knee="exponential"),
    "drive": lambda: TanhDistortion(use_bias=True),
    "lowpass": lambda: LowPassFilter(backend="fsm", fsm_fir_len=256),
    "verb": lambda: DryWet(
        STFTMaskedNoiseReverb(ir_len=256, n_fft=32, hop_length=16), external_param=False
    ),
    "echo": lambda: MultitapDelay(segment_len=64, num_segments=2, zp_filter_bins=4),
    "strip": lambda: SerialChain({"gain": StereoGain(), "width": SideGainImager()}),
}


def family_graph():
    G = GRAFX(config=NodeConfigs(list(FAMILIES)))
    out = G.add("out")
    for _ in range(2):
        _, tail = G.add_serial_chain(["in", *FAMILIES])
        G.connect(tail, out)
    return G, {t: make() for t, make in FAMILIES.items()}


def sources(num=2, length=2000):
    generator = torch.Generator().manual_seed(3)
    return 0.3 * torch.randn(num, 2, length, generator=generator)


def fitted(G, processors, x, steps=3):
    """A few gradient steps, so the saved parameters are not the initial ones."""
    generator = torch.Generator().manual_seed(0)
    tree = create_empty_parameters(G, processors, std=0.1, generator=generator)
    renderer = GraphRenderer(G, processors)
    target = 0.5 * x.sum(0)
    optimizer = torch.optim.Adam(tree.parameters(), lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        mix, _ = renderer(x, tree)
        (mix - target).square().mean().backward()
        optimizer.step()

    def plain(t):
        if isinstance(t, torch.Tensor):
            return t.detach().clone()
        return {k: plain(v) for k, v in t.items()}

    return plain(tree)


def test_every_family_fitted_saved_and_rendered_in_a_fresh_process(tmp_path):
    G, processors = family_graph()
    x = sources()
    parameters = fitted(G, processors, x)
    save_graph(G, tmp_path / "G.json", parameters, processors=processors)
    with torch.no_grad():
        expected = GraphRenderer(G, processors)(x, parameters)[0]
    for k in range(2):
        sf.write(tmp_path / f"s{k}.wav", x[k].T.numpy(), RATE, subtype="FLOAT")
    result = subprocess.run(
        [sys.executable, "-m", "grafx", "--threads", "1", "render", str(tmp_path / "G.json")]
        + ["--sources", str(tmp_path / "s0.wav"), str(tmp_path / "s1.wav")]
        + ["-o", str(tmp_path / "mix.wav")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rendered, rate = sf.read(tmp_path / "mix.wav", dtype="float32", always_2d=True)
    assert rate == RATE
    torch.testing.assert_close(torch.from_numpy(rendered.T.copy()), expected, rtol=0, atol=0)


def test_load_rebuilds_processors_that_render_bit_identically(tmp_path):
    G, processors = family_graph()
    x = sources()
    parameters = fitted(G, processors, x, steps=1)
    save_graph(G, tmp_path / "G.json", parameters, processors=processors, tensors="safetensors")
    model = load(tmp_path / "G.json")
    assert list(model.processors) == list(FAMILIES)
    for node_type, processor in model.processors.items():
        assert processor_spec(processor) == processor_spec(processors[node_type])
    with torch.no_grad():
        expected = GraphRenderer(G, processors)(x, parameters)[0]
        again = GraphRenderer(model.graph, model.processors)(x, model.parameters)[0]
    assert torch.equal(again, expected)


def test_info_prints_each_types_processor_and_arguments(tmp_path):
    G, processors = family_graph()
    save_graph(G, tmp_path / "G.json", processors=processors)
    import contextlib
    import io

    from grafx.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["info", str(tmp_path / "G.json")]) == 0
    lines = printed.getvalue().splitlines()
    assert "  eq       ParametricEqualizer(num_filters=3, processor_channel='stereo')" in lines
    assert (
        "  verb     DryWet(processor=STFTMaskedNoiseReverb(ir_len=256, n_fft=32, hop_length=16), "
        "external_param=False)" in lines
    )
    assert (
        "  strip    SerialChain(processors={'gain': StereoGain(), 'width': SideGainImager()})"
        in (lines)
    )


def test_previous_format_files_still_load_with_the_console_processors(tmp_path):
    from grafx.presets import build_mixing_console, console_processors

    G, _ = build_mixing_console(1, chain=("eq", "gain_pan"))
    save_graph(G, tmp_path / "v1.json")
    document = json.loads((tmp_path / "v1.json").read_text())
    document["version"] = 1
    del document["processors"]
    (tmp_path / "v1.json").write_text(json.dumps(document))
    model = load(tmp_path / "v1.json")
    expected = console_processors(("eq", "gain_pan"))
    assert {t: processor_spec(p) for t, p in model.processors.items()} == {
        t: processor_spec(p) for t, p in expected.items()
    }
    assert model.parameters is None
    assert load_graph(tmp_path / "v1.json")[1] is None


PLUGIN = """
from grafx.processors import Processor

class Tripler(Processor):
    def __init__(self, factor: float = 3.0):
        super().__init__()
        self.factor = factor

    def forward(self, input_signals):
        return self.factor * input_signals
"""


def test_entry_point_processor_round_trips_in_a_fresh_process(tmp_path, monkeypatch):
    (tmp_path / "fake_grafx_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "fake_grafx_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-grafx-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\nPluginTripler = fake_grafx_plugin:Tripler\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry.reload_entry_points()
        cls = registry.get_processor_class("PluginTripler")
        G = GRAFX(config=NodeConfigs(["triple"]))
        G.add_serial_chain(["in", "triple", "out"])
        save_graph(G, tmp_path / "G.json", processors={"triple": cls(factor=2.5)})
        code = (
            "import torch, grafx.io\n"
            f"m = grafx.io.load({str(tmp_path / 'G.json')!r})\n"
            "p = m.processors['triple']\n"
            "print(type(p).__module__, p.factor, float(p(torch.ones(1, 1, 2))[0, 0, 0]))\n"
        )
        env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["fake_grafx_plugin", "2.5", "2.5"]
    finally:
        registry.unregister("PluginTripler")
        sys.modules.pop("fake_grafx_plugin", None)


def test_spec_of_an_unregistered_or_unsaveable_processor_is_refused(tmp_path):
    class Local(torch.nn.Module):
        def parameter_size(self):
            return {}

    G = GRAFX(config=NodeConfigs(["x"]))
    G.add_serial_chain(["in", "x", "out"])
    with pytest.raises(ConfigError, match=r"G.json: processors\['x'\]: Local is not a registered"):
        save_graph(G, tmp_path / "G.json", processors={"x": Local()})
    reverb = STFTMaskedNoiseReverb(ir_len=64, generator=torch.Generator())
    with pytest.raises(ConfigError, match=r"processors\['x'\].args.generator: an argument of type"):
        save_graph(G, tmp_path / "G.json", processors={"x": reverb})
    with pytest.raises(ConfigError, match=r"G.json: a processor for unknown node type 'y'"):
        save_graph(G, tmp_path / "G.json", processors={"y": StereoGain()})


def _write_with(tmp_path, specs=None, parameters=None, edit=None):
    G = GRAFX(config=NodeConfigs(["gain"]))
    G.add_serial_chain(["in", "gain", "out"])
    save_graph(G, tmp_path / "G.json", parameters, processors={"gain": StereoGain()})
    document = json.loads((tmp_path / "G.json").read_text())
    if specs is not None:
        document["processors"] = specs
    if edit is not None:
        edit(document)
    (tmp_path / "G.json").write_text(json.dumps(document))
    return tmp_path / "G.json"


def _nested(depth):
    spec = {"processor": "StereoGain"}
    for _ in range(depth):
        spec = {"processor": "DryWet", "args": {"processor": spec}}
    return spec


BAD_SPECS = [
    (
        {"gain": {"processor": "NoSuchGain"}},
        r"G.json: processors\['gain'\]: unknown processor 'NoSuchGain'.*@grafx.processors.register",
    ),
    (
        {"gain": {"processor": "json.decoder:JSONDecoder"}},
        r"processors\['gain'\]: unknown processor 'json.decoder:JSONDecoder'",
    ),
    (
        {"gain": {"processor": "FIRFilter", "args": {"fir_lenn": 5}}},
        r"G.json: processors\['gain'\]: FIRFilter: unknown keyword argument\(s\) \['fir_lenn'\]",
    ),
    (
        {"gain": {"processor": "FIRFilter", "args": {"fir_len": "long"}}},
        r"processors\['gain'\].args.fir_len: FIRFilter takes a int, got str 'long'",
    ),
    (
        {"gain": {"processor": "FIRFilter", "args": {"fir_len": 0}}},
        r"processors\['gain'\].args.fir_len: FIRFilter: 0 is out of range; a length in samples",
    ),
    ({"gain": _nested(20)}, r"processors\['gain'\].*specs nest deeper than 16 levels"),
    (
        {"gain": {"processor": "FIRFilter", "args": {"x": list(range(20000))}}},
        r"processors\['gain'\]: the spec holds over 10000 values",
    ),
    ({"gain": "StereoGain"}, r"processors\['gain'\]: a processor spec must be an object, got str"),
    (
        {"gain": {"processor": "StereoGain", "module": "os"}},
        r"processors\['gain'\]: a processor spec has the keys 'processor' and 'args'",
    ),
    ({"fuzz": {"processor": "StereoGain"}}, r"G.json: processors: unknown node type 'fuzz'"),
]


@pytest.mark.parametrize(("specs", "message"), BAD_SPECS)
def test_bad_specs_are_one_line_errors_naming_file_type_and_key(tmp_path, specs, message):
    path = _write_with(tmp_path, specs)
    modules = set(sys.modules)
    with pytest.raises(GraphFileError, match=message) as info:
        load(path)
    assert "\n" not in str(info.value)
    assert set(sys.modules) == modules  # nothing named by the file was imported


def test_bad_parameters_name_file_type_and_key(tmp_path):
    path = _write_with(tmp_path, parameters={"gain": {"log_gain": torch.zeros(1, 3)}})
    with pytest.raises(
        GraphFileError,
        match=r"G.json: parameters\['gain'\]: StereoGain: parameter 'log_gain' has shape \(1, 3\)",
    ):
        load(path)
    bad = torch.tensor([[0.0, float("nan")]])
    path = _write_with(tmp_path, parameters={"gain": {"log_gain": bad}})
    with pytest.raises(GraphFileError, match=r"G.json: parameters\['gain'\].log_gain holds NaN"):
        load(path)
    path = _write_with(tmp_path, parameters={"gain": {"log_gain": torch.zeros(1, 2)}})
    document = json.loads(path.read_text())
    document["parameters"] = {}
    path.write_text(json.dumps(document))
    with pytest.raises(GraphFileError, match=r"G.json: no parameters for node type 'gain'"):
        load(path)


def test_empty_graph_and_nul_side_file_name(tmp_path):
    save_graph(GRAFX(config=NodeConfigs(["gain"])), tmp_path / "E.json")
    with pytest.raises(GraphFileError, match=r"E.json: the graph is empty \(no nodes\)"):
        load(tmp_path / "E.json")
    path = _write_with(tmp_path, edit=lambda d: d.update(tensor_file="a\x00b.safetensors"))
    with pytest.raises(GraphFileError, match=r"G.json: tensor_file 'a\\x00b.safetensors' must"):
        load(path)


def test_cli_reports_a_bad_file_in_one_line(tmp_path, capsys):
    from grafx.cli import main

    path = _write_with(tmp_path, {"gain": {"processor": "NoSuchGain"}})
    assert main(["info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown processor 'NoSuchGain'" in err
