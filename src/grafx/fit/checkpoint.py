"""Fit checkpoints: tensors in safetensors, everything else in JSON; never pickle.

A checkpoint ``PATH`` is two files written atomically: ``PATH.safetensors`` (parameters as
``param/<type>/<key>`` and optimizer state as ``optim/<index>/<name>``) and ``PATH.json``
(format, version, step, loss history, parameter names, optimizer hyperparameters). The JSON
file is written last, so a checkpoint whose JSON exists is complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grafx.errors import GraphFileError
from grafx.io.files import check_header, write_file

FORMAT = "grafx-fit-checkpoint"
VERSION = 1


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Tensor]:
    """``{"eq": {"log_gain": t}}`` -> ``{"eq/log_gain": t}`` (nested dicts joined by ``/``)."""
    flat: dict[str, Tensor] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Tensor):
            flat[name] = value
        else:
            flat.update(flatten(value, f"{name}/"))
    return flat


def unflatten(flat: Mapping[str, Tensor]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def save_checkpoint(
    path: str | os.PathLike,
    parameters: Mapping[str, Tensor],
    optimizer: torch.optim.Optimizer,
    step: int,
    history: list[float],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint (see the module docstring).

    Args:
        path: checkpoint path without extension.
        parameters: flat ``{name: tensor}`` of the fitted parameters.
        optimizer: its state is saved (tensors) with its hyperparameters (JSON).
        step: number of steps done.
        history: loss of every step done.
        extra: JSON-serialisable fields to keep (e.g. the fit configuration).
    """
    from safetensors.torch import save

    path = Path(path)
    state = optimizer.state_dict()
    tensors = {f"param/{k}": v.detach().cpu().contiguous() for k, v in parameters.items()}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            value = value if isinstance(value, Tensor) else torch.tensor(value)
            tensors[f"optim/{index}/{name}"] = value.detach().cpu().contiguous()
    groups = [{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]
    document = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "history": [float(x) for x in history],
        "parameter_names": list(parameters),
        "param_groups": groups,
        "extra": dict(extra or {}),
    }
    write_file(path.with_suffix(".safetensors"), save(tensors), "checkpoint")
    text = json.dumps(document, indent=1, default=str)
    write_file(path.with_suffix(".json"), text.encode(), "checkpoint")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``{"step", "history", "parameters" (flat dict), "optimizer_state" (for
        ``Optimizer.load_state_dict``), "extra"}``.

    Raises:
        GraphFileError: missing, truncated or foreign files (the message names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta_path, tensor_path = path.with_suffix(".json"), path.with_suffix(".safetensors")
    try:
        document = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise GraphFileError(f"{meta_path}: cannot read checkpoint: {error}") from None
    check_header(document, meta_path, FORMAT, VERSION, "fit checkpoint")
    try:
        tensors = load_file(str(tensor_path))
    except (OSError, SafetensorError) as error:
        raise GraphFileError(f"{tensor_path}: cannot read checkpoint tensors: {error}") from None
    names = document["parameter_names"]
    missing = [n for n in names if f"param/{n}" not in tensors]
    if missing:
        raise GraphFileError(f"{tensor_path}: checkpoint lacks parameter(s) {missing}")
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    groups = document["param_groups"]
    if len(groups) == 1:  # one group holds every parameter
        groups = [{**groups[0], "params": list(range(len(names)))}]
    else:  # one group per parameter, in name order
        groups = [{**g, "params": [i]} for i, g in enumerate(groups)]
    return {
        "step": int(document["step"]),
        "history": list(document["history"]),
        "parameters": {n: tensors[f"param/{n}"] for n in names},
        "optimizer_state": {"state": state, "param_groups": groups},
        "extra": document.get("extra", {}),
    }
