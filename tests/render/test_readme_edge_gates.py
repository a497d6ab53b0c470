import contextlib
import io
import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_edge_gate_example_cuts_one_track():
    section = README.read_text().split("**Edge gates**", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, str(README), "exec"), ns)
    G, parameters = ns["G"], ns["parameters"]
    names = [(G.nodes[s]["name"], G.nodes[d]["name"]) for s, d, _, _ in ns["graph_edges"](G)]
    gates = dict(zip(names, ns["edge_gates"](parameters).tolist(), strict=True))
    assert gates.pop(("track1/gain_pan", "out")) == 0.0
    assert sorted(gates) == [
        ("track0/gain_pan", "out"),
        ("track0/in", "track0/gain_pan"),
        ("track1/in", "track1/gain_pan"),
    ]
    assert set(gates.values()) == {1.0}
    # The mix is track 0's strip alone: the same console without edge gates and a silent track 1.
    silent = ns["stems"].clone()
    silent[1] = 0
    plain = ns["console_parameters"](G, ns["processors"])
    alone = ns["render_mix"](G, ns["processors"], plain, silent, ns["sequence"])
    torch.testing.assert_close(ns["mix"], alone)
