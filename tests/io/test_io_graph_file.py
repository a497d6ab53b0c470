"""Graph files: exact round trips, atomic writes, and a clear error for every bad file."""

import json
import os
from pathlib import Path

import pytest
import torch

import grafx.io.graph_file as graph_file
from grafx.data import GRAFX, NodeConfigs, batch_grafx, convert_to_tensor
from grafx.errors import GraphError, GraphFileError, ParameterError
from grafx.io import load_graph, save_graph


@pytest.fixture
def G():
    config = NodeConfigs(
        {
            "eq": {"inlets": ["main"], "outlets": ["main"]},
            "split": {"inlets": ["main"], "outlets": ["low", "high"]},
            "join": {"inlets": ["a", "b"], "outlets": ["main"]},
        }
    )
    G = GRAFX(config=config, invalid_op="warn")
    i = G.add("in", name="guitar")
    s = G.add("split")
    e1, e2 = G.add("eq", name="low eq"), G.add("eq", parameters={"gain": torch.tensor([0.5])})
    j, o = G.add("join"), G.add("out")
    G.connect(i, s)
    G.connect(s, e1, "low")
    G.connect(s, e2, "high")
    G.connect(e1, j, inlet="a")
    G.connect(e2, j, inlet="b")
    G.connect(s, j, "high", "a")  # a parallel path with its own ports
    G.connect(j, o)
    return G


def parameters():
    gen = torch.Generator().manual_seed(0)
    return {
        "eq": {
            "gain": torch.randn(2, 3, generator=gen),
            "q": {"log": torch.randn(2, 1, generator=gen, dtype=torch.float64)},
        },
        "join": torch.randn(1, 2, 2, generator=gen).to(torch.bfloat16),
        "split": {"bands": torch.tensor([[3]], dtype=torch.int32), "on": torch.tensor([True])},
    }


def assert_same_graph(A, B):
    assert A.config == B.config
    assert (A.invalid_op, A.counter, A.batch, A.consecutive_ids) == (
        B.invalid_op,
        B.counter,
        B.batch,
        B.consecutive_ids,
    )
    assert sorted(A.nodes) == sorted(B.nodes)
    for n in A:
        assert A.nodes[n]["node_type"] == B.nodes[n]["node_type"]
        assert A.nodes[n]["name"] == B.nodes[n]["name"]
    assert list(A.edges(data=True)) == list(B.edges(data=True))


def assert_same_tensors(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_tensors(a[k], b[k])
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)


def test_round_trip_is_exact(G, tmp_path):
    path = tmp_path / "graph.json"
    P = parameters()
    assert save_graph(G, path, P) is None
    H, Q = load_graph(path)
    assert_same_graph(G, H)
    assert_same_tensors(P, Q)
    assert torch.equal(H.nodes[3]["parameters"]["gain"], torch.tensor([0.5]))
    assert str(H) == str(G)
    t_G, t_H = convert_to_tensor(G), convert_to_tensor(H)
    assert torch.equal(t_G.edge_indices, t_H.edge_indices)
    assert torch.equal(t_G.edge_types, t_H.edge_types)


def test_float_values_are_bit_exact(tmp_path):
    G = GRAFX(config=NodeConfigs(["eq"]))
    G.add_serial_chain(["in", "eq", "eq", "eq", "out"])
    values = [
        1 / 3,
        1e-45,
        3.4e38,
        -0.0,
        0.1,
        2.0**-1074,
        float("nan"),
        float("inf"),
        -float("inf"),
    ]
    for dtype in (torch.float32, torch.float64, torch.float16):
        data = torch.tensor(values, dtype=torch.float64).to(dtype)
        P = {"eq": data.reshape(3, 3)}
        save_graph(G, tmp_path / "g.json", P)
        _, Q = load_graph(str(tmp_path / "g.json"))
        stored = Q["eq"].reshape(-1)
        assert stored.dtype == dtype
        # compare the raw bits: equal floats, the same NaN, and the sign of zero
        bits = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16}
        assert torch.equal(stored.view(bits[dtype]), data.view(bits[dtype]))


def test_graph_without_config_parameters_or_edges(tmp_path):
    G = GRAFX()
    G.add("anything", name="solo")
    save_graph(G, tmp_path / "g.json")
    H, Q = load_graph(tmp_path / "g.json")
    assert Q is None and H.config is None
    assert_same_graph(G, H)


