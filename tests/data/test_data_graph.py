"""GRAFX editing: ids, attributes, invalid operations and their messages (incl. upstream's tests)."""

import warnings

import pytest

from grafx.data import GRAFX, NodeConfigs
from grafx.errors import GraphError

TYPES = ["in", "out", "mix", "eq", "compressor", "reverb"]


@pytest.fixture
def config():
    return NodeConfigs(["eq", "compressor", "reverb"])


@pytest.fixture
def mimo():
    return NodeConfigs(
        {
            "split": {"inlets": ["main"], "outlets": ["low", "high"]},
            "join": {"inlets": ["a", "b"], "outlets": ["main"]},
            "g": {"inlets": ["main"], "outlets": ["main"]},
        }
    )


# ---------------------------------------------------------------- ported from upstream test_graph


def test_default_attributes():
    G = GRAFX()
    assert G.counter == 0
    assert G.consecutive_ids is True
    assert G.batch is False
    assert G.config is None
    assert G.invalid_op == "error"
    assert G.rendering_order_method is None
    assert G.type_sequence is None


def test_add_returns_ids_and_stores_attributes():
    G = GRAFX()
    assert G.add("type1") == 0
    assert G.add("type2", parameters={"gain": 1.0}, name="second") == 1
    assert G.nodes[0] == {"node_type": "type1", "parameters": None, "name": None}
    assert G.nodes[1] == {"node_type": "type2", "parameters": {"gain": 1.0}, "name": "second"}
    assert G.counter == 2


def test_remove_returns_edges_and_clears_consecutive():
    G = GRAFX()
    node = G.add("type1")
    assert G.remove(node) == ([], [])
    assert G.consecutive_ids is False
    assert node not in G


def test_remove_returns_its_edges():
    G = GRAFX()
    a, b, c = G.add("in"), G.add("eq"), G.add("out")
    G.connect(a, b)
    G.connect(b, c)
    in_edges, out_edges = G.remove(b)
    assert in_edges == [(a, b, {"outlet": "main", "inlet": "main"})]
    assert out_edges == [(b, c, {"outlet": "main", "inlet": "main"})]
    assert G.number_of_edges() == 0
    assert G.add("eq") == 3  # ids are never reused


def test_connect_creates_edge():
    G = GRAFX()
    a, b = G.add("type1"), G.add("type2")
    G.connect(a, b)
    assert list(G.edges(data=True)) == [(0, 1, {"outlet": "main", "inlet": "main"})]


def test_serial_chain_returns_first_and_last():
    G = GRAFX()
    assert G.add_serial_chain(["type1", "type2", "type3"]) == (0, 2)
    assert sorted(G.edges()) == [(0, 1), (1, 2)]


def test_invalid_op_value_raises():
    with pytest.raises(GraphError, match="Incorrect invalid_op is given: 'invalid'"):
        GRAFX(invalid_op="invalid")
    G = GRAFX()
    with pytest.raises(GraphError, match="Incorrect invalid_op"):
        G.invalid_op = "loud"


def test_raise_warning_modes():
    with pytest.raises(GraphError, match="boom"):
        GRAFX(invalid_op="error").raise_warning("boom")
    with pytest.warns(UserWarning, match="boom"):
        GRAFX(invalid_op="warn").raise_warning("boom")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GRAFX(invalid_op="mute").raise_warning("boom")


def test_property_setters():
    G = GRAFX()
    G.counter = 5
    G.consecutive_ids = False
    G.batch = True
    G.invalid_op = "warn"
    G.rendering_order_method = "beam"
    G.type_sequence = [1, 2, 3]
    assert (G.counter, G.consecutive_ids, G.batch) == (5, False, True)
    assert (G.invalid_op, G.rendering_order_method, G.type_sequence) == ("warn", "beam", [1, 2, 3])
    G.counter = [3, 7]  # the cumulative counts of a batched graph are allowed
    assert G.counter == [3, 7]


def test_forbidden_setters_raise_with_clear_words(config):
    G = GRAFX(config=config)
    with pytest.raises(GraphError, match="config can only be set at construction"):
        G.config = config
    with pytest.raises(GraphError, match="config_hash cannot be set directly"):
        G.config_hash = 3
    for name, value in [("counter", -1), ("counter", "3"), ("batch", 1), ("type_sequence", "ab")]:
        with pytest.raises(GraphError, match=name):
            setattr(G, name, value)
    assert G.config is config and G.config_hash == hash(config)


