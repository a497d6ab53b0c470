"""The settings of a fit job and of a prediction job, checked once before anything runs.

:class:`FitOptions` holds every setting of ``grafx fit`` (its fields are named as the command's
options, ``--gain-staging`` being ``gain_staging``); :func:`grafx.fit.run.run_fit` runs one.
:class:`PredictOptions` holds those of ``grafx predict``. :meth:`FitOptions.validate` refuses a
bad value with a :class:`~grafx.errors.ConfigError` whose message names the option as the
command line spells it (``--steps must be >= 1, got -5``), so that a library caller and a
command get the same one-line error.

Example:
    >>> options = FitOptions(stems=["a.wav", "b.wav"], target="mix.wav", out="fit", steps=200)
    >>> options.validate()
    >>> FitOptions(stems=["a.wav"], target="mix.wav", out="fit", steps=-5).validate()
    Traceback (most recent call last):
    ...
    grafx.errors.ConfigError: --steps must be >= 1, got -5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grafx.errors import ConfigError
from grafx.fit.recipe import GAIN_STAGING_WEIGHT, LR, WARMUP_SECONDS
from grafx.losses import DEFAULT_LOSS, LOSSES

__all__ = [
    "FitOptions",
    "PredictOptions",
    "ALIGN_MODES",
    "DTYPES",
    "KNOTS_EVERY",
    "AUTOMATION_WEIGHT",
    "MAX_SEED",
    "MAX_SAMPLE_RATE",
    "MAX_LR",
    "check_device",
]

#: Seeds: what numpy and torch both take.
MAX_SEED = 2**63 - 1
#: Sample rates a job accepts, in Hz.
MAX_SAMPLE_RATE = 768_000
#: Largest learning rate (far above any that fits).
MAX_LR = 10.0
#: What to do with stems and target of different lengths.
ALIGN_MODES = ("refuse", "pad", "trim")
#: The precisions a job computes in.
DTYPES = ("float32", "float64")
#: Default seconds between the knots of automation curves (``--knots-every``).
KNOTS_EVERY = 0.5
#: Default weight of the automation curves' total-variation penalty (``--automation-weight``).
AUTOMATION_WEIGHT = 1e-3
#: The console ``grafx fit`` builds (:data:`grafx.mixing.console.CONSOLE_PRESETS`; ``--console``).
DEFAULT_CONSOLE = "peak"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _at_least(name: str, value: Any, low: float, kind: type = int) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not (ok and math.isfinite(value) and value >= low):
        raise ConfigError(f"{_flag(name)} must be >= {low:g}, got {value!r}")


def _above(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and low < value <= high):
        upper = "" if high == math.inf else f" and at most {high:g}"
        raise ConfigError(f"{_flag(name)} must be above {low:g}{upper}, got {value!r}")


def _within(name: str, value: Any, low: int, high: int) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not (ok and low <= value <= high):
        raise ConfigError(f"{_flag(name)} must be from {low} to {high}, got {value!r}")


def _choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{_flag(name)} must be one of {', '.join(choices)}, got {value!r}")


def check_device(device: Any, dtype: Any = "float32") -> None:
    """Refuse a device that does not exist here (or ``meta``, which holds no audio) and an
    unknown dtype (:class:`~grafx.errors.ConfigError`, naming ``--device``/``--dtype``)."""
    from grafx.device import resolve_device

    if resolve_device(device).type == "meta":
        raise ConfigError("--device meta holds no audio (shapes only); use cpu or cuda")
    _choice("dtype", str(dtype).removeprefix("torch."), DTYPES)


@dataclass
class FitOptions:
    """Every setting of a fit (``grafx fit``); defaults are the command's.

    Attributes:
        stems: the stem files, one per track (or per ``in`` node of ``graph``), in order.
        target: the mix to match.
        out: the output folder (written as ``grafx fit`` writes it; it holds the checkpoint).
        graph: a graph file to fit instead of a new console (``None``: a console).
        buses: subgroup buses of the console, stems spread in order (not with ``groups``).
        groups: a groups file (``{"stem": "group"}``): one bus per group.
        master: the console's master strip, console types in signal order (e.g. ``("eq",
            "compressor", "limiter")``) between the summed mix and ``out``; empty: none. A
            master limiter starts at the target's peak level (its gain learns only where the
            mix reaches its ceiling).
        console: the console a fit builds (not with ``graph``), a name in
            :data:`grafx.mixing.console.CONSOLE_PRESETS`: ``"peak"`` (the default: its
            compressors follow each channel's peak envelope, as plugin compressors) or
            ``"paper"`` (the mixing-graphs paper's console; always with ``init``, whose
            predictors are trained on it).
        steps, minutes: the step and time budgets; the fit ends at whichever comes first.
        patience: stop when the smoothed loss has not improved for this many steps.
        lr: the learning rate.
        crop: seconds rendered per step, warm-up included (``None``: the recipe's, or the
            whole audio if shorter).
        warmup: leading seconds of each crop that are not scored.
        gain_staging: weight of the gain-staging regulariser (0: off).
        sparsity: weight of the gate L1 penalty, ramped from 0 over the fit (0: off).
        sample_rate: the working rate in Hz (``None``: the recipe's, or the first stem's if
            lower).
        no_resample: refuse files at another rate instead of resampling them.
        align: stems and target of different lengths: ``refuse``, zero-``pad`` or ``trim``.
        loss: the objective's name in :data:`grafx.losses.LOSSES`.
        automate: node types whose settings become curves over time (empty: a static fit).
        knots_every: seconds between the knots of automation curves.
        automation_weight: weight of the curves' total-variation penalty (0: off).
        init: a predictor model (file or shipped name) to start from instead of neutral
            settings (:func:`grafx.fit.run.run_fit` takes its ``initial_parameters``).
        seed: the random seed.
        restart: ignore an existing checkpoint in ``out``.
        checkpoint_every: steps between checkpoints.
        progress: show progress (a bar on a terminal, log lines elsewhere).
        device: where to compute (``"auto"``: CUDA when usable, else the CPU).
        dtype: ``"float32"`` or ``"float64"``.
    """

    stems: Sequence[str] = ()
    target: str = ""
    out: str = ""
    graph: str | None = None
    buses: int = 0
    groups: str | None = None
    master: Sequence[str] = field(default_factory=tuple)
    console: str = DEFAULT_CONSOLE
    steps: int = 12000
    minutes: float = 10.0
    patience: int | None = None
    lr: float = LR
    crop: float | None = None
    warmup: float = WARMUP_SECONDS
    gain_staging: float = GAIN_STAGING_WEIGHT
    sparsity: float = 0.0
    sample_rate: int | None = None
    no_resample: bool = False
    align: str = "refuse"
    loss: str = DEFAULT_LOSS
    automate: Sequence[str] = field(default_factory=tuple)
    knots_every: float = KNOTS_EVERY
    automation_weight: float = AUTOMATION_WEIGHT
    init: str | None = None
    seed: int = 0
    restart: bool = False
    checkpoint_every: int = 50
    progress: bool = True
    device: str = "auto"
    dtype: str = "float32"

    @property
    def built_console(self) -> str | None:
        """The console the fit builds: ``console``, but the paper's with ``init`` (the
        predictors are trained on it), and ``None`` with ``graph``."""
        if self.graph is not None:
            return None
        return "paper" if self.init is not None else self.console

    def validate(self, files: bool = True) -> None:
        """Check every setting; ``files=False`` skips ``stems``/``target``/``out`` (the settings
        shared by the songs of ``grafx fit-many``, whose files come from its manifest).

        Raises:
            ConfigError: the first bad setting, named as the command line spells it.
        """
        if files:
            _check_files(self.stems, self.target, self.out)
        self._check_numbers()
        _choice("align", self.align, ALIGN_MODES)
        _choice("loss", self.loss, sorted(LOSSES))
        if isinstance(self.automate, str) or not all(
            isinstance(t, str) and t for t in self.automate
        ):
            raise ConfigError(f"--automate must be a list of node types, got {self.automate!r}")
        if self.graph is not None and (self.groups is not None or self.buses):
            raise ConfigError("--groups and --buses build a console; they do not apply to --graph")
        if self.groups is not None and self.buses:
            raise ConfigError("--buses and --groups: give one of them, not both")
        self._check_master()
        if files and self.graph is None and self.buses > len(self.stems):
            raise ConfigError(
                f"--buses {self.buses}: more buses than stems ({len(self.stems)}); give at most "
                f"{len(self.stems)}"
            )
        check_device(self.device, self.dtype)

    def _check_master(self) -> None:
        from grafx.mixing.console import check_master_chain, check_preset

        if isinstance(self.master, str) or not all(isinstance(t, str) and t for t in self.master):
            raise ConfigError(f"--master must be a list of node types, got {self.master!r}")
        if self.master and self.graph is not None:
            raise ConfigError("--master builds a console; it does not apply to --graph")
        try:
            check_master_chain(self.master)
        except ConfigError as error:
            raise ConfigError(f"--master: {error}") from None
        try:
            check_preset(self.console)
        except ConfigError as error:
            raise ConfigError(f"--console: {error}") from None

    def _check_numbers(self) -> None:
        _at_least("steps", self.steps, 1)
        _above("minutes", self.minutes)
        if self.patience is not None:
            _at_least("patience", self.patience, 1)
        _above("lr", self.lr, 0.0, MAX_LR)
        _at_least("warmup", self.warmup, 0, float)
        if self.crop is not None:
            _above("crop", self.crop)
            if self.crop <= self.warmup:
                raise ConfigError(
                    f"--crop {self.crop:g} s must be longer than --warmup {self.warmup:g} s"
                )
        _at_least("buses", self.buses, 0)
        _at_least("gain_staging", self.gain_staging, 0, float)
        _at_least("sparsity", self.sparsity, 0, float)
        if self.sample_rate is not None:
            _within("sample_rate", self.sample_rate, 1, MAX_SAMPLE_RATE)
        _above("knots_every", self.knots_every)
        _at_least("automation_weight", self.automation_weight, 0, float)
        _within("seed", self.seed, 0, MAX_SEED)
        _at_least("checkpoint_every", self.checkpoint_every, 1)

    def as_record(self) -> dict[str, Any]:
        """The settings as JSON values (for ``metrics.json``)."""
        record: dict[str, Any] = {}
        for key, value in vars(self).items():
            if isinstance(value, (tuple, list)):
                value = list(value)
            elif not isinstance(value, (str, int, float, bool, type(None))):
                value = str(value)
            record[key] = value
        return record


def _check_files(stems: Sequence[str], target: str, out: str) -> None:
    if isinstance(stems, str) or not stems:
        raise ConfigError("--stems: give one audio file per stem")
    if not str(target).strip():
        raise ConfigError("--target: give the mix to match")
    if not str(out).strip():
        raise ConfigError("--out: an empty folder name; give a folder (e.g. --out fit-output)")


@dataclass
class PredictOptions:
    """Every setting of ``grafx predict`` (a console's parameters from a trained predictor).

    Attributes:
        stems, target, out: the stem files, the mix to match and the output folder.
        model: a model file or the name of a shipped model.
        buses, groups: subgroup buses, or a groups file (one bus per group).
        bounded: keep every setting inside the ranges the model was trained in.
        sample_rate, no_resample, align: as in :class:`FitOptions`.
        report: draw ``report.png``.
        device, dtype: as in :class:`FitOptions`.
    """

    stems: Sequence[str] = ()
    target: str = ""
    out: str = ""
    model: str = "console"
    buses: int = 0
    groups: str | None = None
    bounded: bool = False
    sample_rate: int | None = None
    no_resample: bool = False
    align: str = "refuse"
    report: bool = True
    device: str = "auto"
    dtype: str = "float32"

    def validate(self) -> None:
        """Check every setting (:class:`~grafx.errors.ConfigError` naming the option)."""
        _check_files(self.stems, self.target, self.out)
        if not str(self.model).strip():
            raise ConfigError("--model: give a model file or a shipped model's name")
        _at_least("buses", self.buses, 0)
        if self.groups is not None and self.buses:
            raise ConfigError("--buses and --groups: give one of them, not both")
        if self.sample_rate is not None:
            _within("sample_rate", self.sample_rate, 1, MAX_SAMPLE_RATE)
        _choice("align", self.align, ALIGN_MODES)
        check_device(self.device, self.dtype)
