import contextlib
import io
import re
from pathlib import Path

from grafx.processors import registry

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_processor_example_runs_and_prints_what_it_says():
    section = README.read_text().split("### Writing a processor", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    finally:
        registry.unregister("Polarity")
    assert printed.getvalue().strip() == "tensor([-1., -1., -1., -1.])"