# ---------------------------------------------------------------- with a config


def test_unknown_type_error_message(config):
    G = GRAFX(config=config)
    expected = f"Invalid node_type: noisegate, it only allows {TYPES}."
    with pytest.raises(GraphError) as info:
        G.add("noisegate")
    assert str(info.value) == expected
    assert G.number_of_nodes() == 0 and G.counter == 0


def test_unknown_type_warn_and_mute(config):
    G = GRAFX(config=config, invalid_op="warn")
    with pytest.warns(UserWarning, match="Invalid node_type: noisegate"):
        assert G.add("noisegate") is None
    G = GRAFX(config=config, invalid_op="mute")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert G.add("noisegate") is None
    assert G.number_of_nodes() == 0 and G.counter == 0


def test_list_config_is_accepted_and_converted():
    G = GRAFX(config=["eq"])
    assert G.config == NodeConfigs(["eq"])


def test_ports_without_main_connect_by_default_names():
    config = NodeConfigs(
        {"source": {"inlets": [], "outlets": ["main"]}, "dest": {"inlets": ["main"], "outlets": []}}
    )
    G = GRAFX(config=config)
    s, d = G.add("source"), G.add("dest")
    G.connect(s, d)
    assert G.number_of_edges() == 1


@pytest.mark.parametrize(
    ("edge", "message"),
    [
        ((0, 9), "node 9 does not exist"),
        ((9, 0), "node 9 does not exist"),
        ((1, 1), "cannot connect node 1 to itself"),
        ((1, 0), r"node 0 \('in'\) has no inlets: no edge can go into it"),
        ((3, 1), r"node 3 \('out'\) has no outlets: no edge can go out of it"),
    ],
)
def test_connect_rejects_bad_edges(config, edge, message):
    G = GRAFX(config=config)
    G.add_serial_chain(["in", "eq", "compressor", "out"])
    with pytest.raises(GraphError, match=message):
        G.connect(*edge)
    assert G.number_of_edges() == 3


def test_cycle_names_the_nodes_on_it(config):
    G = GRAFX(config=config)
    first, last = G.add_serial_chain(["eq", "compressor", "reverb"])
    with pytest.raises(GraphError, match=r"cycle through nodes \[0, 1, 2, 0\]"):
        G.connect(last, first)
    assert G.number_of_edges() == 2


def test_duplicate_edge_is_rejected_parallel_ports_are_not(mimo):
    G = GRAFX(config=mimo)
    s, j = G.add("split"), G.add("join")
    G.connect(s, j, "low", "a")
    with pytest.raises(GraphError, match="1 <a>: existing edge"):
        G.connect(s, j, "low", "a")
    G.connect(s, j, "low", "b")
    G.connect(s, j, "high", "a")
    assert G.number_of_edges() == 3


def test_ports_by_index_are_stored_as_names(mimo):
    G = GRAFX(config=mimo)
    s, j = G.add("split"), G.add("join")
    G.connect(s, j, 1, 0)
    assert list(G.edges(data=True)) == [(0, 1, {"outlet": "high", "inlet": "a"})]


@pytest.mark.parametrize(
    ("outlet", "inlet", "message"),
    [
        ("mid", "a", r"node 0 \('split'\) has no outlet 'mid'; its outlets are \['low', 'high'\]"),
        (2, "a", r"node 0 \('split'\) has no outlet 2"),
        ("low", "c", r"node 1 \('join'\) has no inlet 'c'; its inlets are \['a', 'b'\]"),
        ("low", -1, r"node 1 \('join'\) has no inlet -1"),
        ("main", "a", r"has no outlet 'main'"),
    ],
)
def test_unknown_ports_are_rejected(mimo, outlet, inlet, message):
    G = GRAFX(config=mimo)
    s, j = G.add("split"), G.add("join")
    with pytest.raises(GraphError, match=message):
        G.connect(s, j, outlet, inlet)
    assert G.number_of_edges() == 0


