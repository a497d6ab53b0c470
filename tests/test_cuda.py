"""grafx on a CUDA GPU, compared with the CPU: every processor, the engine, a fit, the CLI.

Every test here is marked ``cuda``: without a usable GPU it is skipped with the reason. The
device under test comes from the ``test_device`` fixture (``GRAFX_TEST_DEVICE``, default
``cuda``); ``GRAFX_TEST_DEVICE=cpu`` runs the same checks CPU against CPU, which is how their
logic is tested on machines without a GPU (``benchmarks/gpu_check.py --cpu-only``).

Tolerances: float32 on both sides; a GPU sums and rounds in another order (cuFFT, cuBLAS, other
reductions), so outputs are compared by relative error norm, ``|a - b| / |b|``: at most 1e-4
for outputs (the project's goal for a processor's CUDA output) and 1e-3 for gradients (which
go through one more round of the same sums, divided by small numbers in some recursions).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.device import move_tree
from grafx.fit import GraphRenderer, fit_parameters
from grafx.presets import build_mixing_console, console_parameters, console_processors

sys.path.insert(0, str(Path(__file__).parent / "processors"))
from test_contract import CASES, build, call, leaves, make_inputs, make_params  # noqa: E402

pytestmark = pytest.mark.cuda

OUTPUT_RTOL = 1e-4
GRAD_RTOL = 1e-3
RATE = 16000


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``|value - reference| / |reference|`` in float64 on the CPU (0 when both are 0)."""
    value, reference = value.detach().cpu().double(), reference.detach().cpu().double()
    scale = reference.norm()
    difference = (value - reference).norm()
    return float(difference / scale) if scale > 0 else float(difference)


