import json

import numpy as np
import pytest
import soundfile as sf
import torch

from grafx.demo import (
    HIDDEN_SETTINGS,
    STEM_NAMES,
    hidden_node_settings,
    run_demo,
    synthesize_multitrack,
)
from grafx.io import load_graph

SHORT = {
    "duration": 1.5,
    "sample_rate": 16000,
    "crop_seconds": 1.0,
    "warmup_seconds": 0.5,
    "steps": 36,
    "lr": 0.1,
}


def quiet(_line):
    pass


def names(G) -> list[str]:
    """The console's track names, in track (``in`` node id) order."""
    inputs = [n for n in sorted(G.nodes) if G.nodes[n]["node_type"] == "in"]
    return [G.nodes[n]["name"].split("/")[0] for n in inputs]  # "drums/in" -> "drums"


def test_synthesis_is_deterministic_and_shaped():
    a, names = synthesize_multitrack(16000, 1.0, seed=0)
    b, _ = synthesize_multitrack(16000, 1.0, seed=0)
    c, _ = synthesize_multitrack(16000, 1.0, seed=1)
    assert names == list(STEM_NAMES) and a.shape == (4, 2, 16000) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a.abs().amax(dim=(1, 2)), torch.full((4,), 0.5))
    chords = names.index("chords")
    assert not torch.equal(a[chords, 0], a[chords, 1])  # the pad is stereo
    assert torch.equal(a[0, 0], a[0, 1])  # the drums are dual-mono


def test_short_demo_fits_the_hidden_mix(tmp_path):
    result = run_demo(tmp_path, progress=False, log=quiet, **SHORT)
    assert result.loss_after * 5 <= result.loss_before
    for name in STEM_NAMES:
        hidden, fitted = result.hidden[name], result.fitted[name]
        # Level can also be explained by the EQ and compressor; faders land within 2 dB.
        assert abs(fitted["gain_db"] - hidden["gain_db"]) < 2.0, name
        assert abs(fitted["pan"] - hidden["pan"]) < 0.08, name
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        "fitted.wav",
        "graph.json",
        "initial.wav",
        "metrics.json",
        "report.png",
        "settings.txt",
        *(f"stems/{n}.wav" for n in sorted(STEM_NAMES)),
        "target.wav",
    ]
    target, rate = sf.read(tmp_path / "target.wav", always_2d=True)
    assert rate == 16000 and target.shape == (24000, 2) and np.isfinite(target).all()
    G, parameters = load_graph(tmp_path / "graph.json")
    # metrics.json names the stems in track order (not the folder's), for grafx prune
    summary = json.loads((tmp_path / "metrics.json").read_text())
    folder = tmp_path.resolve()
    assert summary["inputs"]["stems"] == [str(folder / "stems" / f"{n}.wav") for n in names(G)]
    assert names(G) == list(STEM_NAMES) != sorted(STEM_NAMES)
    assert summary["inputs"]["target"] == str(folder / "target.wav")
    assert summary["sample_rate"] == 16000
    assert summary["loss"]["name"] == "band"  # the default objective, recorded
    assert summary["fitted"]["band_rms_db"] < summary["initial"]["band_rms_db"]
    assert G.number_of_nodes() == 33 and sorted(parameters) == sorted(
        ["eq", "compressor", "noisegate", "imager", "gain_pan", "delay", "reverb"]
    )


def test_faders_alone_are_recovered_closely(tmp_path):
    options = {**SHORT, "lr": 0.05, "steps": 60}  # faders alone: smaller, cheaper steps
    result = run_demo(
        tmp_path, chain=("gain_pan",), report=False, progress=False, log=quiet, **options
    )
    assert result.loss_after * 5 <= result.loss_before
    for name in STEM_NAMES:
        expected = HIDDEN_SETTINGS[name]["gain_pan"]
        assert result.fitted[name]["gain_db"] == pytest.approx(expected["gain_db"], abs=0.4)
        # 0.08: each fader also has its dry/wet gate, one more way to move level and balance
        assert result.fitted[name]["pan"] == pytest.approx(expected["pan"], abs=0.08)


def test_hidden_node_settings_names_each_track_node_of_the_chain():
    faders = hidden_node_settings(["gain_pan"])
    assert faders == {f"{n}/gain_pan": HIDDEN_SETTINGS[n]["gain_pan"] for n in STEM_NAMES}
    every = hidden_node_settings()
    assert every["chords/imager"] == {"width": 1.8} and "drums/imager" not in every
    assert len(every) == sum(len(per_type) for per_type in HIDDEN_SETTINGS.values())
