"""What ``grafx fit`` records to resume only the same fit, and how it reports a finished one.

:func:`fit_fingerprint_of_args` describes the files and the options of a ``grafx fit`` command
(:mod:`grafx.fit.fingerprint`); it goes into every checkpoint and ``metrics.json``.
:func:`check_resume` compares it with the checkpoint in the output folder before anything slow
runs, and refuses another fit in one line that says what differs and how to start afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grafx.cli.common import CLIError

#: ``grafx fit`` options that change the result (the step and time budgets do not).
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


#: The files ``grafx fit`` writes in its folder.
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
    import os
    import stat

    from grafx.fit.fingerprint import file_fingerprint

    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            return file_fingerprint(path)
    except OSError:
        pass
    return {"name": Path(path).name, "unreadable": True}


def fit_fingerprint_of_args(args: Any) -> dict[str, Any]:
    """The stems (name, size, SHA-256, in order), target, graph and groups files and the
    result-changing options of a ``grafx fit`` command."""
    return {
        "stems": [_file(s) for s in args.stems],
        "target": _file(args.target),
        "graph": None if args.graph is None else _file(args.graph),
        "groups": None if args.groups is None else _file(args.groups),
        "fit_options": {key: getattr(args, key, None) for key in FIT_OPTIONS},
    }


def check_resume(out: Path, fingerprint: dict[str, Any], restart: bool) -> None:
    """Refuse to resume a checkpoint in ``out`` made by another fit (see the module docstring).

    Raises:
        CLIError: the checkpoint's fingerprint differs from ``fingerprint``, or it is unreadable.
    """
    from grafx.errors import GraphFileError
    from grafx.fit.checkpoint import checkpoint_exists, checkpoint_file, load_checkpoint
    from grafx.fit.fingerprint import first_difference
    from grafx.fit.loop import AFRESH
    from grafx.io.atomic import remove_stale_temporaries

    remove_stale_temporaries(out, FIT_FILES)  # left by a killed run
    checkpoint = out / "checkpoint"
    if restart:
        return
    if not checkpoint_exists(checkpoint):
        if (out / "checkpoint.json").is_file():
            raise CLIError(f"{out / 'checkpoint.json'}: a checkpoint of an older grafx; {AFRESH}")
        return
    try:
        recorded = load_checkpoint(checkpoint)["extra"].get("fingerprint") or {}
    except GraphFileError as error:
        raise CLIError(f"{error}; {AFRESH}") from None
    mine = {k: recorded.get(k) for k in fingerprint}
    difference = first_difference(mine, fingerprint)
    if difference is not None:
        raise CLIError(
            f"{checkpoint_file(checkpoint)}: this checkpoint is of another fit ({difference}); "
            f"{AFRESH}"
        )


def report_finished(out: Path, result: Any, log=print) -> bool:
    """Log that the fit in ``out`` had already finished, if it had and its results are there;
    returns whether it did (then nothing is written again)."""
    if not getattr(result, "already_finished", False) or not (out / "metrics.json").is_file():
        return False
    reason = {"steps": "its step budget", "minutes": "its time budget", "patience": "early stop"}
    loss = f", loss {result.history[-1]:.4f}" if result.history else ""
    log(
        f"this fit already finished: {result.steps} steps ({reason.get(result.stop_reason)})"
        f"{loss}; its results are in {out}/. Give a larger --steps or --minutes to continue it, "
        "or --restart to fit again"
    )
    return True
