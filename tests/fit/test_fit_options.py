"""FitOptions / PredictOptions: every bad setting is refused once, up front, in one line that
names the option as the command line spells it; grafx fit's arguments map onto them."""

import pytest

from grafx.cli import build_parser
from grafx.cli.fit import fit_options
from grafx.errors import ConfigError
from grafx.fit.options import MAX_SEED, FitOptions, PredictOptions
from grafx.fit.recipe import LR
from grafx.fit.run import run_fit

FILES = {"stems": ["a.wav", "b.wav"], "target": "mix.wav", "out": "fit"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": -5}, "--steps must be >= 1, got -5"),
        ({"steps": 2.5}, "--steps must be >= 1, got 2.5"),
        ({"minutes": 0}, "--minutes must be above 0, got 0"),
        ({"minutes": float("inf")}, "--minutes must be above 0, got inf"),
        ({"lr": 1e300}, r"--lr must be above 0 and at most 10, got 1e\+300"),
        ({"patience": 0}, "--patience must be >= 1, got 0"),
        ({"crop": 0.5, "warmup": 1.0}, "--crop 0.5 s must be longer than --warmup 1 s"),
        ({"warmup": -1.0}, "--warmup must be >= 0, got -1.0"),
        ({"gain_staging": float("nan")}, "--gain-staging must be >= 0, got nan"),
        ({"sample_rate": 10**9}, "--sample-rate must be from 1 to 768000, got 1000000000"),
        ({"seed": -1}, f"--seed must be from 0 to {MAX_SEED}, got -1"),
        ({"seed": 2**64}, f"--seed must be from 0 to {MAX_SEED}, got {2**64}"),
        ({"buses": 3}, r"--buses 3: more buses than stems \(2\); give at most 2"),
        ({"buses": 1, "groups": "g.json"}, "--buses and --groups: give one of them"),
        ({"graph": "g.json", "buses": 1}, "--groups and --buses build a console"),
        ({"align": "stretch"}, "--align must be one of refuse, pad, trim, got 'stretch'"),
        ({"loss": "l2"}, "--loss must be one of band, paper, got 'l2'"),
        ({"automate": "eq"}, "--automate must be a list of node types, got 'eq'"),
        ({"checkpoint_every": 0}, "--checkpoint-every must be >= 1, got 0"),
        ({"dtype": "float16"}, "--dtype must be one of float32, float64, got 'float16'"),
        ({"device": "meta"}, r"--device meta holds no audio \(shapes only\)"),
        ({"device": "gpu"}, "unknown device 'gpu'"),
        ({"stems": []}, "--stems: give one audio file per stem"),
        ({"out": " "}, "--out: an empty folder name"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_option(change, message):
    with pytest.raises(ConfigError, match=message):
        FitOptions(**{**FILES, **change}).validate()


def test_the_defaults_are_the_commands_and_valid():
    FitOptions(**FILES).validate()
    args = build_parser().parse_args(
        ["fit", "--stems", "a.wav", "b.wav", "--target", "mix.wav", "--out", "fit"]
    )
    assert fit_options(args) == FitOptions(
        stems=["a.wav", "b.wav"], target="mix.wav", out="fit", device="auto"
    )
    assert FitOptions().lr == LR and FitOptions().steps == 12000


def test_the_command_line_maps_every_option():
    argv = ["fit", "--stems", "a.wav", "--target", "m.wav", "--out", "o", "--steps", "7"]
    argv += ["--automate", "gain_pan, eq", "--quiet", "--seed", "3", "--no-resample"]
    argv += ["--dtype", "float64", "--device", "cpu", "--loss", "paper", "--restart"]
    options = fit_options(build_parser().parse_args(argv))
    assert options.automate == ("gain_pan", "eq") and options.progress is False
    assert (options.steps, options.seed, options.no_resample) == (7, 3, True)
    assert (options.dtype, options.device, options.loss, options.restart) == (
        "float64",
        "cpu",
        "paper",
        True,
    )
    record = options.as_record()
    assert record["automate"] == ["gain_pan", "eq"] and record["stems"] == ["a.wav"]


def test_run_fit_checks_before_it_creates_or_reads_anything(tmp_path):
    out = tmp_path / "fit"
    with pytest.raises(ConfigError, match="--steps must be >= 1"):
        run_fit(FitOptions(stems=["absent.wav"], target="absent.wav", out=str(out), steps=0))
    with pytest.raises(ConfigError, match="--init console: give the predictor's"):
        run_fit(FitOptions(stems=["absent.wav"], target="absent.wav", out=str(out), init="console"))
    assert not out.exists()


def test_predict_options_are_checked_too():
    PredictOptions(**FILES).validate()
    with pytest.raises(ConfigError, match="--align must be one of"):
        PredictOptions(**FILES, align="x").validate()
    with pytest.raises(ConfigError, match="--model: give a model file"):
        PredictOptions(**FILES, model="").validate()


def test_fit_many_checks_the_shared_options_without_files():
    from grafx.cli.common import CLIError
    from grafx.cli.fit_many import shared_fit_options

    args = build_parser().parse_args(["fit-many", "m.csv", "--out", "o", "--fit", "--buses 2"])
    assert shared_fit_options(args).buses == 2  # each song's stem count is checked by its fit
    args.fit = "--crop 0.5 --warmup 1"
    with pytest.raises(CLIError, match=r"--fit '--crop 0.5 --warmup 1': --crop 0.5 s must be"):
        shared_fit_options(args)
