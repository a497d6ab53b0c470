"""NodeConfigs (ported from upstream test_data_configs, plus equality and errors)."""

import pytest

from grafx.data import NodeConfigs
from grafx.errors import ConfigError


def test_list_config():
    config = NodeConfigs(["custom1", "custom2"])
    assert config.num_node_types == 5
    assert config["custom1"] == {"inlets": ["main"], "outlets": ["main"]}
    assert config.node_type_to_index == {"in": 0, "out": 1, "mix": 2, "custom1": 3, "custom2": 4}
    assert config.siso_only


def test_dict_config_keeps_ports():
    config = NodeConfigs({"custom": {"inlets": ["a", "b"], "outlets": ["main"]}})
    assert config["custom"] == {"inlets": ["a", "b"], "outlets": ["main"]}
    assert not config.siso_only
    assert config.inlet_to_index["custom"] == {"a": 0, "b": 1}


def test_invalid_type_message():
    with pytest.raises(ValueError, match="Invalid type for config."):
        NodeConfigs(123)


def test_equal_configs_are_equal_and_hash_equal():
    assert NodeConfigs(["eq"]) == NodeConfigs(["eq"])
    assert hash(NodeConfigs(["eq"])) == hash(NodeConfigs(["eq"]))
    assert NodeConfigs(["eq"]) != NodeConfigs(["eq", "reverb"])


def test_print_mimo():
    config = NodeConfigs({"split": {"inlets": ["main"], "outlets": ["low", "high"]}})
    assert str(config).splitlines() == [
        "NodeConfigs with 4 node types (siso_only=False)",
        "  (0) in: None -> <main>",
        "  (1) out: <main> -> None",
        "  (2) mix: <main> -> <main>",
        "  (3) split: <main> -> <low, high>",
    ]


def test_unknown_lookup_and_bad_spec():
    with pytest.raises(ConfigError, match="unknown node type 'gate'"):
        NodeConfigs(["eq"])["gate"]
    with pytest.raises(ConfigError, match="node type 'x': the config has no 'outlets' list"):
        NodeConfigs({"x": {"inlets": ["main"]}})
