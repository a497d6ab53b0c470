r"""Where a prediction head's outputs go: every parameter leaf of every node type, flattened.

A head predicts one flat vector per node (or per graph); :class:`ParameterLayout` says which
slice of that vector is which parameter, from each processor's ``parameter_size()``, so the
result is the exact nested dict :func:`grafx.render.render_grafx` takes. Leaves are ordered as
:func:`grafx.utils.create_empty_parameters` orders them (keys sorted at every level); a bare
shape is the key ``"parameter"``; a gated type (:mod:`grafx.gates`) gains the leaf
``drywet_weight`` ``(1,)``.

Example:
    >>> from grafx.processors import StereoGain, SideGainImager
    >>> layout = ParameterLayout.from_processors(
    ...     {"gain_pan": StereoGain(), "imager": SideGainImager()}, gated=["imager"]
    ... )
    >>> layout.sizes
    {'gain_pan': 2, 'imager': 2}
    >>> tree = layout.split("imager", torch.zeros(3, 2))
    >>> {k: tuple(v.shape) for k, v in tree.items()}
    {'drywet_weight': (3, 1), 'log_gain': (3, 1)}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from grafx.data.configs import UTILITY_TYPES
from grafx.errors import ConfigError, ParameterError
from grafx.processors.core.drywet import DRYWET_KEY

__all__ = ["Leaf", "ParameterLayout", "UTILITY_TYPES"]

#: Node types without parameters (sources, sums and the output).

#: Key of a bare-shape ``parameter_size()`` (as :data:`grafx.utils.BARE_PARAMETER_KEY`).
_BARE_KEY = "parameter"


@dataclass(frozen=True)
class Leaf:
    """One parameter tensor of a node type: its key path, per-node shape and flat slice."""

    path: tuple[str, ...]
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def name(self) -> str:
        return "/".join(self.path)


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (tuple, list, torch.Size)) and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
    ):
        return tuple(int(s) for s in value)
    raise ConfigError(
        f"{where}: parameter_size() gives {value!r}, which a prediction head cannot shape "
        "(expected an int, a tuple of ints or a dict of them)"
    )


def _leaves(size: Any, path: tuple[str, ...], where: str) -> Iterable[tuple[tuple, tuple]]:
    if isinstance(size, Mapping):
        for key in sorted(size):
            if not isinstance(key, str):
                raise ConfigError(f"{where}: parameter key {key!r} is not a string")
            yield from _leaves(size[key], (*path, key), f"{where}/{key}")
    else:
        yield path or (_BARE_KEY,), _shape(size, where)


class ParameterLayout:
    """The flat per-node layout of each processor type's parameters.

    Args:
        leaves: ``{type: [(path, shape), ...]}`` in flat order.
    """

    def __init__(self, leaves: Mapping[str, Iterable[tuple[Iterable[str], Iterable[int]]]]):
        self.leaves: dict[str, list[Leaf]] = {}
        for node_type, items in leaves.items():
            offset, row = 0, []
            for path, shape in items:
                leaf = Leaf(tuple(path), tuple(int(s) for s in shape), offset)
                row.append(leaf)
                offset += leaf.size
            self.leaves[node_type] = row

    @classmethod
    def from_processors(
        cls,
        processors: Mapping[str, Any],
        gated: Iterable[str] = (),
        node_types: Iterable[str] | None = None,
    ) -> ParameterLayout:
        """The layout of ``processors`` (``{type: module}``), for the types of ``node_types``
        (default: all), with a gate leaf on the types of ``gated``.

        Raises:
            ConfigError: a type with no processor, a processor without ``parameter_size()``,
                or a size that is not an int, a tuple of ints or a dict of them.
        """
        gated = set(gated)
        types = list(processors) if node_types is None else list(node_types)
        table = {}
        for node_type in types:
            if node_type in UTILITY_TYPES:
                continue
            processor = processors.get(node_type)
            if processor is None:
                raise ConfigError(
                    f"type {node_type!r}: no processor, so a prediction head cannot shape it "
                    f"(processors: {sorted(processors)})"
                )
            method = getattr(processor, "parameter_size", None)
            if not callable(method):
                raise ConfigError(
                    f"type {node_type!r} ({type(processor).__name__}): no parameter_size(), so "
                    "a prediction head cannot shape it"
                )
            where = f"type {node_type!r} ({type(processor).__name__})"
            size = method()
            items = list(_leaves(size, (), where))
            if node_type in gated and (DRYWET_KEY,) not in [p for p, _ in items]:
                if not isinstance(size, Mapping):
                    raise ConfigError(f"{where}: a bare-shape parameter cannot take a gate")
                items = sorted([*items, ((DRYWET_KEY,), (1,))])
            table[node_type] = items
        return cls(table)

    @property
    def types(self) -> list[str]:
        return list(self.leaves)

    @property
    def sizes(self) -> dict[str, int]:
        """Flat size per node of each type."""
        return {t: sum(leaf.size for leaf in row) for t, row in self.leaves.items()}

    def split(self, node_type: str, flat: Tensor) -> dict[str, Any]:
        """The nested parameter dict of ``flat`` ``(N, size)`` rows of type ``node_type``."""
        size = self.sizes[node_type]
        if flat.ndim != 2 or flat.shape[1] != size:
            raise ParameterError(
                f"type {node_type!r}: head output has shape {tuple(flat.shape)}, expected "
                f"(N, {size})"
            )
        tree: dict[str, Any] = {}
        for leaf in self.leaves[node_type]:
            node = tree
            for part in leaf.path[:-1]:
                node = node.setdefault(part, {})
            piece = flat[:, leaf.offset : leaf.offset + leaf.size]
            node[leaf.path[-1]] = piece.reshape(flat.shape[0], *leaf.shape)
        return tree

    def join(self, node_type: str, tree: Mapping[str, Any]) -> Tensor:
        """Inverse of :meth:`split`: ``(N, size)`` from a nested dict of ``(N, *shape)``."""
        pieces = []
        for leaf in self.leaves[node_type]:
            value: Any = tree
            for part in leaf.path:
                if not isinstance(value, Mapping) or part not in value:
                    raise ParameterError(f"type {node_type!r}: no parameter {leaf.name!r}")
                value = value[part]
            pieces.append(value.reshape(value.shape[0], leaf.size))
        return torch.cat(pieces, dim=1)

    def to_json(self) -> dict[str, list]:
        """``{type: [[path, shape], ...]}``, the form the constructor takes."""
        return {t: [[list(x.path), list(x.shape)] for x in row] for t, row in self.leaves.items()}

    def check_same(self, other: ParameterLayout, where: str) -> None:
        """Raise :class:`~grafx.errors.ConfigError` naming the first type or key where ``other``
        differs from this layout (``where`` names the model)."""
        mine, theirs = self.to_json(), other.to_json()
        for node_type in sorted(set(mine) | set(theirs)):
            if node_type not in theirs:
                raise ConfigError(f"{where}: the processors have no type {node_type!r}")
            if node_type not in mine:
                raise ConfigError(
                    f"{where}: made for the types {sorted(mine)}; it has no head for type "
                    f"{node_type!r}"
                )
            a = {"/".join(p): s for p, s in mine[node_type]}
            b = {"/".join(p): s for p, s in theirs[node_type]}
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    raise ConfigError(
                        f"{where}: type {node_type!r} parameter {key!r} has shape "
                        f"{b.get(key)} in these processors but {a.get(key)} in the model"
                    )
