"""The settings of a pruning job (``grafx prune``), checked once, up front.

:class:`PruneOptions` holds every setting of ``grafx prune``; :func:`~grafx.prune.job.run_prune`
runs the job. Errors name the option as the command line spells it (``--tolerance must be >=
0``), so that the command can show them as they are.

Example:
    >>> options = PruneOptions("my-fit", "my-pruned", tolerance=0.05, rounds=2)
    >>> options.search_config(44100).rank_samples
    0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafx.errors import ConfigError
from grafx.prune.search import METHODS, ORDERS, REFERENCES, PruneConfig

__all__ = ["PruneOptions", "TOLERANCE_MODES", "RESULT_OPTIONS"]

TOLERANCE_MODES = ("relative", "absolute")
#: The options that change a pruning job's result (``rounds`` is a budget: more continues it).
RESULT_OPTIONS = (
    "tolerance",
    "tolerance_mode",
    "reference",
    "band_tolerance",
    "loudness_tolerance",
    "stft_tolerance",
    "band_rms_tolerance",
    "method",
    "order",
    "recover_steps",
    "rank_seconds",
    "sparsity",
    "finetune_steps",
    "seed",
    "dtype",
)
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class PruneOptions:
    """Every setting of a pruning job; checked when made (:class:`~grafx.errors.ConfigError`).

    Attributes:
        fit_dir: the output folder of ``grafx fit`` (``graph.json``, ``metrics.json``).
        out: the output folder (not ``fit_dir``); the search's state is kept in ``out/state``.
        tolerance: the loss increase allowed, ``>= 0`` (see ``tolerance_mode``).
        tolerance_mode: ``"relative"`` (loss at most ``(1 + tolerance) L0``) or
            ``"absolute"`` (at most ``L0 + tolerance``).
        reference: ``L0``: ``"given"`` (the fitted graph's loss) or ``"best"`` (the lowest seen).
        band_tolerance: dB a third-octave band's error may grow (``None``: no band check).
        loudness_tolerance: LU the integrated loudness may move (``None``: no check).
        stft_tolerance: relative increase of the STFT distance to the target allowed over the
            fitted mix's (``None``: no check).
        band_rms_tolerance: relative increase of the rms mid band error allowed over the fitted
            mix's (``None``: no check).
        method: ``"brute"``, ``"drywet"`` or ``"hybrid"``; order: ``"cost"`` or ``"gate"``.
        recover_steps: fine-tuning steps before each retry of a round that removed nothing
            (0: off).
        rank_seconds: seconds of the target's loudest stretch the cost ranking renders (0: all).
        sparsity: gate L1 penalty weight during fine-tuning (0: none).
        rounds: pruning rounds, at least 1; finetune_steps: fit steps per round.
        stems, target: audio files instead of those ``fit_dir/metrics.json`` names (``None``).
        seed: random seed of the fine-tuning, 0 to 2**63 - 1.
        restart: ignore (and remove) a saved search state in ``out``.
        progress: show progress (the ranking's and the fine-tuning's).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ... (see
            :func:`grafx.device.resolve_device`); dtype: ``"float32"`` or ``"float64"``.
    """

    fit_dir: str | Path
    out: str | Path
    tolerance: float = 0.01
    tolerance_mode: str = "relative"
    reference: str = "given"
    band_tolerance: float | None = 1.0
    loudness_tolerance: float | None = 0.5
    stft_tolerance: float | None = 0.05
    band_rms_tolerance: float | None = 0.05
    method: str = "hybrid"
    order: str = "cost"
    recover_steps: int = 50
    rank_seconds: float = 0.0
    sparsity: float = 1e-4
    rounds: int = 12
    finetune_steps: int = 500
    stems: tuple[str, ...] | None = None
    target: str | None = None
    seed: int = 0
    restart: bool = False
    progress: bool = True
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.stems is not None:
            object.__setattr__(self, "stems", tuple(str(s) for s in self.stems))
        self.check()

    def check(self) -> None:
        """Raise :class:`~grafx.errors.ConfigError` naming the first bad option."""
        if not str(self.fit_dir).strip():
            raise ConfigError("FIT_DIR: an empty folder name; give the --out folder of grafx fit")
        if not str(self.out).strip():
            raise ConfigError("--out: an empty folder name; give a folder (e.g. --out pruned)")
        if Path(self.out).resolve() == Path(self.fit_dir).resolve():
            raise ConfigError(
                f"--out {self.out}: that is the fit's own folder; prune writes metrics.json "
                "there too, so give another folder (e.g. --out pruned)"
            )
        for name in ("tolerance", "rank_seconds", "sparsity"):
            _number(name, getattr(self, name))
        for name in (
            "band_tolerance",
            "loudness_tolerance",
            "stft_tolerance",
            "band_rms_tolerance",
        ):
            if getattr(self, name) is not None:
                _number(name, getattr(self, name))
        for name, allowed in (
            ("tolerance_mode", TOLERANCE_MODES),
            ("reference", REFERENCES),
            ("method", METHODS),
            ("order", ORDERS),
            ("dtype", ("float32", "float64")),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{_flag(name)} must be one of {', '.join(allowed)}, got "
                    f"{getattr(self, name)!r}"
                )
        for name, low, high in (
            ("rounds", 1, None),
            ("finetune_steps", 0, None),
            ("recover_steps", 0, None),
            ("seed", 0, _MAX_SEED),
        ):
            _integer(name, getattr(self, name), low, high)
        if self.stems is not None and not self.stems:
            raise ConfigError("--stems: give at least one file")

    def search_config(self, sample_rate: int) -> PruneConfig:
        """The :class:`~grafx.prune.PruneConfig` of the search at ``sample_rate`` Hz."""
        return PruneConfig(
            tolerance=self.tolerance,
            tolerance_mode=self.tolerance_mode,
            reference=self.reference,
            method=self.method,
            order=self.order,
            rounds=self.rounds,
            finetune_steps=self.finetune_steps,
            recover_steps=self.recover_steps,
            sparsity=self.sparsity,
            rank_samples=round(self.rank_seconds * sample_rate),
            band_tolerance_db=self.band_tolerance,
            loudness_tolerance_lu=self.loudness_tolerance,
            stft_tolerance=self.stft_tolerance,
            band_rms_tolerance=self.band_rms_tolerance,
        )

    def result_options(self) -> dict[str, Any]:
        """The options that change the result (:data:`RESULT_OPTIONS`), for a fingerprint."""
        return {name: getattr(self, name) for name in RESULT_OPTIONS}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{_flag(name)} must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{_flag(name)} must be >= 0, got {value!r}")


def _integer(name: str, value: Any, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{_flag(name)} must be a whole number, got {value!r}")
    if value < low:
        raise ConfigError(f"{_flag(name)} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{_flag(name)} must be <= {high}, got {value}")
