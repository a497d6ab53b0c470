import re

import pytest
import torch
from torch import nn

import grafx.render
import grafx.utils
from grafx.data import GRAFX, NodeConfigs, batch_grafx, convert_to_tensor
from grafx.errors import GraphError, ParameterError
from grafx.render import reorder_for_fast_render
from grafx.utils import (
    GrafxParameterDict,
    count_nodes_per_type,
    create_empty_parameters,
    create_empty_parameters_from_shape_dict,
    create_parameters_from_graph,
    fill_parameters_from_graph,
    get_node_ids_from_type,
    node_parameters,
    set_node_parameters,
)


class Sized(nn.Module):
    """Test processor with a fixed parameter_size()."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x, **kwargs):
        return x

    def parameter_size(self):
        return self.size


def docs_graph():
    """The documentation's graph: out node 0, then 3 chains in -> eq -> compressor -> reverb."""
    G = GRAFX(config=NodeConfigs(["eq", "compressor", "reverb"]))
    out_id = G.add("out")
    for _ in range(3):
        _, end = G.add_serial_chain(["in", "eq", "compressor", "reverb"])
        G.connect(end, out_id)
    return G


PROCESSORS = {
    "eq": Sized({"log_magnitude": 16}),
    "compressor": Sized({"z_alpha": 1, "log_threshold": 1, "log_ratio": 1, "log_knee": 1}),
    "reverb": Sized({"init_log_magnitude": (2, 5), "delta_log_magnitude": (2, 5)}),
}


def shapes(tree):
    return {
        k: shapes(v) if isinstance(v, nn.ParameterDict) else tuple(v.shape) for k, v in tree.items()
    }


# ------------------------------------------------------------------------------- counting


def test_count_nodes_per_type_graph_and_tensor():
    G = docs_graph()
    expected = {"in": 3, "out": 1, "mix": 0, "eq": 3, "compressor": 3, "reverb": 3}
    assert count_nodes_per_type(G) == expected
    assert count_nodes_per_type(convert_to_tensor(G)) == expected
    assert count_nodes_per_type(G, ["reverb", "gate"]) == {"reverb": 3, "gate": 0}
    assert count_nodes_per_type(convert_to_tensor(G), PROCESSORS) == {
        "eq": 3,
        "compressor": 3,
        "reverb": 3,
    }


def test_count_without_config_counts_present_types():
    G = GRAFX()
    G.add_serial_chain(["in", "a", "a", "b", "out"])
    assert count_nodes_per_type(G) == {"in": 1, "a": 2, "b": 1, "out": 1}


def test_get_node_ids_from_type():
    G = docs_graph()
    assert get_node_ids_from_type(G, "reverb") == [4, 8, 12]
    assert get_node_ids_from_type(convert_to_tensor(G), "eq") == [2, 6, 10]
    assert get_node_ids_from_type(G, "mix") == []
    with pytest.raises(GraphError):
        get_node_ids_from_type("not a graph", "eq")


# --------------------------------------------------------------------------------- creation


@pytest.mark.parametrize("graph_form", ["tensor", "graph"])
@pytest.mark.parametrize("order", ["documented", "original"])
def test_create_empty_parameters_both_forms(graph_form, order):
    G = docs_graph()
    graph = convert_to_tensor(G) if graph_form == "tensor" else G
    args = (graph, PROCESSORS) if order == "documented" else (PROCESSORS, graph)
    parameters = create_empty_parameters(*args)
    assert isinstance(parameters, nn.ModuleDict)
    assert all(isinstance(v, nn.ParameterDict) for v in parameters.values())
    assert list(parameters) == ["eq", "compressor", "reverb"]
    assert shapes(parameters) == {
        "eq": {"log_magnitude": (3, 16)},
        "compressor": {
            "log_knee": (3, 1),
            "log_ratio": (3, 1),
            "log_threshold": (3, 1),
            "z_alpha": (3, 1),
        },
        "reverb": {"delta_log_magnitude": (3, 2, 5), "init_log_magnitude": (3, 2, 5)},
    }
    # Keys sorted inside each type, as the documentation prints them.
    assert list(parameters["compressor"]) == ["log_knee", "log_ratio", "log_threshold", "z_alpha"]
    assert len(list(parameters.parameters())) == 7


def test_create_empty_parameters_rejects_other_arguments():
    with pytest.raises(ParameterError, match="either order"):
        create_empty_parameters(PROCESSORS, PROCESSORS)


