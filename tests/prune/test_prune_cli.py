"""grafx prune on a grafx fit (or grafx demo) folder: outputs, resumption and bad input."""

from __future__ import annotations

import json

import pytest
import torch

from grafx.cli import main
from grafx.cli.common import load_model
from grafx.demo import run_demo
from grafx.fit import render_mix
from grafx.io import load_graph, save_graph
from grafx.io.audio import read_audio, write_audio
from grafx.losses import make_loss
from grafx.presets import build_mixing_console, console_parameters, console_processors

CHAIN = ["imager", "gain_pan"]


@pytest.fixture
def fit_dir(tmp_path):
    G, _ = build_mixing_console(2, chain=CHAIN)
    processors = console_processors(CHAIN)
    parameters = console_parameters(G, processors, 16000, {"track0/gain_pan": {"gain_db": -6.0}})
    x = torch.randn(2, 2, 8192, generator=torch.Generator().manual_seed(0)) * 0.2
    folder = tmp_path / "fit"
    folder.mkdir()
    stems = []
    for k in range(2):
        write_audio(folder / f"s{k}.wav", x[k], 16000)
        stems.append(str(folder / f"s{k}.wav"))
    write_audio(folder / "target.wav", 0.5 * x[0] + x[1], 16000)
    save_graph(G, folder / "graph.json", parameters, processors=processors)
    inputs = {"stems": stems, "target": str(folder / "target.wav"), "align": "refuse"}
    (folder / "metrics.json").write_text(json.dumps({"sample_rate": 16000, "inputs": inputs}))
    return folder


