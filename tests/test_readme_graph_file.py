import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_graph_file_example_round_trips():
    section = README.read_text().split("### Graph files", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    assert printed.getvalue() == "DryWet MultitapDelay\n"
    model = namespace["model"]
    assert type(model.processors["echo"]).__name__ == "DryWet"
    assert model.processors["echo"].processor.parameter_size() == (
        namespace["processors"]["echo"].processor.parameter_size()
    )
    assert model.parameters.keys() == {"gain", "echo"}
