"""Packed fits of automated songs: each song its own knots over its own length."""

import contextlib
import io

import pytest
import torch

from grafx.cli.fit import fit_job, prepare_fit
from grafx.cli.fit_many import fit_args_namespace
from grafx.errors import ConfigError
from grafx.fit.many import fit_packed, read_manifest, write_demo_songs
from grafx.fit.many.pack import PackedSong, sample_grid

pytestmark = pytest.mark.usefixtures("one_thread")

RATE = 8000
FIT = (
    "--steps",
    "3",
    "--crop",
    "0.25",
    "--warmup",
    "0.05",
    "--sample-rate",
    str(RATE),
    "--dtype",
    "float64",
)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Two songs of different lengths (0.4 s and 0.6 s)."""
    chosen = []
    for duration in (0.4, 0.6):
        folder = tmp_path_factory.mktemp(f"songs{duration}")
        chosen.append(read_manifest(write_demo_songs(folder, 1, RATE, duration))[0])
    return chosen


def _jobs(songs, tmp_path, name, automations):
    with contextlib.redirect_stdout(io.StringIO()):
        return [
            prepare_fit(fit_args_namespace(s, str(tmp_path / name / str(i)), FIT + tuple(extra)))
            for i, (s, extra) in enumerate(zip(songs, automations, strict=True))
        ]


# Both songs automate the EQ, each with its own knots over its own length; the smoothness
# penalty is off here: total variation is not differentiable at a flat curve, so float rounding
# (a batched processor sums in another order) can flip its sign and Adam would amplify that.
AUTOMATED = [
    ("--automate", "eq,edge_gate", "--knots-every", "0.2", "--automation-weight", "0"),
    ("--automate", "eq,gain_pan,edge_gate", "--knots-every", "0.15", "--automation-weight", "0"),
]


def test_a_packed_automated_fit_equals_fitting_song_by_song(songs, tmp_path):
    alone = [fit_job(job) for job in _jobs(songs, tmp_path, "alone", AUTOMATED)]
    jobs = _jobs(songs, tmp_path, "packed", AUTOMATED)
    assert [job.timeline.num_knots for job in jobs] == [3, 5]  # own knots over own length
    together = fit_packed([PackedSong(**job.fit_arguments()) for job in jobs])
    for a, p in zip(alone, together, strict=True):
        assert p.steps == a.steps == 3
        torch.testing.assert_close(p.history, a.history, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(p.parameters, a.parameters, rtol=1e-9, atol=1e-10)
    curve = together[1].parameters["gain_pan"]["log_gain"]
    assert curve.shape[-1] == 5 and not torch.equal(curve[..., 0], curve[..., -1])


def test_each_song_of_a_pack_has_its_own_smoothness_penalty(songs, tmp_path):
    plan = [
        ("--automate", "gain_pan", "--knots-every", "0.2"),
        ("--automate", "gain_pan", "--knots-every", "0.15"),
    ]
    alone = [fit_job(job) for job in _jobs(songs, tmp_path, "alone3", plan)]
    jobs = _jobs(songs, tmp_path, "packed3", plan)
    together = fit_packed([PackedSong(**job.fit_arguments()) for job in jobs])
    for a, p in zip(alone, together, strict=True):
        torch.testing.assert_close(p.history, a.history, rtol=1e-6, atol=1e-9)


def test_a_static_song_packs_with_an_automated_one(songs, tmp_path):
    plan = [("--automate", "gain_pan", "--automation-weight", "0"), ()]
    alone = [fit_job(job) for job in _jobs(songs, tmp_path, "alone2", plan)]
    jobs = _jobs(songs, tmp_path, "packed2", plan)
    together = fit_packed([PackedSong(**job.fit_arguments()) for job in jobs])
    for a, p in zip(alone, together, strict=True):
        torch.testing.assert_close(p.parameters, a.parameters, rtol=1e-9, atol=1e-10)
    assert together[1].parameters["gain_pan"]["log_gain"].ndim == 2  # stays static


def test_the_sample_grid_holds_samples_and_block_centres():
    timeline, seconds = sample_grid(10, 4.0, blocks=[4])
    halves = sorted(set(range(0, 20, 2)) | {3, 11, 19})  # centres 1.5, 5.5, 9.5 samples
    assert timeline.knot_times == tuple(h / 8.0 for h in halves)
    assert torch.equal(seconds, torch.tensor(timeline.knot_times, dtype=torch.float64))
    with pytest.raises(ConfigError, match="too long to pack"):
        sample_grid(4096, 44100.0, dtype=torch.float16)