def test_values_are_normal_with_the_given_std():
    G = GRAFX(config=NodeConfigs(["eq"]))
    for _ in range(50):
        G.add("eq")
    gen = torch.Generator().manual_seed(0)
    p = create_empty_parameters(G, {"eq": Sized({"x": 400})}, std=0.05, generator=gen)["eq"]["x"]
    assert float(p.detach().mean()) == pytest.approx(0.0, abs=0.003)
    assert float(p.detach().std()) == pytest.approx(0.05, rel=0.03)
    again = create_empty_parameters(
        G, {"eq": Sized({"x": 400})}, std=0.05, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(again["eq"]["x"], p, rtol=0, atol=0)


def test_absent_type_gets_zero_rows_and_dtype_option():
    G = docs_graph()
    parameters = create_empty_parameters(
        G, {"mix": Sized({"w": 2}), "eq": Sized({"g": 3})}, dtype=torch.float64
    )
    assert parameters["mix"]["w"].shape == (0, 2)
    assert parameters["eq"]["g"].dtype == torch.float64


def test_bare_shape_is_a_registered_parameter():
    parameters = create_empty_parameters(docs_graph(), {"eq": Sized((2, 4))})
    leaf = parameters["eq"]["parameter"]
    assert isinstance(leaf, nn.Parameter) and leaf.shape == (3, 2, 4)
    assert len(list(parameters.parameters())) == 1
    parameters.to(torch.float64)
    assert parameters["eq"]["parameter"].dtype == torch.float64
    assert isinstance(create_empty_parameters_from_shape_dict(5, 2, root=False), nn.Parameter)


def test_nested_sizes_give_nested_dicts():
    size = {"chain": {"gain": {"log_gain": 2}, "delay": {"delay_z": (4, 2)}}, "w": 2}
    tree = create_empty_parameters_from_shape_dict(size, 3)
    assert isinstance(tree["chain"], GrafxParameterDict)
    assert shapes(tree) == {
        "chain": {"delay": {"delay_z": (3, 4, 2)}, "gain": {"log_gain": (3, 2)}},
        "w": (3, 2),
    }
    assert len(list(tree.parameters())) == 3


def test_unsupported_shape_type():
    with pytest.raises(ParameterError, match="str"):
        create_empty_parameters_from_shape_dict({"x": "big"}, 2)


def normalized(text):
    return re.sub(r"\s+", "", text)


def test_print_matches_the_documentation_layout():
    parameters = create_empty_parameters(docs_graph(), PROCESSORS)
    expected = """
    ModuleDict(
      (eq): ParameterDict(
        (log_magnitude): Parameter containing: [torch.FloatTensor of size 3x16]
      )
      (compressor): ParameterDict(
        (log_knee): Parameter containing: [torch.FloatTensor of size 3x1]
        (log_ratio): Parameter containing: [torch.FloatTensor of size 3x1]
        (log_threshold): Parameter containing: [torch.FloatTensor of size 3x1]
        (z_alpha): Parameter containing: [torch.FloatTensor of size 3x1]
      )
      (reverb): ParameterDict(
        (delta_log_magnitude): Parameter containing: [torch.FloatTensor of size 3x2x5]
        (init_log_magnitude): Parameter containing: [torch.FloatTensor of size 3x2x5]
      )
    )
    """
    # Exact text, two-space indents (the page itself indents by four).
    lines = [line[4:] for line in expected.strip("\n").splitlines()]
    assert str(parameters) == "\n".join(line for line in lines if line.strip())
    nested = create_empty_parameters_from_shape_dict({"a": {"b": 1}}, 2)
    assert normalized(str(nested)) == normalized(
        "ParameterDict( (a): ParameterDict( (b): Parameter containing: "
        "[torch.FloatTensor of size 2x1] ) )"
    )


# ------------------------------------------------------------------------- one node's values


def numbered_parameters(G_t):
    """Parameters whose every entry equals the owning node's id (rows in G_t's layout)."""
    parameters = create_empty_parameters(G_t, PROCESSORS, dtype=torch.float64)
    for node_type in PROCESSORS:
        ids = torch.tensor(get_node_ids_from_type(G_t, node_type), dtype=torch.float64)
        for leaf in parameters[node_type].values():
            with torch.no_grad():
                leaf.copy_(ids.reshape(-1, *[1] * (leaf.ndim - 1)).expand_as(leaf))
    return parameters


@pytest.mark.parametrize("reorder", [False, True])
def test_node_parameters_finds_the_node_rows(reorder):
    G_t = convert_to_tensor(docs_graph())
    if reorder:
        G_t = reorder_for_fast_render(G_t)
    parameters = numbered_parameters(G_t)
    for node_id in (2, 7, 12):
        values = node_parameters(parameters, G_t, node_id)
        for value in values.values():
            assert torch.all(value == node_id)
    kept = node_parameters(parameters, G_t, 8, keepdim=True)
    assert kept["init_log_magnitude"].shape == (1, 2, 5)


def test_node_parameters_on_the_graph_uses_ascending_ids():
    G = docs_graph()
    parameters = create_empty_parameters(G, PROCESSORS)
    values = node_parameters(parameters, G, 10)  # the third eq
    assert values["log_magnitude"].data_ptr() == parameters["eq"]["log_magnitude"][2].data_ptr()
    with pytest.raises(ParameterError, match="'in'"):
        node_parameters(parameters, G, 1)
    with pytest.raises(GraphError, match="99"):
        node_parameters(parameters, G, 99)


def test_set_and_fill_from_values_stored_on_the_graph():
    G = GRAFX(config=NodeConfigs(["eq", "reverb"]))
    out_id = G.add("out")
    first = G.add("eq", parameters={"log_magnitude": torch.arange(16.0)})
    second = G.add("eq")
    third = G.add("reverb", parameters={"init_log_magnitude": [[1.0] * 5, [2.0] * 5]})
    source = G.add("in")
    G.connect(source, first)
    G.connect(first, second)
    G.connect(second, third)
    G.connect(third, out_id)
    processors = {"eq": PROCESSORS["eq"], "reverb": PROCESSORS["reverb"]}
    parameters = create_parameters_from_graph(G, processors, std=0.0)
    torch.testing.assert_close(parameters["eq"]["log_magnitude"][0], torch.arange(16.0))
    assert torch.all(parameters["eq"]["log_magnitude"][1] == 0)
    reverb = node_parameters(parameters, G, third)
    torch.testing.assert_close(reverb["init_log_magnitude"][1], torch.full((5,), 2.0))
    assert torch.all(reverb["delta_log_magnitude"] == 0)
    # The same values land in the rows of a reordered tensor form.
    G_fast = reorder_for_fast_render(convert_to_tensor(G))
    fast = create_empty_parameters(G_fast, processors, std=0.0)
    assert fill_parameters_from_graph(fast, G, G_fast) == 2
    torch.testing.assert_close(
        node_parameters(fast, G_fast, first)["log_magnitude"], torch.arange(16.0)
    )
    set_node_parameters(fast, G_fast, second, {"log_magnitude": torch.ones(16)})
    torch.testing.assert_close(
        node_parameters(fast, G_fast, second)["log_magnitude"], torch.ones(16)
    )


def test_fill_errors_name_the_node_and_key():
    G = GRAFX(config=NodeConfigs(["eq"]))
    node = G.add("eq", parameters={"log_gain": [1.0]})
    with pytest.raises(ParameterError, match="log_gain"):
        create_parameters_from_graph(G, {"eq": PROCESSORS["eq"]})
    G.nodes[node]["parameters"] = {"log_magnitude": [1.0, 2.0]}
    with pytest.raises(ParameterError, match=f"node {node}"):
        create_parameters_from_graph(G, {"eq": PROCESSORS["eq"]})
    with pytest.raises(GraphError, match="GRAFX"):
        fill_parameters_from_graph({}, convert_to_tensor(G))


def test_batched_graph_rows():
    G_list = [docs_graph(), docs_graph()]
    for G, value in zip(G_list, (1.0, 2.0), strict=True):
        G.nodes[4]["parameters"] = {"init_log_magnitude": torch.full((2, 5), value)}
    G_b = batch_grafx(G_list)
    G_t = reorder_for_fast_render(convert_to_tensor(G_b))
    parameters = create_parameters_from_graph(G_b, PROCESSORS, G_t=G_t, std=0.0)
    for graph_id, value in ((0, 1.0), (1, 2.0)):
        got = node_parameters(parameters, G_t, 4, graph_id=graph_id)["init_log_magnitude"]
        assert torch.all(got == value)


def test_render_permutation_helpers_are_reexported():
    assert grafx.utils.permute_parameters is grafx.render.permute_parameters
    assert grafx.utils.permute_grafx_tensor is grafx.render.permute_grafx_tensor
    assert "permute_sources" in dir(grafx.utils)
    with pytest.raises(AttributeError):
        grafx.utils.no_such_helper  # noqa: B018
