import contextlib
import io

import pytest
import torch

from grafx.cli.fit import fit_job, prepare_fit
from grafx.cli.fit_many import fit_args_namespace
from grafx.errors import ParameterError
from grafx.fit.many import fit_packed, read_manifest, write_demo_songs
from grafx.fit.many.pack import PackedSong

pytestmark = pytest.mark.usefixtures("one_thread")

FIT_ARGS = ("--steps", "5", "--crop", "0.25", "--warmup", "0.05", "--sample-rate", "8000")


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    return read_manifest(write_demo_songs(folder, 3, sample_rate=8000, duration=0.5))


def jobs(songs, tmp_path, name):
    with contextlib.redirect_stdout(io.StringIO()):
        return [
            prepare_fit(fit_args_namespace(s, str(tmp_path / name / s.song_id), FIT_ARGS))
            for s in songs
        ]


def packed(job, sources=None):
    song = PackedSong(**job.fit_arguments())
    if sources is not None:
        song.sources = sources
    return song


def test_packed_fit_equals_fitting_song_by_song(songs, tmp_path):
    alone = [fit_job(job) for job in jobs(songs, tmp_path, "alone")]
    together = fit_packed([packed(job) for job in jobs(songs, tmp_path, "packed")])
    assert len(together) == len(alone)
    for a, p in zip(alone, together, strict=True):
        assert p.steps == a.steps == 5
        # Float rounding only: a batched processor call sums in another order than one per song.
        torch.testing.assert_close(p.history, a.history, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(p.parameters, a.parameters, rtol=1e-4, atol=1e-5)
    # The songs really were fitted independently: the parameters differ between songs.
    assert not torch.allclose(
        together[0].parameters["gain_pan"]["log_gain"],
        together[1].parameters["gain_pan"]["log_gain"],
    )


def test_packed_checkpoints_resume_like_an_uninterrupted_fit(songs, tmp_path):
    full = fit_packed([packed(job) for job in jobs(songs[:2], tmp_path, "full")])
    first = [packed(job) for job in jobs(songs[:2], tmp_path, "resumed")]

    def interrupt(step, loss):
        if step == 2:
            raise KeyboardInterrupt  # Ctrl-C mid-pack: every song checkpoints its finished steps

    first[0].callback = interrupt
    with pytest.raises(KeyboardInterrupt):
        fit_packed(first)
    second = jobs(songs[:2], tmp_path, "resumed")
    resumed = fit_packed([packed(job) for job in second])
    for f, r in zip(full, resumed, strict=True):
        assert r.steps == 5
        assert r.history == f.history
        torch.testing.assert_close(r.parameters, f.parameters, rtol=0, atol=0)


def test_a_failing_song_leaves_the_pack_and_the_others_go_on(songs, tmp_path):
    good = jobs(songs, tmp_path, "good")
    bad_stems = good[1].stems.clone()
    bad_stems[0, 0, 10] = float("nan")
    results = fit_packed([packed(good[0]), packed(good[1], bad_stems), packed(good[2])])
    assert isinstance(results[1], ParameterError) or "NaN" in str(results[1])
    alone = [fit_job(job) for job in jobs([songs[0], songs[2]], tmp_path, "alone2")]
    for p, a in zip((results[0], results[2]), alone, strict=True):
        torch.testing.assert_close(p.parameters, a.parameters, rtol=1e-4, atol=1e-5)


def nan_at(loss_fn, bad_calls):
    calls = []

    def loss(estimate, reference):
        calls.append(1)
        value = loss_fn(estimate, reference)
        return value * float("nan") if bad_calls(len(calls)) else value

    return loss


def test_a_nan_step_rolls_one_song_back_and_a_song_that_stays_nan_leaves_the_pack(songs, tmp_path):
    good = jobs(songs, tmp_path, "nan")
    pack = [packed(job) for job in good]
    pack[0].loss_fn = nan_at(pack[0].loss_fn, lambda c: c == 3)  # step 2 of song 0, once
    pack[1].loss_fn = nan_at(pack[1].loss_fn, lambda c: c >= 3)  # song 1 from step 2 on
    results = fit_packed(pack)
    first, second, third = results
    assert not isinstance(first, Exception) and first.steps == 5
    assert first.rollbacks == [
        {"step": 2, "problem": "the loss is nan", "to_step": 0, "lr_factor": 0.5}
    ]
    assert all(torch.isfinite(v).all() for v in first.parameters["gain_pan"].values())
    assert isinstance(second, ParameterError)
    assert str(second).startswith("fit step 0: the loss is nan; 3 rollback(s)")
    alone = fit_job(jobs([songs[2]], tmp_path, "nan-alone")[0])
    assert not isinstance(third, Exception) and third.rollbacks == []
    torch.testing.assert_close(third.parameters, alone.parameters, rtol=1e-4, atol=1e-5)


def test_each_song_of_a_pack_gets_its_own_gate_sparsity(songs, tmp_path):
    args = (*FIT_ARGS, "--sparsity", "0.5", "--minutes", "1e6")  # progress by steps only

    def jobs_with(name):
        with contextlib.redirect_stdout(io.StringIO()):
            return [
                prepare_fit(fit_args_namespace(s, str(tmp_path / name / s.song_id), args))
                for s in songs
            ]

    alone = [fit_job(job) for job in jobs_with("alone")]
    together = fit_packed([packed(job) for job in jobs_with("packed")])
    for a, p in zip(alone, together, strict=True):
        # every song's gates feel the sparsity pull, not only the first song's
        torch.testing.assert_close(p.history, a.history, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(p.parameters, a.parameters, rtol=1e-4, atol=1e-5)
