"""Fit checkpoints: one safetensors file, tensors and their JSON description together; never pickle.

A checkpoint ``PATH`` is the single file ``PATH.safetensors``, written atomically
(:func:`~grafx.io.files.write_file`): parameters as ``param/<type>/<key>``, optimizer state as
``optim/<index>/<name>``, and, in the file's metadata under ``"grafx"``, a JSON document
(format, version, step, loss history, parameter names, optimizer hyperparameters, extra fields
such as the fit's fingerprint). Tensors and description are replaced as one unit, so a reader
never sees the tensors of one step with the history of another, whenever the writer was killed.
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
from grafx.io.files import check_header, check_regular_file, write_file

FORMAT = "grafx-fit-checkpoint"
#: 2: one file (1 was two, ``.json`` beside ``.safetensors``).
VERSION = 2


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
    optimizer: torch.optim.Optimizer | Mapping[str, Any],
    step: int,
    history: list[float],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint (see the module docstring).

    Args:
        path: checkpoint path without extension.
        parameters: flat ``{name: tensor}`` of the fitted parameters.
        optimizer: its state is saved (tensors) with its hyperparameters (JSON); or that
            state itself (``Optimizer.state_dict()``, e.g. a copy kept from an earlier step).
        step: number of steps done.
        history: loss of every step done.
        extra: JSON-serialisable fields to keep (e.g. the fit configuration).
    """
    from safetensors.torch import save

    path = Path(path)
    state = optimizer.state_dict() if isinstance(optimizer, torch.optim.Optimizer) else optimizer
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
    text = json.dumps(document, default=str)
    write_file(checkpoint_file(path), save(tensors, metadata={"grafx": text}), "checkpoint")


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The file of checkpoint ``path`` (``PATH.safetensors``)."""
    return Path(path).with_suffix(".safetensors")


def checkpoint_exists(path: str | os.PathLike) -> bool:
    """Whether checkpoint ``path`` has been written."""
    return checkpoint_file(path).is_file()


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``{"step", "history", "parameters" (flat dict), "optimizer_state" (for
        ``Optimizer.load_state_dict``), "extra"}``.

    Raises:
        GraphFileError: a missing, truncated or foreign file (the message names the file).
    """
    from safetensors import SafetensorError, safe_open

    tensor_path = checkpoint_file(path)
    try:
        check_regular_file(tensor_path, "checkpoint")
        with safe_open(str(tensor_path), framework="pt") as file:
            text = (file.metadata() or {}).get("grafx")
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 - safe_open is not a dict
    except (OSError, SafetensorError) as error:
        raise GraphFileError(f"{tensor_path}: cannot read checkpoint: {error}") from None
    try:
        document = json.loads(text) if text is not None else None
    except ValueError as error:
        raise GraphFileError(f"{tensor_path}: cannot read checkpoint: {error}") from None
    document = check_header(document, tensor_path, FORMAT, VERSION, "fit checkpoint")
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
