"""Fingerprints of a fit: what it fitted, so that a checkpoint resumes only the same fit.

A fingerprint is a JSON dict. :func:`fit_fingerprint` describes what the fitting loop sees (a
digest of the sources and of the target, in order, and the options that change the result);
callers add what only they know (``FitConfig.fingerprint``: ``grafx fit`` records
the stem files, the target file, the graph file and its own options). :func:`first_difference`
names the first field in which two fingerprints differ, for a one-line refusal.

The step and time budgets (``steps``, ``minutes``, ``patience``) are not in it: a larger budget
continues a fit.

Example:
    >>> first_difference({"stems": ["a.wav", "b.wav"]}, {"stems": ["b.wav", "a.wav"]})
    "stems[0] was 'a.wav', now 'b.wav'"
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = [
    "RESULT_OPTIONS",
    "tensor_digest",
    "file_fingerprint",
    "fit_fingerprint",
    "first_difference",
]

#: :class:`~grafx.fit.FitConfig` fields that change a fit's result (the budgets do not).
RESULT_OPTIONS = (
    "lr",
    "final_lr",
    "optimizer",
    "weight_decay",
    "crop_len",
    "warmup_len",
    "crops_per_step",
    "seed",
    "min_delta",
    "lr_scale",
)


def tensor_digest(x: Tensor) -> str:
    """SHA-256 of a tensor's shape, dtype and values (hex)."""
    digest = hashlib.sha256(f"{tuple(x.shape)} {x.dtype}".encode())
    digest.update(x.detach().cpu().contiguous().reshape(-1).view(-1).numpy().tobytes())
    return digest.hexdigest()


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"name", "size", "sha256"}`` of a file (its name without the folder)."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def fit_fingerprint(sources: Tensor, target: Tensor, config: Any) -> dict[str, Any]:
    """What the fitting loop fits: the audio (digests, in source order) and the result-changing
    options of ``config``, plus the caller's ``FitConfig.fingerprint``."""
    options = dataclasses.asdict(config)
    return {
        **dict(getattr(config, "fingerprint", None) or {}),
        "source_audio": {"shape": list(sources.shape), "sha256": tensor_digest(sources)},
        "target_audio": {"shape": list(target.shape), "sha256": tensor_digest(target)},
        "options": {key: options[key] for key in RESULT_OPTIONS},
    }


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    """The first field in which ``new`` differs from ``old``, in words; ``None`` if equal."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in list(old) + [k for k in new if k not in old]:
            at = f"{where}.{key}" if where else str(key)
            if key not in new:
                return f"{at} was recorded, now absent"
            if key not in old:
                return f"{at} is new"
            found = first_difference(old[key], new[key], at)
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{where or 'value'} had {len(old)} entries, now {len(new)}"
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if old != new:
        return f"{where or 'value'} was {_short(old)}, now {_short(new)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:16] + "..." + text[-8:]