def test_gaps_and_batches_round_trip(G, tmp_path):
    G.remove(3)
    save_graph(G, tmp_path / "gap.json")
    H, _ = load_graph(tmp_path / "gap.json")
    assert_same_graph(G, H)
    assert H.consecutive_ids is False and H.counter == 6
    B = batch_grafx([G, G])
    save_graph(B, tmp_path / "batch.json")
    H, _ = load_graph(tmp_path / "batch.json")
    assert_same_graph(B, H)
    assert H.counter == [6, 12]
    assert torch.equal(convert_to_tensor(H).graph_ids, convert_to_tensor(B).graph_ids)
    assert torch.equal(convert_to_tensor(H).node_ids, convert_to_tensor(B).node_ids)


def test_tensor_graphs_are_saved_as_graphs(G, tmp_path):
    save_graph(convert_to_tensor(G), tmp_path / "g.json")
    H, _ = load_graph(tmp_path / "g.json")
    assert list(H.edges(data=True)) == sorted(
        G.edges(data=True), key=lambda e: (e[0], e[1], e[2]["outlet"] == "high", e[2]["inlet"])
    )


def test_document_layout(G, tmp_path):
    save_graph(G, tmp_path / "g.json")
    document = json.loads((tmp_path / "g.json").read_text())
    assert document["format"] == "grafx-graph" and document["version"] == 3
    assert document["config"][3] == {"type": "eq", "inlets": ["main"], "outlets": ["main"]}
    assert document["nodes"][0] == {"id": 0, "type": "in", "name": "guitar"}
    assert document["edges"][1] == {"source": 1, "dest": 2, "outlet": "low", "inlet": "main"}
    assert document["parameters"] is None