@pytest.mark.parametrize("mode", ["warn", "mute"])
def test_invalid_edges_are_not_added_in_warn_or_mute(config, mode):
    G = GRAFX(config=config, invalid_op=mode)
    first, last = G.add_serial_chain(["in", "eq", "reverb"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        G.connect(first, first + 1)  # duplicate
        G.connect(last, last)  # self edge
        G.connect(last, first + 1)  # cycle
        G.connect(last, first)  # into an in node
        G.connect(last, 42)  # missing node
    assert G.number_of_edges() == 2
    assert len(caught) == (5 if mode == "warn" else 0)
    if mode == "warn":
        assert all(issubclass(w.category, UserWarning) for w in caught)


def test_remove_missing_node(config):
    G = GRAFX(config=config)
    with pytest.raises(GraphError, match="cannot remove node 4: no such node"):
        G.remove(4)
    G.invalid_op = "mute"
    assert G.remove(4) is None


# ---------------------------------------------------------------- serial chains with dict items


def test_serial_chain_dict_items_are_wired(config):
    G = GRAFX(config=config)
    first, last = G.add_serial_chain(
        [
            {"node_type": "in", "name": "source"},
            "eq",
            {"node_type": "compressor", "parameters": {"ratio": 4.0}},
            {"node_type": "out"},
        ]
    )
    assert (first, last) == (0, 3)
    assert sorted(G.edges()) == [(0, 1), (1, 2), (2, 3)]
    assert G.nodes[0]["name"] == "source"
    assert G.nodes[2]["parameters"] == {"ratio": 4.0}
    assert G.find_node("source") == 0


def test_serial_chain_uses_first_ports_of_mimo_types(mimo):
    G = GRAFX(config=mimo)
    G.add_serial_chain(["in", "split", "join", "out"])
    assert [(u, v, d["outlet"], d["inlet"]) for u, v, d in G.edges(data=True)] == [
        (0, 1, "main", "main"),
        (1, 2, "low", "a"),
        (2, 3, "main", "main"),
    ]


def test_serial_chain_checks_everything_before_adding(config):
    G = GRAFX(config=config)
    with pytest.raises(GraphError, match="add_serial_chain item 2: Invalid node_type: gate"):
        G.add_serial_chain(["in", "eq", "gate"])
    with pytest.raises(GraphError, match="'in' has no inlet, so it must come first"):
        G.add_serial_chain(["eq", "in"])
    with pytest.raises(GraphError, match="'out' has no outlet, so it must come last"):
        G.add_serial_chain(["out", "eq"])
    with pytest.raises(GraphError, match=r"unknown keys \['type'\]"):
        G.add_serial_chain([{"type": "eq", "node_type": "eq"}])
    with pytest.raises(GraphError, match="item 0: expected a type name"):
        G.add_serial_chain([3])
    assert G.number_of_nodes() == 0


def test_serial_chain_skips_invalid_items_in_mute(config):
    G = GRAFX(config=config, invalid_op="mute")
    assert G.add_serial_chain(["in", "gate", "eq"]) == (0, 1)
    assert sorted(G.edges()) == [(0, 1)]
    assert G.add_serial_chain(["gate"]) == (None, None)


def test_find_node_errors(config):
    G = GRAFX(config=config)
    G.add("eq", name="lead")
    G.add("eq", name="lead")
    with pytest.raises(GraphError, match=r"2 nodes \(\[0, 1\]\) named 'lead'"):
        G.find_node("lead")
    with pytest.raises(GraphError, match="no node named 'bass'"):
        G.find_node("bass")


def test_bad_name_and_add_to_batched(config):
    G = GRAFX(config=config)
    with pytest.raises(GraphError, match="node name must be a string"):
        G.add("eq", name=3)
    G.batch = True
    with pytest.raises(GraphError, match="cannot add nodes to a batched graph"):
        G.add("eq")


def test_networkx_copy_keeps_attributes(config):
    G = GRAFX(config=config, invalid_op="warn")
    G.add_serial_chain(["in", "eq", "out"])
    H = G.copy()
    assert isinstance(H, GRAFX)
    assert H.config is config and H.invalid_op == "warn" and H.counter == 3
    assert str(H) == str(G)