def test_prune_writes_its_outputs_and_resumes(fit_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    argv = ["prune", str(fit_dir), "--tolerance", "0.05", "--rounds", "1", "--out", str(out)]
    assert main([*argv, "--finetune-steps", "1", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json", "prune.png", "pruned.json", "pruned.wav", "removals.csv", "state",
    ]  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processors_before"] == 4 and 0 <= metrics["rho"] <= 1
    assert metrics["loss_after"] <= 1.05 * metrics["loss_before"]
    G, _ = load_graph(out / "pruned.json")
    assert G.number_of_nodes() == 7 - len(metrics["removed"])
    assert (out / "removals.csv").read_text().splitlines()[0] == "type,removed,before,rate"
    capsys.readouterr()
    assert main([*argv, "--finetune-steps", "1", "--quiet"]) == 0  # resumes: nothing left to do
    assert "resuming after round 1" in capsys.readouterr().out


def test_prune_bad_input(fit_dir, tmp_path, capsys):
    out = str(tmp_path / "o")
    for bad in ("-0.1", "nan"):
        with pytest.raises(SystemExit) as exit_info:
            main(["prune", str(fit_dir), "--tolerance", bad, "--out", out])
        assert exit_info.value.code == 2
        assert "--tolerance: must be a finite number >= 0" in capsys.readouterr().err
    for option in ("--band-tolerance", "--loudness-tolerance"):
        for bad in ("-1", "loud", "inf"):
            with pytest.raises(SystemExit) as exit_info:
                main(["prune", str(fit_dir), option, bad, "--out", out])
            assert exit_info.value.code == 2
            err = capsys.readouterr().err
            assert f"{option}: must be a" in err and "number" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prune", str(empty), "--out", out]) == 1
    assert "no fitted graph (graph.json)" in capsys.readouterr().err
    (fit_dir / "metrics.json").write_text("{}")
    assert main(["prune", str(fit_dir), "--out", out]) == 1
    assert "give them with --stems and --target" in capsys.readouterr().err


def test_prune_options_reach_the_search(fit_dir, tmp_path, capsys):
    out = tmp_path / "absolute"
    argv = ["prune", str(fit_dir), "--out", str(out), "--rounds", "1", "--finetune-steps", "0"]
    options = ["--tolerance", "0.02", "--tolerance-mode", "absolute", "--order", "gate"]
    options += ["--reference", "best"]
    assert main([*argv, *options, "--recover-steps", "2", "--sparsity", "0", "--quiet"]) == 0
    assert "tolerance 0.02 (absolute, reference best)" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tolerance_mode"] == "absolute" and metrics["order"] == "gate"
    assert metrics["reference"] == "best"
    assert metrics["loss_after"] <= metrics["loss_before"] + 0.02  # the absolute budget
    with pytest.raises(SystemExit):
        main([*argv, "--tolerance-mode", "percent"])
    assert "invalid choice: 'percent'" in capsys.readouterr().err


def test_a_demo_folder_prunes_as_it_is(tmp_path, capsys):
    demo = tmp_path / "demo"
    short = {"duration": 1.0, "sample_rate": 16000, "crop_seconds": None, "steps": 2}
    run_demo(demo, progress=False, report=False, log=lambda _line: None, **short)
    out = tmp_path / "pruned"
    argv = ["prune", str(demo), "--out", str(out), "--rounds", "1", "--finetune-steps", "0"]
    assert main([*argv, "--quiet"]) == 0
    assert "processors (rho" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    # the stems reached their own tracks: the pruned graph's loss on them is the one reported
    G, parameters = load_graph(out / "pruned.json")
    inputs = [n for n in sorted(G.nodes) if G.nodes[n]["node_type"] == "in"]
    names = [G.nodes[n]["name"].split("/")[0] for n in inputs]
    stems = torch.stack([read_audio(demo / "stems" / f"{n}.wav")[0] for n in names])
    target, _ = read_audio(demo / "target.wav")
    _, processors, _ = load_model(str(out / "pruned.json"))
    # scored with the loss the demo's fit used (the default), as its metrics.json records
    fitted = json.loads((demo / "metrics.json").read_text())["loss"]
    assert fitted["name"] == "band" and metrics["loss"] == fitted
    loss_fn = make_loss(fitted["name"], 16000)
    loss = float(loss_fn(render_mix(G, processors, parameters, stems), target))
    assert loss == pytest.approx(metrics["loss_after"], rel=1e-4)
    # the pruned, fitted and gain mixes side by side on the descriptors
    for column in ("gain_mix", "full", "pruned"):
        assert {"stft_distance", "band_rms_db", "band_max_db"} <= set(metrics[column])
    assert metrics["band_tolerance_db"] == 1.0 and metrics["loudness_tolerance_lu"] == 0.5


def test_prune_scores_with_the_loss_the_fit_recorded(fit_dir, tmp_path, capsys):
    argv = ["prune", str(fit_dir), "--rounds", "1", "--finetune-steps", "0", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0  # no loss recorded: an older fit
    assert "the paper's MixLoss (metrics.json names no loss" in capsys.readouterr().out
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["loss"]["name"] == "paper"
    summary = json.loads((fit_dir / "metrics.json").read_text())
    summary["loss"] = {"name": "band"}
    (fit_dir / "metrics.json").write_text(json.dumps(summary))
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "scored with the fit's loss 'band'" in out and "band_rms_db" in out
    assert "snr_db" not in out.replace("(snr_db, in metrics.json", "")
    summary["loss"] = {"name": "mel"}
    (fit_dir / "metrics.json").write_text(json.dumps(summary))
    assert main([*argv, "--out", str(tmp_path / "c")]) == 1
    assert "the fit used the loss {'name': 'mel'}" in capsys.readouterr().err


def test_rank_seconds_ranks_on_an_excerpt(fit_dir, tmp_path):
    out = tmp_path / "excerpt"
    argv = ["prune", str(fit_dir), "--out", str(out), "--rounds", "1", "--finetune-steps", "0"]
    assert main([*argv, "--rank-seconds", "0.25", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rank_samples"] == 4000  # 0.25 s at 16 kHz, of 8192 samples
    assert metrics["rounds"][0]["excerpt_renders"] == 4  # every processor ranked once
    with pytest.raises(SystemExit):
        main([*argv, "--rank-seconds", "-1"])


def test_the_stft_and_band_rms_tolerances_parse_and_are_recorded():
    from grafx.cli import build_parser
    from grafx.cli.prune import options_of

    parser = build_parser()
    args = parser.parse_args(["prune", "fit", "--out", "p"])
    options = options_of(args)
    assert (options.stft_tolerance, options.band_rms_tolerance) == (0.05, 0.05)
    assert options.recover_steps == 50
    args = parser.parse_args(
        ["prune", "fit", "--out", "p", "--stft-tolerance", "off", "--band-rms-tolerance", "0.2"]
    )
    config = options_of(args).search_config(16000)
    assert (config.stft_tolerance, config.band_rms_tolerance) == (None, 0.2)
    assert "stft_tolerance" in options_of(args).result_options()
