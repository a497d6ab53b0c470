"""Device and dtype plumbing, checked without a GPU: CPU float64, the ``meta`` device, the CLI.

The CUDA checks themselves are in ``test_cuda.py`` (marked ``cuda``, skipped without a GPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.cli import main
from grafx.device import (
    default_device,
    describe_device,
    move_processors,
    move_tree,
    resolve_device,
    resolve_dtype,
)
from grafx.errors import ConfigError, ParameterError
from grafx.fit import GraphRenderer, fit_parameters
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.render.permute import ParameterPermuter, permute_parameters

pytestmark = pytest.mark.usefixtures("one_thread")

META = torch.device("meta")
RATE = 8000
#: Strip processors that run without looking at their values (see test_device_meta.py).
DATA_FREE_CHAIN = ("eq", "imager", "gain_pan", "delay")


def _console(num_tracks=2, num_buses=0, chain=DATA_FREE_CHAIN):
    G, sequence = build_mixing_console(num_tracks, num_buses, chain=chain)
    processors = console_processors(chain)
    return G, sequence, processors, console_parameters(G, processors, RATE)


def _stems(num_tracks=2, length=1024, dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(num_tracks, 2, length, generator=generator, dtype=dtype)


# --- grafx.device -------------------------------------------------------------------------


def test_auto_is_cuda_when_usable_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device(" AUTO ").type == expected
    assert default_device().type == expected


def test_named_devices_are_parsed():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("meta")) == META


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "", "cpu:0:1"])
def test_unknown_device_is_refused_by_name(name):
    with pytest.raises(ConfigError, match=r"unknown device .*use auto, cpu, cuda"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a CPU-only machine")
def test_cuda_without_a_gpu_says_what_torch_is_installed():
    with pytest.raises(ConfigError, match=r"'cuda': no usable CUDA GPU here \(torch .*README"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_out_of_range_is_refused():
    count = torch.cuda.device_count()
    with pytest.raises(ConfigError, match=f"has {count} CUDA device"):
        resolve_device(f"cuda:{count}")


def test_dtypes():
    assert resolve_dtype(None) is torch.float32
    assert resolve_dtype("float64") is torch.float64
    assert resolve_dtype("torch.float32") is torch.float32
    assert resolve_dtype(torch.float64) is torch.float64
    with pytest.raises(ConfigError, match=r"unknown dtype 'half'; use one of \['float32'"):
        resolve_dtype("half")
    with pytest.raises(ConfigError, match="dtype torch.int64 is not supported"):
        resolve_dtype(torch.int64)


def test_move_tree_keeps_structure_and_integer_dtypes():
    tree = {"eq": {"gain": torch.zeros(2, 1), "index": torch.arange(2)}, "name": "x"}
    moved = move_tree(tree, META, torch.float64)
    assert moved["eq"]["gain"].device == META and moved["eq"]["gain"].dtype == torch.float64
    assert moved["eq"]["index"].device == META and moved["eq"]["index"].dtype == torch.int64
    assert moved["name"] == "x"
    same = move_tree(tree, "cpu")
    assert same["eq"]["gain"] is tree["eq"]["gain"]  # already there: no copy


def test_move_processors_moves_buffers_but_not_their_dtype():
    processors = console_processors(("eq", "reverb"))
    buffers = {n: b.dtype for p in processors.values() for n, b in p.named_buffers()}
    assert buffers  # the reverb has windows
    move_processors(processors, META)
    for processor in processors.values():
        for name, buffer in processor.named_buffers():
            assert buffer.device == META and buffer.dtype == buffers[name], name


def test_describe_device():
    assert describe_device(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"
    assert describe_device(META) == "meta"


# --- render engine ------------------------------------------------------------------------


def test_renderer_on_meta_propagates_shapes_and_gradients():
    G, sequence, processors, parameters = _console(3, 1)
    renderer = GraphRenderer(G, processors, sequence).to("meta")
    params = {
        t: {k: v.to(META).requires_grad_() for k, v in tree.items()}
        for t, tree in parameters.items()
    }
    sources = torch.empty(3, 2, 4096, device=META, requires_grad=True)
    mix, _ = renderer(sources, params)
    assert mix.device == META and mix.shape == (2, 4096)
    mix.sum().backward()
    assert sources.grad.device == META
    for tree in params.values():
        for key, value in tree.items():
            assert value.grad is not None and value.grad.device == META, key
    batch = torch.empty(2, 3, 2, 512, device=META)  # a 4-D source batch too
    assert renderer(batch, params)[0].shape == (2, 2, 512)


def test_renderer_in_float64_matches_float32_and_keeps_the_dtype():
    G, sequence, processors, parameters = _console(chain=("eq", "compressor", "gain_pan"))
    renderer = GraphRenderer(G, processors, sequence)
    stems = _stems(dtype=torch.float64)
    mix64, _ = renderer(stems, move_tree(parameters, dtype=torch.float64))
    mix32, _ = renderer(stems.float(), move_tree(parameters, dtype=torch.float32))
    assert mix64.dtype == torch.float64 and mix32.dtype == torch.float32
    # float32 rounding through an IIR EQ and a compressor: well under -80 dB of the mix
    torch.testing.assert_close(mix32.double(), mix64, atol=1e-5, rtol=1e-4)


def test_parameters_on_another_device_are_refused_by_name():
    G, sequence, processors, parameters = _console()
    renderer = GraphRenderer(G, processors, sequence)
    on_meta = move_tree(parameters, META)
    with pytest.raises(ParameterError, match=r"'log_gain' of type 'gain_pan' is on meta but the"):
        renderer(_stems(), {**parameters, "gain_pan": on_meta["gain_pan"]})


def test_permuter_equals_permute_parameters_and_skips_the_identity():
    from grafx.data import convert_to_tensor
    from grafx.render import reorder_for_fast_render

    G, _, _, parameters = _console(3, 1)
    G_t = convert_to_tensor(G)
    G_fast = reorder_for_fast_render(G_t, method="beam")
    permute = ParameterPermuter(G_t, G_fast)
    expected = permute_parameters(parameters, G_t, G_fast)
    got = permute(parameters)
    assert any(perm is not None for perm in permute._perms.values())  # not all the identity
    for node_type, tree in expected.items():
        for key, value in tree.items():
            torch.testing.assert_close(got[node_type][key], value, rtol=0, atol=0)
    same = ParameterPermuter(G_t, G_t)(parameters)
    assert same["eq"]["log_gain"] is parameters["eq"]["log_gain"]
    with pytest.raises(ParameterError, match=r"'eq'/log_gain: first dimension \(1,\) != 4 nodes"):
        permute({"eq": {"log_gain": torch.zeros(1, 6)}})


# --- fit ----------------------------------------------------------------------------------


def test_fit_in_float64_stays_float64():
    G, sequence, processors, parameters = _console(chain=("eq", "gain_pan"))
    stems = _stems(length=2048, dtype=torch.float64)
    hidden = move_tree(parameters, dtype=torch.float64)
    hidden["gain_pan"]["log_gain"] = hidden["gain_pan"]["log_gain"] - 0.5
    with torch.no_grad():
        target = GraphRenderer(G, processors, sequence)(stems, hidden)[0]
    start = move_tree(parameters, dtype=torch.float64)
    result = fit_parameters(
        G, processors, start, stems, target, steps=3, crop_len=None, lr=0.05,
        type_sequence=sequence, progress=False,
    )  # fmt: skip
    assert result.steps == 3 and result.history[-1] < result.history[0]
    for tree in result.parameters.values():
        for value in tree.values():
            assert value.dtype == torch.float64 and value.device == stems.device


def test_a_nan_loss_is_still_named_after_one_sync_per_step():
    G, sequence, processors, parameters = _console(chain=("gain_pan",))
    stems = _stems(length=512)
    bad = move_tree(parameters)
    bad["gain_pan"] = {k: v.clone() for k, v in bad["gain_pan"].items()}
    bad["gain_pan"]["log_gain"][0] = float("nan")
    with pytest.raises(ParameterError, match=r"^fit step 0: the loss is nan; 3 rollback\(s\) "):
        fit_parameters(
            G, processors, bad, stems, stems[0], steps=2, crop_len=None,
            type_sequence=sequence, progress=False,
        )  # fmt: skip


def test_noise_generator_keeps_its_noise_per_length_dtype_and_device():
    from grafx.processors import NoiseGenerator
    from grafx.processors.functional.generators import white_noise

    noise = NoiseGenerator(num_channels=2, seed=3)
    gain = torch.zeros(2, 1)
    first = noise(num_samples=64, log_gain=gain)
    torch.testing.assert_close(first, white_noise(torch.ones(2, 1), 64, 2, 3), rtol=0, atol=0)
    kept = noise._noise[1]
    noise(num_samples=64, log_gain=gain + 1)
    assert noise._noise[1] is kept  # the same noise, not drawn again
    longer = noise(num_samples=96, log_gain=gain)
    assert longer.shape == (2, 2, 96)
    torch.testing.assert_close(longer, white_noise(torch.ones(2, 1), 96, 2, 3), rtol=0, atol=0)
    assert noise(num_samples=64, log_gain=gain.double()).dtype == torch.float64
    assert noise(num_samples=64, log_gain=gain.to(META)).device == META


# --- command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    t = np.arange(RATE // 2) / RATE
    for name, freq in (("a", 220), ("b", 330)):
        sf.write(root / f"{name}.wav", 0.3 * np.sin(2 * np.pi * freq * t), RATE)
    mix = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
    sf.write(root / "mix.wav", np.stack([mix, mix], 1), RATE, subtype="FLOAT")
    return root


def _run(capsys, *args):
    threads = torch.get_num_threads()
    try:
        status = main(["--threads", "1", *map(str, args)])
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("command", ["fit", "prune", "render", "demo", "fit-many"])
def test_every_command_has_device_and_dtype(command):
    from grafx.cli import build_parser

    parser = build_parser()
    required = {
        "fit": ["--stems", "a", "--target", "b", "--out", "c"],
        "prune": ["folder", "--out", "c"],
        "render": ["g.json", "--sources", "a", "-o", "m.wav"],
        "demo": [],
        "fit-many": [],
    }[command]
    args = parser.parse_args([command, *required])
    assert (args.device, args.dtype) == ("auto", "float32")
    args = parser.parse_args([command, *required, "--device", "cpu", "--dtype", "float64"])
    assert (args.device, args.dtype) == ("cpu", "float64")


def test_fit_and_render_on_the_cpu_in_float64(audio, capsys, tmp_path):
    stems = [audio / "a.wav", audio / "b.wav"]
    status, out, err = _run(
        capsys, "fit", "--stems", *stems, "--target", audio / "mix.wav", "--steps", 2,
        "--quiet", "--out", tmp_path / "fit", "--device", "cpu", "--dtype", "float64",
    )  # fmt: skip
    assert status == 0, err
    assert "device: cpu (1 threads), float64" in out
    status, out, err = _run(
        capsys, "render", tmp_path / "fit" / "graph.json", "--sources", *stems,
        "-o", tmp_path / "mix.wav", "--device", "cpu", "--dtype", "float64",
    )  # fmt: skip
    assert status == 0, err
    rendered, rate = sf.read(tmp_path / "mix.wav")
    fitted, _ = sf.read(tmp_path / "fit" / "fitted.wav")
    assert rate == RATE
    np.testing.assert_allclose(rendered, fitted, atol=1e-6)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("meta", "--device meta holds no audio (shapes only); use cpu or cuda"),
        ("gpu", "unknown device 'gpu'; use auto, cpu, cuda, cuda:N, mps or meta"),
    ],
)
@pytest.mark.parametrize("command", ["render", "demo", "fit-many"])
def test_a_device_that_cannot_be_used_is_one_line(
    audio, capsys, tmp_path, command, device, message
):
    args = {
        "render": ["render", tmp_path / "g.json", "--sources", audio / "a.wav", "-o",
                   tmp_path / "m.wav"],
        "demo": ["demo", "--out", tmp_path / "demo", "--steps", 1],
        "fit-many": ["fit-many", tmp_path / "songs.csv", "--out", tmp_path / "fits"],
    }[command]  # fmt: skip
    status, _, err = _run(capsys, *args, "--device", device)
    assert status == 1
    assert err == f"grafx: error: {message}\n"
    assert not (tmp_path / "demo").exists() and not (tmp_path / "fits").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only machine's message")
def test_fit_on_cuda_without_a_gpu_is_one_line(audio, capsys, tmp_path):
    status, _, err = _run(
        capsys, "fit", "--stems", audio / "a.wav", "--target", audio / "mix.wav",
        "--out", tmp_path / "fit", "--device", "cuda",
    )  # fmt: skip
    assert status == 1
    assert err.startswith("grafx: error: device 'cuda': no usable CUDA GPU here") and err.endswith(
        "\n"
    )
    assert err.count("\n") == 1


def test_readme_gpu_example_runs(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Running on a GPU", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == "torch.Size([2, 44100]) True\n"


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_fit_many_tasks_fit_on_their_device(monkeypatch, tmp_path, device):
    from types import SimpleNamespace

    import grafx.fit.many.song
    from grafx.fit import FitConfig
    from grafx.fit.many.folder import RunFolder
    from grafx.fit.many.manifest import Song
    from grafx.fit.many.song import Task, _prepare
    from grafx.fit.options import FitOptions

    seen = {}

    def prepare_fit(options, initial_parameters=None):
        seen["device"] = options.device
        return SimpleNamespace(config=FitConfig(steps=3))

    monkeypatch.setattr(grafx.fit.many.song, "prepare_fit", prepare_fit)
    song = Song("song", ("a.wav",), "mix.wav")
    task = Task(str(tmp_path), (song,), FitOptions(device=device))
    _prepare(RunFolder(tmp_path), song, task)
    assert seen["device"] == device


@pytest.mark.parametrize(
    ("device", "fit", "expected"),
    [("cpu", "", "cpu"), ("auto", "--steps 3", "auto"), ("auto", "--device cpu", "cpu")],
)
def test_fit_many_shares_its_device_unless_the_fit_options_name_one(device, fit, expected):
    from grafx.cli import build_parser
    from grafx.cli.fit_many import shared_fit_options

    args = build_parser().parse_args(["fit-many", "m.csv", "--out", "o", "--device", device])
    args.fit = fit
    options = shared_fit_options(args)
    assert options.device == expected  # a --device among the fit options wins
    assert (options.stems, options.target, options.out) == ((), "", "")