def test_write_is_atomic(G, tmp_path, monkeypatch):
    path = tmp_path / "g.json"
    save_graph(G, path)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(graph_file.os, "replace", broken_replace)
    G.add("eq")
    with pytest.raises(GraphFileError, match=r"g\.json: cannot write: .*No space left"):
        save_graph(G, path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["g.json"]  # no temporary file left behind


def test_save_errors(G, tmp_path):
    with pytest.raises(GraphFileError, match="missing_dir"):
        save_graph(G, tmp_path / "missing_dir" / "g.json")
    bad = [
        (
            {"eq": torch.zeros(3, 1)},
            r"parameters\['eq'\] has shape \[3, 1\].*number of 'eq' nodes, 2",
        ),
        ({"reverb": torch.zeros(1)}, "parameters for unknown node type 'reverb'"),
        ({"eq": [1.0, 2.0]}, r"parameters\['eq'\]: cannot store a list"),
        ({"eq": torch.zeros(2, dtype=torch.complex64)}, "dtype torch.complex64 cannot be stored"),
        ({"eq": {3: torch.zeros(2)}}, "key 3 is not a string"),
    ]
    for P, message in bad:
        with pytest.raises(ParameterError, match=message):
            save_graph(G, tmp_path / "g.json", P)
    assert not (tmp_path / "g.json").exists()


# ---------------------------------------------------------------------------------- bad files


def good_document(G, tmp_path):
    save_graph(G, tmp_path / "good.json", {"eq": torch.zeros(2, 2)})
    return json.loads((tmp_path / "good.json").read_text())


def write(tmp_path, document) -> Path:
    path = tmp_path / "bad.json"
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_text(text)
    return path


def edit(document, change):
    change(document)
    return document


BAD_DOCUMENTS = [
    (lambda d: d.pop("nodes"), "document: missing field 'nodes'"),
    (lambda d: d.pop("format"), "document: missing field 'format'"),
    (lambda d: d.pop("config"), "document: missing field 'config'"),
    (lambda d: d["edges"][0].pop("inlet"), r"edges\[0\]: missing field 'inlet'"),
    (lambda d: d["nodes"][1].pop("type"), r"nodes\[1\]: missing field 'type'"),
    (
        lambda d: d.update(version=4),
        r"unsupported version 4; this grafx reads versions \[1, 2, 3\]",
    ),
    (lambda d: d.update(version="1"), "field 'version' must be int, got str"),
    (lambda d: d.update(format="other"), "format is 'other', expected 'grafx-graph'"),
    (lambda d: d.update(nodes={}), "field 'nodes' must be list, got dict"),
    (lambda d: d["nodes"][0].update(id="0"), r"nodes\[0\]: field 'id' must be int, got str"),
    (lambda d: d["nodes"][0].update(id=True), r"nodes\[0\]: field 'id' must be int, got bool"),
    (
        lambda d: d["nodes"][0].update(id=-1),
        r"nodes\[0\]: field 'id' must be between 0 and 2\*\*53",
    ),
    (lambda d: d["nodes"][0].update(name=5), r"nodes\[0\]: field 'name' must be str, got int"),
    (lambda d: d["nodes"][1].update(id=0), r"nodes\[1\]: node id 0 is used twice"),
    (lambda d: d["nodes"].__setitem__(2, 7), r"nodes\[2\] must be an object, got int"),
    (
        lambda d: d["nodes"][2].update(type="flanger"),
        r"nodes\[2\]: node 2 has unknown node type 'flanger'",
    ),
    (lambda d: d["edges"][0].update(dest=99), r"edges\[0\]: dest node 99 does not exist"),
    (lambda d: d["edges"][0].update(source=42), r"edges\[0\]: source node 42 does not exist"),
    (
        lambda d: d["edges"][1].update(outlet="mid"),
        r"edges\[1\]: node 1 \('split'\) has no outlet 'mid'",
    ),
    (lambda d: d["edges"].append(dict(d["edges"][0])), r"edges\[7\]: .*existing edge"),
    (
        lambda d: d["edges"].append({"source": 4, "dest": 1, "outlet": "main", "inlet": "main"}),
        r"edges\[7\]: cannot connect 4 -> 1: it would create a cycle",
    ),
    (
        lambda d: d["edges"].append({"source": 5, "dest": 0, "outlet": "main", "inlet": "main"}),
        r"edges\[7\]: node 5 \('out'\) has no outlets",
    ),
    (lambda d: d.update(invalid_op="loud"), "invalid_op must be one of"),
    (lambda d: d.update(counter=3), "counter 3 is not above every node id"),
    (lambda d: d.update(counter=[3, 6]), "a list counter is only allowed with batch true"),
    (lambda d: d["config"][3].update(inlets="main"), r"config\[3\]: field 'inlets' must be list"),
    (lambda d: d["config"][3].update(inlets=[1]), r"config: node type 'eq': port name 1"),
    (lambda d: d["config"].reverse(), "config: types must start with 'in', 'out', 'mix'"),
    (lambda d: d["config"].append(d["config"][3]), r"config\[6\]: node type 'eq' is listed twice"),
    (
        lambda d: d["parameters"]["eq"].update(dtype="complex64"),
        r"parameters\['eq'\]: unsupported dtype 'complex64'",
    ),
    (
        lambda d: d["parameters"]["eq"].update(shape=[2, 3]),
        r"parameters\['eq'\]: 4 values do not fill shape \[2, 3\]",
    ),
    (lambda d: d["parameters"]["eq"].update(shape=[2, -2]), "is not a list of non-negative ints"),
    (
        lambda d: d["parameters"]["eq"]["data"].__setitem__(0, "x"),
        r"parameters\['eq'\]: data holds values that are not float32",
    ),
    (
        lambda d: d["parameters"]["eq"]["data"].__setitem__(0, [1.0]),
        r"parameters\['eq'\]: data holds values that are not float32",
    ),
    (
        lambda d: d["parameters"]["eq"].update(dtype="int64", data=[1, 2, 3, 2**70]),
        r"parameters\['eq'\]: cannot build the tensor",
    ),
    (
        lambda d: d["parameters"]["eq"].update(kind="pickle"),
        r"parameters\['eq'\]: unknown kind 'pickle'",
    ),
    (
        lambda d: d["parameters"]["eq"].update(shape=[4], data=[0.0] * 4),
        r"parameters\['eq'\] has shape \[4\].*number of 'eq' nodes, 2",
    ),
    (lambda d: d["parameters"].update(gate=d["parameters"]["eq"]), "unknown node type 'gate'"),
]


@pytest.mark.parametrize(("change", "message"), BAD_DOCUMENTS)
def test_bad_documents_name_the_file_and_problem(G, tmp_path, change, message):
    path = write(tmp_path, edit(good_document(G, tmp_path), change))
    with pytest.raises(GraphFileError, match=message) as info:
        load_graph(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "grafx-graph", "version": 1, "nodes": [', "not valid JSON \\(truncated"),
        ("", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"format": "grafx-graph", "format": "x"}', "duplicate key 'format'"),
        ('{"format": "grafx-graph", "version": NaN}', "NaN is not allowed"),
        ("[" * 100000 + "]" * 100000, "nested too deeply|not valid JSON"),
    ],
)
def test_broken_text(tmp_path, text, message):
    with pytest.raises(GraphFileError, match=message):
        load_graph(write(tmp_path, text))


def test_truncated_real_file(G, tmp_path):
    save_graph(G, tmp_path / "g.json", {"eq": torch.zeros(2, 2)})
    text = (tmp_path / "g.json").read_text()
    for cut in (1, len(text) // 3, len(text) - 3):
        with pytest.raises(GraphFileError, match="not valid JSON"):
            load_graph(write(tmp_path, text[:cut]))


def test_too_many_nodes(G, tmp_path, monkeypatch):
    monkeypatch.setattr(graph_file, "MAX_NODES", 5)
    path = write(tmp_path, good_document(G, tmp_path))
    with pytest.raises(GraphFileError, match=r"6 nodes and 7 edges is over the limit \(5 nodes"):
        load_graph(path)


def test_unsaveable_node_attributes(tmp_path):
    G = GRAFX()
    G.add("eq")
    G.nodes[0]["name"] = 5
    with pytest.raises(GraphError, match="node 0: name 5 is not a string"):
        save_graph(G, tmp_path / "g.json")
    G.add_node("x", node_type="eq")
    with pytest.raises(GraphError, match="node 'x': a graph file needs int ids"):
        save_graph(G, tmp_path / "g.json")


def test_missing_binary_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(GraphFileError, match=r"nothing\.json: cannot read: No such file"):
        load_graph(tmp_path / "nothing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GraphFileError, match=r"bin\.json: not a UTF-8 text file"):
        load_graph(tmp_path / "bin.json")
    monkeypatch.setattr(graph_file, "MAX_FILE_BYTES", 10)
    with pytest.raises(GraphFileError, match="over the 10-byte limit"):
        load_graph(write(tmp_path, '{"format": "grafx-graph"}'))


# ---------------------------------------------------------------------------------- side file


def test_safetensors_side_file_round_trip(G, tmp_path):
    path = tmp_path / "graph.json"
    P = parameters()
    save_graph(G, path, P, tensors="safetensors")
    assert sorted(os.listdir(tmp_path)) == ["graph.json", "graph.safetensors"]
    document = json.loads(path.read_text())
    assert document["tensor_file"] == "graph.safetensors"
    assert document["parameters"]["join"] == {
        "kind": "tensor",
        "dtype": "bfloat16",
        "shape": [1, 2, 2],
        "key": document["parameters"]["join"]["key"],
    }
    H, Q = load_graph(path)
    assert_same_graph(G, H)
    assert_same_tensors(P, Q)
    assert torch.equal(H.nodes[3]["parameters"]["gain"], torch.tensor([0.5]))


def side_file_case(G, tmp_path):
    save_graph(G, tmp_path / "g.json", {"eq": torch.zeros(2, 2)}, tensors="safetensors")
    return json.loads((tmp_path / "g.json").read_text())


def test_side_file_problems(G, tmp_path):
    document = side_file_case(G, tmp_path)
    key = document["parameters"]["eq"]["key"]
    cases = [
        (lambda d: d.update(tensor_file="../g.safetensors"), "must be a file name beside"),
        (lambda d: d.update(tensor_file="other.safetensors"), "cannot read tensor file other"),
        (lambda d: d.pop("tensor_file"), "names no tensor file"),
        (lambda d: d["parameters"]["eq"].update(key="t9"), "tensor 't9' is missing"),
        (
            lambda d: d["parameters"]["eq"].update(shape=[2, 3]),
            rf"tensor '{key}' in the tensor file is torch.float32 \[2, 2\], but the graph file",
        ),
    ]
    for change, message in cases:
        path = write(tmp_path, edit(json.loads(json.dumps(document)), change))
        with pytest.raises(GraphFileError, match=message):
            load_graph(path)
    (tmp_path / "g.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(GraphFileError, match="g.safetensors is not a valid safetensors file"):
        load_graph(tmp_path / "g.json")


def test_unknown_tensor_store(G, tmp_path):
    with pytest.raises(GraphFileError, match=r"tensors must be one of \('inline', 'safetensors'\)"):
        save_graph(G, tmp_path / "g.json", tensors="pickle")
