"""The state of a pruning search between rounds, and its files (so that a search resumes).

:class:`PruneState` is what a round of :func:`~grafx.prune.search.prune_round` reads and
changes. :func:`save_state` writes it after a round to a folder (``prune-graph.json``, the
graph file of the current graph, then ``prune-state.json``, written last: a folder whose state
JSON exists holds a whole state); :func:`load_state` reads it back, refusing a state made with
other search options.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grafx.device import move_tree
from grafx.errors import ConfigError, GraphFileError
from grafx.io import load_graph, save_graph
from grafx.io.atomic import atomic_write

__all__ = ["PruneState", "STATE_FILE", "GRAPH_FILE", "save_state", "load_state"]

STATE_FILE = "prune-state.json"
GRAPH_FILE = "prune-graph.json"
#: The value of each search option in states written before grafx recorded it.
_UNRECORDED = {
    "band_tolerance_db": None,
    "loudness_tolerance_lu": None,
    "stft_tolerance": None,
    "band_rms_tolerance": None,
    "order": "gate",
    "recover_steps": 0,
    "tolerance_mode": "relative",
    "reference": "given",
    "rank_samples": 0,
}


@dataclass
class PruneState:
    """A pruning search after some rounds.

    Attributes:
        graph: the current graph (the given one less the removed nodes; ids kept).
        parameters: its parameters, ``{type: nested dict}`` in its node order.
        loss_before: the loss of the graph as given.
        loss: the current graph's loss.
        removed: ids of the removed nodes, in the order they were removed.
        rounds: one record per round done (see :class:`~grafx.prune.PruneResult`).
        evaluations: loss checks so far.
        refused: removals within the loss limit that the mix descriptors refused so far.
        done: the last round removed nothing: the search is over.
        type_sequence: a fixed schedule of ``graph`` for the next round (``None``: beam search).
    """

    graph: Any
    parameters: dict[str, Any]
    loss_before: float
    loss: float
    removed: list[int] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)
    evaluations: int = 0
    refused: int = 0
    done: bool = False
    type_sequence: list[str] | None = None


def save_state(
    path: Path, state: PruneState, processors: Mapping, options: Mapping[str, Any]
) -> None:
    """Write ``state`` and the search ``options`` it was made with to the folder ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    save_graph(state.graph, path / GRAPH_FILE, state.parameters, processors=processors)
    record = {
        "format": "grafx-prune-state",
        "version": 1,
        **options,
        "removed": state.removed,
        "rounds": state.rounds,
        "evaluations": state.evaluations,
        "loss_before": state.loss_before,
    }
    with atomic_write(
        path / STATE_FILE
    ) as file:  # written last: a state whose JSON exists is whole
        file.write(json.dumps(record).encode())


def load_state(
    path: Path,
    options: Mapping[str, Any],
    device: torch.device | str,
    dtype: torch.dtype | None,
) -> PruneState:
    """The state saved in the folder ``path``, its parameters on ``device`` in ``dtype``.

    Raises:
        GraphFileError: an unreadable state.
        ConfigError: the state was made with other search ``options``.
    """
    try:
        record = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError) as error:
        raise GraphFileError(f"{path / STATE_FILE}: unreadable prune state: {error}") from None
    if not isinstance(record, dict) or record.get("format") != "grafx-prune-state":
        raise GraphFileError(f"{path / STATE_FILE}: not a grafx prune state")
    saved = {k: record.get(k, _UNRECORDED.get(k)) for k in options}
    if saved != dict(options):
        raise ConfigError(
            f"{path}: holds a pruning search with {saved}, not {dict(options)}; use another "
            "folder or start again (restart)"
        )
    G, parameters = load_graph(path / GRAPH_FILE)
    rounds = record["rounds"]
    return PruneState(
        graph=G,
        parameters=move_tree(parameters or {}, device, dtype),
        loss_before=record["loss_before"],
        loss=rounds[-1]["loss"] if rounds else record["loss_before"],
        removed=record["removed"],
        rounds=rounds,
        evaluations=record["evaluations"],
        refused=sum(r.get("descriptor_refusals", 0) for r in rounds),
        done=bool(rounds) and not rounds[-1]["removed"],
    )
