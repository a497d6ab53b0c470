"""``grafx fit-many --automate TYPES --knots-every S --automation-weight W``: every song is an
automated fit, packed songs each with their own knots, equal to ``grafx fit`` song by song."""

import pytest
import torch

from grafx.cli import main
from grafx.fit.many import read_manifest, write_demo_songs
from grafx.io import load

pytestmark = pytest.mark.usefixtures("one_thread")

FIT = "--steps 3 --crop 0.25 --warmup 0.05 --sample-rate 8000 --seed 5"
AUTOMATE = ["--automate", "gain_pan", "--knots-every", "0.2", "--automation-weight", "0.01"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    return write_demo_songs(folder, 2, sample_rate=8000, duration=0.5)


def test_a_packed_automated_fit_many_equals_grafx_fit_song_by_song(manifest, tmp_path):
    out = tmp_path / "many"
    argv = ["fit-many", str(manifest), "--out", str(out), "--fit", FIT, "--quiet"]
    argv += ["--threads", "1", "--pack", "2", "--dtype", "float64", *AUTOMATE]
    assert main(argv) == 0
    for song in read_manifest(manifest):
        alone = tmp_path / "alone" / song.song_id
        fit = [
            "--threads",
            "1",
            "fit",
            "--stems",
            *song.stems,
            "--target",
            song.target,
            "--out",
            str(alone),
        ]
        fit += [*FIT.split(), "--quiet", "--dtype", "float64", *AUTOMATE]
        assert main(fit) == 0
        expected, packed = load(alone / "graph.json"), load(out / song.song_id / "graph.json")
        assert packed.timeline == expected.timeline
        assert packed.timeline.knot_times == (0.0, 0.2, 0.4, 0.5)
        curve = packed.parameters["gain_pan"]["log_gain"]
        assert curve.shape[-1] == 4 and not torch.equal(curve[..., 0], curve[..., -1])
        torch.testing.assert_close(packed.parameters, expected.parameters, rtol=1e-7, atol=1e-9)
        assert "automated settings" in (out / song.song_id / "settings.txt").read_text()


def test_automation_options_given_twice_or_unknown_are_refused(manifest, tmp_path, capsys):
    argv = ["fit-many", str(manifest), "--out", str(tmp_path / "x"), "--quiet"]
    assert main([*argv, "--fit=--steps 2 --knots-every=0.3", "--knots-every", "0.2"]) == 1
    assert "--knots-every is given to fit-many itself too" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # which types a song can automate depends on its console: each song's fit checks them
    out = tmp_path / "y"
    argv = ["fit-many", str(manifest), "--out", str(out), "--quiet", "--fit", FIT]
    assert main([*argv, "--automate", "nothing"]) == 1
    log = (out / "fit-many.log").read_text()
    assert log.count("failed: ConfigError: --automate nothing: 'nothing' cannot be automated") == 2
