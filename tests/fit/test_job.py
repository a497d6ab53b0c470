import dataclasses
import inspect

import pytest
import torch

from grafx.fit import fit_parameters
from grafx.fit.job import finish_job, fit_job, log_done, prepare_job
from grafx.fit.many.pack import PackedSong
from grafx.fit.summary import format_summary
from grafx.presets import build_mixing_console, console_parameters, console_processors

RATE = 8000


def faders_job(tmp_path, lines, **options):
    chain = ["gain_pan"]
    G, sequence = build_mixing_console(2, chain=chain)
    processors = console_processors(chain)
    noise = torch.Generator().manual_seed(0)
    stems = 0.3 * torch.randn(2, 2, RATE // 2, generator=noise)
    settings = {"track0/gain_pan": {"gain_db": -6.0}, "track1/gain_pan": {"gain_db": 3.0}}
    hidden = console_parameters(G, processors, RATE, settings)
    from grafx.render.renderer import render_mix

    target = render_mix(G, processors, hidden, stems, sequence)
    job = prepare_job(
        tmp_path / "out",
        G,
        processors,
        stems,
        target,
        RATE,
        type_sequence=sequence,
        crop_seconds=None,
        header=["first line"],
        log=lines.append,
        progress=False,
        **options,
    )
    return job, hidden


def test_prepare_starts_from_the_neutral_console_and_logs_the_initial_loss(tmp_path):
    lines = []
    job, _ = faders_job(tmp_path, lines, steps=3, lr=0.05)
    assert lines == [
        "first line",
        "rendering the initial mix ...",
        f"loss before fit: {job.loss_before:.4f}",
    ]
    neutral = console_parameters(job.G, job.processors, RATE)
    torch.testing.assert_close(job.parameters, neutral, rtol=0, atol=0)
    # No crop: the whole audio per step and no warm-up; no EQ/reverb/delay: no gain staging.
    assert job.config.crop_len is None and job.config.warmup_len == 0
    assert job.config.steps == 3 and job.config.lr == 0.05 and job.penalties == {}
    expected = job.loss_fn(job.renderer(job.stems, job.parameters)[0], job.target)
    # measured by blocks in float64 (bounded memory): the whole-signal value up to rounding
    assert job.loss_before == pytest.approx(float(expected), rel=1e-6) and job.loss_before > 0
    assert not (tmp_path / "out").exists()  # nothing is written before the fit ends


def test_fit_arguments_are_fit_parameters_and_packed_song_alike(tmp_path):
    job, _ = faders_job(tmp_path, [], steps=1)
    names = list(job.fit_arguments())
    taken = list(inspect.signature(fit_parameters).parameters)
    assert names == taken[: len(names)] and taken[len(names) :] == ["overrides"]
    assert names == [f.name for f in dataclasses.fields(PackedSong)]


def test_finish_writes_the_outputs_and_the_fit_recovers_the_faders(tmp_path):
    lines = []
    job, hidden = faders_job(tmp_path, lines, steps=60, lr=0.05)
    result = fit_job(job)
    finished = finish_job(job, result, report=False, log=lines.append)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "fitted.wav",
        "graph.json",
        "initial.wav",
        "metrics.json",
        "settings.txt",
    ]
    assert finished.files == {
        "fitted": out / "fitted.wav",
        "initial": out / "initial.wav",
        "graph": out / "graph.json",
        "settings": out / "settings.txt",
        "metrics": out / "metrics.json",
    }
    settings = (out / "settings.txt").read_text()
    assert "(gain_pan)" in settings and "gain_db = " in settings
    assert finished.loss_after * 5 < job.loss_before
    assert finished.summary["loss_after"] == finished.loss_after
    assert finished.summary["steps"] == 60
    assert lines[-1] == (
        f"loss after fit:  {finished.loss_after:.4f} "
        f"({job.loss_before / finished.loss_after:.1f}x lower)"
    )
    assert lines[-2] == format_summary(finished.summary)
    fitted = result.parameters["gain_pan"]["log_gain"]
    torch.testing.assert_close(fitted, hidden["gain_pan"]["log_gain"], rtol=0, atol=0.1)
    elapsed = log_done(job, "fitted.wav", lines.append)
    assert lines[-2] == f"wrote fitted.wav to {out}/" and lines[-1] == f"done in {elapsed:.1f} s"


def test_finish_without_metrics_writes_no_metrics_and_logs_no_table(tmp_path):
    lines = []
    job, _ = faders_job(tmp_path, lines, steps=1)
    finished = finish_job(job, fit_job(job), report=False, metrics=False, log=lines.append)
    assert "metrics" not in finished.files and finished.summary == {}
    assert not (job.out / "metrics.json").exists()
    assert len(lines) == 4 and lines[-1].startswith("loss after fit:")


def test_sparsity_adds_the_ramped_gate_penalty_and_lowers_the_gates(tmp_path):
    from grafx.gates import node_gates
    from grafx.prune import GateSparsity

    plain, _ = faders_job(tmp_path / "plain", [], steps=20)
    sparse, _ = faders_job(tmp_path / "sparse", [], steps=20, sparsity=0.5)
    assert "sparsity" not in plain.penalties
    penalty = sparse.penalties["sparsity"]
    assert isinstance(penalty, GateSparsity) and penalty.weight == 0.5
    assert penalty.weight_at(0.0) == 0.0 and penalty.weight_at(1.0) == 0.5  # the paper's ramp
    fitted_plain, fitted_sparse = fit_job(plain), fit_job(sparse)
    assert len(fitted_sparse.penalty_history["sparsity"]) == 20
    gates_plain = node_gates(fitted_plain.parameters)["gain_pan"]
    gates_sparse = node_gates(fitted_sparse.parameters)["gain_pan"]
    assert bool((gates_sparse < gates_plain).all())