def _run_case(name, make, channels, device):
    """Outputs, extras and gradients of one processor case on ``device`` (fresh seeds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FSM accuracy warnings: the same on both devices
        processor = build(name, make).to(device)
        batch, length = 3, 512
        inputs = [
            x.to(device).requires_grad_()
            for x in make_inputs(processor, batch, channels, length, torch.float32)
        ]
        params = move_tree(make_params(processor.parameter_size(), batch, torch.float32), device)
        for _, value in leaves(params):
            value.requires_grad_()
        outputs, extras = call(processor, inputs, params, length)
        loss = sum((y * torch.linspace(0, 1, y.shape[-1], device=device)).sum() for y in outputs)
        loss = loss + sum(e.sum() for e in extras.values())
        loss.backward()
    grads = {f"input{i}": x.grad for i, x in enumerate(inputs)}
    grads.update({key: value.grad for key, value in leaves(params)})
    return outputs, extras, grads


@pytest.mark.parametrize(("name", "make", "channels"), CASES)
def test_processor_forward_and_backward_equal_the_cpu(name, make, channels, test_device):
    torch.manual_seed(0)
    cpu = _run_case(name, make, channels, torch.device("cpu"))
    torch.manual_seed(0)
    dev = _run_case(name, make, channels, test_device)
    for k, (y_dev, y_cpu) in enumerate(zip(dev[0], cpu[0], strict=True)):
        assert y_dev.device.type == test_device.type, f"output {k} came back on {y_dev.device}"
        assert relative_error(y_dev, y_cpu) <= OUTPUT_RTOL, f"output {k}"
    for key, e_cpu in cpu[1].items():
        assert dev[1][key].device.type == test_device.type, key
        assert relative_error(dev[1][key], e_cpu) <= OUTPUT_RTOL, f"extra {key}"
    for key, g_cpu in cpu[2].items():
        g_dev = dev[2][key]
        assert g_dev is not None and g_dev.device.type == test_device.type, key
        assert relative_error(g_dev, g_cpu) <= GRAD_RTOL, f"gradient of {key}"


def _console(num_tracks=4, num_buses=2):
    G, sequence = build_mixing_console(num_tracks, num_buses)
    processors = console_processors()
    return G, sequence, processors, console_parameters(G, processors, RATE)


def _stems(num_tracks=4, seconds=1.0):
    generator = torch.Generator().manual_seed(1)
    length = int(RATE * seconds)
    envelope = torch.linspace(1, 0, length).square()
    return 0.2 * torch.randn(num_tracks, 2, length, generator=generator) * envelope


def test_console_render_equals_the_cpu(test_device):
    G, sequence, processors, parameters = _console()
    stems = _stems()
    with torch.no_grad():
        expected, _ = GraphRenderer(G, processors, sequence)(stems, parameters)
        renderer = GraphRenderer(G, console_processors(), sequence).to(test_device)
        mix, _ = renderer(stems.to(test_device), move_tree(parameters, test_device))
    assert mix.device.type == test_device.type
    assert relative_error(mix, expected) <= OUTPUT_RTOL


def test_a_fit_of_a_few_steps_matches_the_cpu(test_device):
    G, sequence, processors, parameters = _console(2, 0)
    stems = _stems(2)
    hidden = {t: dict(v) for t, v in parameters.items()}
    hidden["gain_pan"] = {**hidden["gain_pan"], "log_gain": hidden["gain_pan"]["log_gain"] - 0.7}
    with torch.no_grad():
        target, _ = GraphRenderer(G, processors, sequence)(stems, hidden)
    options = {"steps": 4, "crop_len": 4096, "warmup_len": 1024, "lr": 0.05, "progress": False}
    on_cpu = fit_parameters(
        G, processors, parameters, stems, target, None, None, sequence, **options
    )
    result = fit_parameters(
        G, console_processors(), move_tree(parameters, test_device), stems.to(test_device),
        target.to(test_device), None, None, sequence, **options,
    )  # fmt: skip
    assert result.steps == 4 and result.history[-1] < result.history[0]
    # The same crops, so the same first loss. Later losses drift apart by rounding only, but
    # Adam turns a gradient near 0 into a full step of either sign, so allow a few percent.
    assert abs(result.history[0] - on_cpu.history[0]) <= OUTPUT_RTOL * on_cpu.history[0]
    np.testing.assert_allclose(result.history, on_cpu.history, rtol=5e-2)
    for tree in result.parameters.values():
        for value in tree.values():
            assert value.device.type == test_device.type


def test_a_packed_fit_runs_on_the_device(test_device, tmp_path):
    from grafx.fit import FitConfig
    from grafx.fit.many.pack import PackedSong, fit_packed
    from grafx.losses import MixLoss

    songs = []
    for seed in range(2):
        G, sequence, processors, parameters = _console(2, 0)
        stems = _stems(2) * (1 + seed)
        config = FitConfig(steps=3, crop_len=4096, warmup_len=1024, lr=0.05, progress=False)
        songs.append(
            PackedSong(
                G, processors, move_tree(parameters, test_device), stems.to(test_device),
                (0.5 * stems.sum(0)).to(test_device), MixLoss(RATE), config, sequence,
            )
        )  # fmt: skip
    results = fit_packed(songs)
    for result in results:
        assert not isinstance(result, Exception), result
        assert result.steps == 3 and result.history[-1] < result.history[0]


def _grafx(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "grafx", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_render_of_a_saved_graph_file_equals_the_cpu(test_device, tmp_path):
    from grafx.io import save_graph

    G, _, processors, parameters = _console()
    save_graph(G, tmp_path / "graph.json", parameters, processors=processors)
    sources = []
    for i, stem in enumerate(_stems()):
        sources.append(tmp_path / f"s{i}.wav")
        sf.write(sources[-1], stem.T.numpy(), RATE, subtype="FLOAT")
    outputs = {}
    for device in ("cpu", str(test_device)):
        outputs[device] = tmp_path / f"mix-{device.replace(':', '')}.wav"
        result = _grafx(
            "render", tmp_path / "graph.json", "--sources", *sources,
            "-o", outputs[device], "--device", device,
        )  # fmt: skip
        assert "rendered" in result.stdout
    on_cpu, _ = sf.read(outputs["cpu"], dtype="float32")
    on_device, _ = sf.read(outputs[str(test_device)], dtype="float32")
    assert relative_error(torch.from_numpy(on_device), torch.from_numpy(on_cpu)) <= OUTPUT_RTOL


def test_fit_and_prune_commands_run_on_the_device(test_device, tmp_path):
    sources = []
    stems = _stems(2, seconds=0.5)
    for i, stem in enumerate(stems):
        sources.append(tmp_path / f"s{i}.wav")
        sf.write(sources[-1], stem.T.numpy(), RATE, subtype="FLOAT")
    sf.write(tmp_path / "mix.wav", (0.6 * stems.sum(0)).T.numpy(), RATE, subtype="FLOAT")
    fit = _grafx(
        "fit", "--stems", *sources, "--target", tmp_path / "mix.wav", "--steps", 3, "--quiet",
        "--out", tmp_path / "fit", "--device", test_device, "--sample-rate", RATE,
    )  # fmt: skip
    assert f"device: {test_device.type}" in fit.stdout
    pruned = _grafx(
        "prune", tmp_path / "fit", "--out", tmp_path / "pruned", "--rounds", 1,
        "--finetune-steps", 1, "--quiet", "--device", test_device,
    )  # fmt: skip
    assert "removed" in pruned.stdout
    assert (tmp_path / "pruned" / "pruned.wav").exists()
