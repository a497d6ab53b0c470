"""What a fit job records to resume only the same fit, and how it recognises a finished one.

:func:`options_fingerprint` describes the files and the result-changing settings of a
:class:`~grafx.fit.options.FitOptions` (:mod:`grafx.fit.fingerprint`); it goes into every
checkpoint and ``metrics.json``. :func:`check_resume` compares it with the checkpoint in the
output folder before anything slow runs, and refuses another fit in one line that says what
differs and how to start afresh.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from grafx.errors import ConfigError, GraphFileError
from grafx.fit.checkpoint import checkpoint_exists, checkpoint_file, load_checkpoint
from grafx.fit.fingerprint import file_fingerprint, first_difference
from grafx.fit.loop import AFRESH
from grafx.fit.options import FitOptions
from grafx.io.atomic import remove_stale_temporaries

__all__ = [
    "FIT_OPTIONS",
    "FIT_FILES",
    "options_fingerprint",
    "check_resume",
    "finished_message",
]

#: :class:`~grafx.fit.options.FitOptions` settings that change the result (the step and time
#: budgets do not).
FIT_OPTIONS = (
    "buses",
    "gain_staging",
    "sparsity",
    "sample_rate",
    "no_resample",
    "align",
    "crop",
    "warmup",
    "loss",
    "init",
    "automate",
    "knots_every",
    "automation_weight",
)

#: The files a fit writes in its folder.
FIT_FILES = (
    "fitted.wav",
    "initial.wav",
    "graph.json",
    "metrics.json",
    "report.png",
    "settings.txt",
    "checkpoint.safetensors",
)


def _file(path: str) -> dict[str, Any]:
    """A file's fingerprint; a missing or irregular file is left for its reader to refuse."""
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return file_fingerprint(path)
    except OSError:
        pass
    return {"name": Path(path).name, "unreadable": True}


def _setting(options: FitOptions, key: str) -> Any:
    value = getattr(options, key)
    if key == "automate":  # recorded as the command line spells it
        return ",".join(value) if value else None
    return value


def options_fingerprint(options: FitOptions) -> dict[str, Any]:
    """The stems (name, size, SHA-256, in order), target, graph and groups files and the
    result-changing settings (:data:`FIT_OPTIONS`, ``master`` when given, ``console`` unless
    the paper's) of a fit."""
    fit_options = {key: _setting(options, key) for key in FIT_OPTIONS}
    if options.master:  # absent without a master strip, as in checkpoints made before it
        fit_options["master"] = ",".join(options.master)
    if options.built_console not in (None, "paper"):  # absent for the paper's console
        fit_options["console"] = options.built_console
    return {
        "stems": [_file(s) for s in options.stems],
        "target": _file(options.target),
        "graph": None if options.graph is None else _file(options.graph),
        "groups": None if options.groups is None else _file(options.groups),
        "fit_options": fit_options,
    }


def check_resume(out: Path, fingerprint: dict[str, Any], restart: bool) -> None:
    """Refuse to resume a checkpoint in ``out`` made by another fit (see the module docstring);
    removes the temporary files a killed run left first.

    Raises:
        ConfigError: the checkpoint's fingerprint differs from ``fingerprint``, or it is
            unreadable.
    """
    remove_stale_temporaries(out, FIT_FILES)
    checkpoint = out / "checkpoint"
    if restart:
        return
    if not checkpoint_exists(checkpoint):
        if (out / "checkpoint.json").is_file():
            raise ConfigError(
                f"{out / 'checkpoint.json'}: a checkpoint of an older grafx; {AFRESH}"
            )
        return
    try:
        recorded = load_checkpoint(checkpoint)["extra"].get("fingerprint") or {}
    except GraphFileError as error:
        raise ConfigError(f"{error}; {AFRESH}") from None
    mine = {k: recorded.get(k) for k in fingerprint}
    difference = first_difference(mine, fingerprint)
    if difference is not None:
        raise ConfigError(
            f"{checkpoint_file(checkpoint)}: this checkpoint is of another fit ({difference}); "
            f"{AFRESH}"
        )


def finished_message(out: Path, result: Any) -> str | None:
    """The line saying that the fit in ``out`` had already finished, if it had and its results
    are there (then nothing is written again); ``None`` otherwise."""
    if not getattr(result, "already_finished", False) or not (out / "metrics.json").is_file():
        return None
    reason = {"steps": "its step budget", "minutes": "its time budget", "patience": "early stop"}
    loss = f", loss {result.history[-1]:.4f}" if result.history else ""
    return (
        f"this fit already finished: {result.steps} steps ({reason.get(result.stop_reason)})"
        f"{loss}; its results are in {out}/. Give a larger --steps or --minutes to continue it, "
        "or --restart to fit again"
    )
