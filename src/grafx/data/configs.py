"""Node types allowed in a graph, with their inlets and outlets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grafx.errors import ConfigError

IN = {"inlets": [], "outlets": ["main"]}
OUT = {"inlets": ["main"], "outlets": []}
DEFAULT = {"inlets": ["main"], "outlets": ["main"]}
UTILITY_TYPES = ["in", "out", "mix"]
UTILITY_DICT = {"in": IN, "out": OUT, "mix": DEFAULT}


def _ports(node_type: str, spec: Mapping, key: str) -> list[str]:
    if key not in spec:
        raise ConfigError(f"node type {node_type!r}: the config has no {key!r} list")
    ports = spec[key]
    if isinstance(ports, str) or not isinstance(ports, Sequence):
        raise ConfigError(
            f"node type {node_type!r}: {key!r} must be a list of port names, got {ports!r}"
        )
    ports = list(ports)
    for port in ports:
        if not isinstance(port, str):
            raise ConfigError(f"node type {node_type!r}: port name {port!r} is not a string")
    if len(set(ports)) != len(ports):
        raise ConfigError(f"node type {node_type!r}: repeated port names in {key!r}: {ports}")
    return ports


class NodeConfigs:
    r"""The node types a graph may contain, and the inlets and outlets of each.

    ``"in"`` (no inlet, one outlet), ``"out"`` (one inlet, no outlet) and ``"mix"`` (one of each)
    are always present and always take the integer ids 0, 1 and 2; user types follow in the
    order given.

    Args:
        config: a list of type names, all single-input single-output (SISO), or a dict that maps
            each type name to ``{"inlets": [...], "outlets": [...]}`` port-name lists (MIMO).

    Two configs with the same types, order and ports compare equal and hash equal, so graphs built
    from equal configs can be batched together.

    Example:
        >>> print(NodeConfigs(["eq", "reverb"]))
        NodeConfigs with 5 node types (siso_only=True)
          (0) in: None -> <main>
          (1) out: <main> -> None
          (2) mix: <main> -> <main>
          (3) eq: <main> -> <main>
          (4) reverb: <main> -> <main>
    """

    node_type_dict: dict[str, dict[str, list[str]]]

    def __init__(self, config: Sequence[str] | Mapping[str, Mapping] | NodeConfigs):
        if isinstance(config, NodeConfigs):
            config = config.node_type_dict
        if isinstance(config, Mapping):
            merged = {**UTILITY_DICT, **config}
            node_type_dict = {}
            for node_type, spec in merged.items():
                if not isinstance(node_type, str):
                    raise ConfigError(f"node type {node_type!r} is not a string")
                if not isinstance(spec, Mapping):
                    raise ConfigError(
                        f"node type {node_type!r}: expected a dict with 'inlets' and 'outlets', "
                        f"got {spec!r}"
                    )
                node_type_dict[node_type] = {
                    "inlets": _ports(node_type, spec, "inlets"),
                    "outlets": _ports(node_type, spec, "outlets"),
                }
        elif isinstance(config, (list, tuple)):
            node_type_dict = {
                k: {"inlets": list(v["inlets"]), "outlets": list(v["outlets"])}
                for k, v in UTILITY_DICT.items()
            }
            for node_type in config:
                if not isinstance(node_type, str):
                    raise ConfigError(f"node type {node_type!r} is not a string")
                node_type_dict.setdefault(node_type, {"inlets": ["main"], "outlets": ["main"]})
        else:
            raise ConfigError("Invalid type for config.")

        self.node_type_dict = node_type_dict
        self.node_types = list(node_type_dict)
        self.node_type_to_index = {t: i for i, t in enumerate(self.node_types)}
        self.num_node_types = len(self.node_types)
        self.num_inlets = {t: len(v["inlets"]) for t, v in node_type_dict.items()}
        self.num_outlets = {t: len(v["outlets"]) for t, v in node_type_dict.items()}
        self.siso_only = all(
            self.num_inlets[t] <= 1 and self.num_outlets[t] <= 1 for t in self.node_types
        )
        # Port maps are always available (the original defined them only for MIMO configs).
        self.max_num_inlets = max(self.num_inlets.values())
        self.max_num_outlets = max(self.num_outlets.values())
        self.inlet_to_index = {
            t: {p: i for i, p in enumerate(v["inlets"])} for t, v in node_type_dict.items()
        }
        self.outlet_to_index = {
            t: {p: i for i, p in enumerate(v["outlets"])} for t, v in node_type_dict.items()
        }
        self._key = tuple(
            (t, tuple(v["inlets"]), tuple(v["outlets"])) for t, v in node_type_dict.items()
        )

    def __getitem__(self, node_type: str) -> dict[str, list[str]]:
        try:
            return self.node_type_dict[node_type]
        except KeyError:
            raise ConfigError(
                f"unknown node type {node_type!r}; this config allows {self.node_types}"
            ) from None

    def __contains__(self, node_type: object) -> bool:
        return node_type in self.node_type_dict

    def __len__(self) -> int:
        return self.num_node_types

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NodeConfigs):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def type_index(self, node_type: str) -> int:
        """Integer id of ``node_type``; raises :class:`ConfigError` naming it when unknown."""
        try:
            return self.node_type_to_index[node_type]
        except KeyError:
            raise ConfigError(
                f"unknown node type {node_type!r}; this config allows {self.node_types}"
            ) from None

    def to_dict(self) -> dict[str, dict[str, list[str]]]:
        """Plain ``{type: {"inlets": [...], "outlets": [...]}}`` copy, utility types included."""
        return {
            t: {"inlets": list(v["inlets"]), "outlets": list(v["outlets"])}
            for t, v in self.node_type_dict.items()
        }

    def __str__(self) -> str:
        def ports(names: list[str]) -> str:
            return "<" + ", ".join(names) + ">" if names else "None"

        lines = [f"NodeConfigs with {self.num_node_types} node types (siso_only={self.siso_only})"]
        for i, (t, v) in enumerate(self.node_type_dict.items()):
            lines.append(f"  ({i}) {t}: {ports(v['inlets'])} -> {ports(v['outlets'])}")
        return "\n".join(lines)
