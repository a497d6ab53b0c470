import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_graph_section_runs_and_prints_what_it_says():
    section = README.read_text().split("## Graphs, tensors and rendering", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "['in', 'eq', 'compressor', 'reverb', 'out']"
    assert lines[1] == "torch.Size([1, 2, 32768])"
    assert lines[2] == "eq torch.Size([1, 10])"
    # The row found for node 6 is the one rendered for it: the second "in -> eq" chain.
    G_t = namespace["G_t"]
    assert namespace["G"].nodes[6]["node_type"] == "eq"
    assert G_t.node_types[G_t.node_row(6)] == G_t.config.node_type_to_index["eq"]
