"""The original library's helper module: counting nodes, creating and slicing parameters.

Its names live in :mod:`grafx.data.parameters` (parameter trees), :mod:`grafx.data.rows`
(node lookup) and :mod:`grafx.render` (``permute_grafx_tensor``, ``permute_parameters``,
``permute_sources``, loaded on first access so that importing this module stays light).

Example:
    >>> from grafx.data import GRAFX, NodeConfigs
    >>> from grafx.processors import StereoGain
    >>> from grafx.utils import count_nodes_per_type, create_empty_parameters
    >>> G = GRAFX(config=NodeConfigs(["gain"]))
    >>> _ = G.add_serial_chain(["in", "gain", "gain", "out"])
    >>> count_nodes_per_type(G, ["gain"])
    {'gain': 2}
    >>> parameters = create_empty_parameters(G, {"gain": StereoGain()})
    >>> tuple(parameters["gain"]["log_gain"].shape)
    (2, 2)
"""

from __future__ import annotations

import importlib
from typing import Any

from grafx.data.parameters import (
    BARE_PARAMETER_KEY,
    GrafxParameterDict,
    create_empty_parameters,
    create_empty_parameters_from_shape_dict,
    create_parameters_from_graph,
    fill_parameters_from_graph,
    node_parameters,
    set_node_parameters,
)
from grafx.data.rows import count_nodes_per_type, get_node_ids_from_type

_RENDER_EXPORTS = ("permute_grafx_tensor", "permute_parameters", "permute_sources")

__all__ = [
    "BARE_PARAMETER_KEY",
    "GrafxParameterDict",
    "get_node_ids_from_type",
    "count_nodes_per_type",
    "create_empty_parameters",
    "create_empty_parameters_from_shape_dict",
    "node_parameters",
    "set_node_parameters",
    "fill_parameters_from_graph",
    "create_parameters_from_graph",
    *_RENDER_EXPORTS,
]


def __getattr__(name: str) -> Any:
    if name in _RENDER_EXPORTS:
        return getattr(importlib.import_module("grafx.render"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
