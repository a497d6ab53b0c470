"""The pruning job in the library: options checked up front, resume only of the same job,
logging instead of printing, progress before the first ranking, and one round at a time."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import torch

from grafx.cli import main
from grafx.errors import ConfigError
from grafx.io import save_graph
from grafx.io.audio import write_audio
from grafx.losses import MixLoss
from grafx.presets import build_mixing_console, console_parameters, console_processors
from grafx.prune import PruneOptions, PruneState, prune_graph, prune_round, run_prune
from grafx.prune.search import PruneConfig, search_result, start_search

CHAIN = ["imager", "gain_pan"]
RATE = 16000


def _console():
    G, _ = build_mixing_console(2, chain=CHAIN)
    processors = console_processors(CHAIN)
    parameters = console_parameters(G, processors, RATE, {"track0/gain_pan": {"gain_db": -6.0}})
    x = torch.randn(2, 2, 8192, generator=torch.Generator().manual_seed(0)) * 0.2
    return G, processors, parameters, x, 0.5 * x[0] + x[1]


@pytest.fixture
def fit_dir(tmp_path):
    G, processors, parameters, x, target = _console()
    folder = tmp_path / "fit"
    folder.mkdir()
    stems = []
    for k in range(2):
        write_audio(folder / f"s{k}.wav", x[k], RATE)
        stems.append(str(folder / f"s{k}.wav"))
    write_audio(folder / "target.wav", target, RATE)
    save_graph(G, folder / "graph.json", parameters, processors=processors)
    inputs = {"stems": stems, "target": str(folder / "target.wav"), "align": "refuse"}
    (folder / "metrics.json").write_text(json.dumps({"sample_rate": RATE, "inputs": inputs}))
    return folder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tolerance": -0.1}, "--tolerance must be >= 0, got -0.1"),
        ({"tolerance": float("nan")}, "--tolerance must be a finite number"),
        ({"band_tolerance": float("inf")}, "--band-tolerance must be a finite number"),
        ({"rank_seconds": -1.0}, "--rank-seconds must be >= 0"),
        ({"method": "greedy"}, "--method must be one of brute, drywet, hybrid, got 'greedy'"),
        ({"tolerance_mode": "percent"}, "--tolerance-mode must be one of relative, absolute"),
        ({"rounds": 0}, "--rounds must be >= 1, got 0"),
        ({"finetune_steps": 2.5}, "--finetune-steps must be a whole number"),
        ({"seed": 2**64}, "--seed must be <= 9223372036854775807"),
        ({"seed": -1}, "--seed must be >= 0"),
        ({"dtype": "float16"}, "--dtype must be one of float32, float64"),
        ({"out": ""}, "--out: an empty folder name"),
        ({"out": "fit/"}, "that is the fit's own folder"),
        ({"fit_dir": " "}, "FIT_DIR: an empty folder name"),
    ],
)
def test_options_are_checked_when_made_naming_the_option(change, message, tmp_path):
    options = {"fit_dir": tmp_path / "fit", "out": tmp_path / "pruned"}
    if "out" in change:
        change = {"out": str(tmp_path / change["out"]) if change["out"] else ""}
    with pytest.raises(ConfigError) as error:
        PruneOptions(**{**options, **change})
    assert message in str(error.value)


def test_the_search_config_follows_the_options(tmp_path):
    options = PruneOptions(tmp_path / "a", tmp_path / "b", tolerance=0.2, rank_seconds=0.5)
    config = options.search_config(16000)
    assert (config.tolerance, config.rank_samples) == (0.2, 8000)
    config.check()  # the options make a valid search


def test_the_job_logs_and_does_not_print(fit_dir, tmp_path, capsys, caplog):
    options = PruneOptions(fit_dir, tmp_path / "pruned", rounds=1, finetune_steps=0)
    with caplog.at_level(logging.INFO, logger="grafx"):
        job = run_prune(options)
    assert capsys.readouterr().out == ""
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"grafx prune: reading the fit in {fit_dir}/ ..."
    assert any(m.startswith("round 1: removed") for m in messages)
    metrics = json.loads((tmp_path / "pruned" / "metrics.json").read_text())
    assert metrics["loss_after"] == job.result.loss_after
    assert metrics["options"]["rounds"] == 1 and metrics["seed"] == 0
    assert metrics["fingerprint"]["stems"][0]["name"] == "s0.wav"
    assert job.removals[0] == "type,removed,before,rate"


def test_the_first_ranking_says_so_before_it_starts(fit_dir, tmp_path, capsys):
    argv = ["prune", str(fit_dir), "--out", str(tmp_path / "p"), "--rounds", "1"]
    assert main([*argv, "--finetune-steps", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(out) if "measuring the cost of" in line)
    assert out[first] == "prune round 1: measuring the cost of 4 candidate(s), one render each"
    assert first < next(i for i, line in enumerate(out) if line.startswith("round 1:"))


def _refused(argv, capsys) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--restart or another --out" in err
    return err


def test_a_resume_with_other_options_or_files_is_refused(fit_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    argv = ["prune", str(fit_dir), "--out", str(out), "--finetune-steps", "1", "--quiet"]
    assert main([*argv, "--rounds", "1", "--tolerance", "0.05"]) == 0
    capsys.readouterr()
    err = _refused([*argv, "--rounds", "1", "--tolerance", "0.1"], capsys)
    assert "prune_options.tolerance was 0.05, now 0.1" in err
    err = _refused([*argv, "--tolerance", "0.05", "--method", "brute"], capsys)
    assert "prune_options.method was 'hybrid', now 'brute'" in err
    err = _refused([*argv, "--tolerance", "0.05", "--seed", "3"], capsys)
    assert "prune_options.seed was 0, now 3" in err
    # more rounds continue the same search
    assert main([*argv, "--rounds", "2", "--tolerance", "0.05"]) == 0
    assert "resuming after round 1" in capsys.readouterr().out
    # a stem whose content changed
    write_audio(fit_dir / "s1.wav", torch.zeros(2, 8192), RATE)
    err = _refused([*argv, "--rounds", "2", "--tolerance", "0.05"], capsys)
    assert "stems[1].sha256 was" in err
    # --restart starts afresh with the new files and options (also after a killed restart)
    (out / ".state.removing").mkdir()
    assert main([*argv, "--rounds", "1", "--tolerance", "0.1", "--restart"]) == 0
    assert "resuming" not in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tolerance"] == 0.1 and len(metrics["rounds"]) == 1


def test_a_state_without_a_fingerprint_is_refused(fit_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    argv = ["prune", str(fit_dir), "--out", str(out), "--rounds", "1", "--finetune-steps", "0"]
    assert main([*argv, "--quiet"]) == 0
    (out / "state" / "fingerprint.json").unlink()
    capsys.readouterr()
    assert "a prune state of an older grafx" in _refused([*argv, "--quiet"], capsys)


def test_rounds_one_at_a_time_equal_prune_graph():
    G, processors, parameters, x, target = _console()
    config = PruneConfig(tolerance=0.05, rounds=2, finetune_steps=2)
    whole = prune_graph(G, processors, parameters, x, target, config, loss_fn=MixLoss(RATE))
    context, state = start_search(
        G, processors, parameters, x, target, config, loss_fn=MixLoss(RATE)
    )
    assert isinstance(state, PruneState) and state.rounds == []
    outcomes = []
    while len(state.rounds) < config.rounds and not state.done:
        outcomes.append(prune_round(state, context))
    stepped = search_result(state, context)
    assert stepped.removed == whole.removed and stepped.loss_after == whole.loss_after
    assert [o.record for o in outcomes] == [
        {**r, "seconds": o.record["seconds"]} for r, o in zip(whole.rounds, outcomes, strict=True)
    ]
    assert [n for o in outcomes for n in o.removed] == whole.removed


def test_the_library_does_not_import_the_command_line():
    code = (
        "import sys, grafx.prune, grafx.prune.job\n"
        "assert not [m for m in sys.modules if m.startswith('grafx.cli')], 'grafx.cli imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
