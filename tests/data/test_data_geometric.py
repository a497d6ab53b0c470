"""Optional torch_geometric export: the fields it builds, and the error when it is missing."""

import sys
import types

import pytest

from grafx.data import GRAFX, NodeConfigs, convert_to_tensor
from grafx.data.geometric import to_pyg_data
from grafx.errors import MissingDependencyError


def mimo_tensor():
    config = NodeConfigs({"split": {"inlets": ["main"], "outlets": ["low", "high"]}})
    G = GRAFX(config=config)
    i, s, m, o = (G.add(t) for t in ["in", "split", "mix", "out"])
    G.connect(i, s)
    G.connect(s, m, "high")
    G.connect(m, o)
    return convert_to_tensor(G)


def test_missing_torch_geometric_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    with pytest.raises(
        MissingDependencyError, match=r"pip install 'grafx-torch\[geometric\]'"
    ) as info:
        to_pyg_data(mimo_tensor())
    assert isinstance(info.value, ImportError)


def test_fields_with_a_stand_in_data_class(monkeypatch):
    class Data:
        def __init__(self, **fields):
            self.fields = fields

    package = types.ModuleType("torch_geometric")
    module = types.ModuleType("torch_geometric.data")
    module.Data = Data
    package.data = module
    monkeypatch.setitem(sys.modules, "torch_geometric", package)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", module)
    G_t = mimo_tensor()
    fields = G_t.to_pyg().fields
    assert fields["x"].tolist() == [0, 3, 2, 1]
    assert fields["edge_index"].tolist() == [[0, 1, 2], [1, 2, 3]]
    assert fields["edge_attr"].tolist() == [[0, 0], [1, 0], [0, 0]]  # (E, 2): outlet, inlet
    assert fields["num_nodes"] == 4
    assert fields["node_ids"].tolist() == [0, 1, 2, 3]
    assert "graph_ids" not in fields
