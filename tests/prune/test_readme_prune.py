import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_pruning_example_finds_the_unused_processors():
    section = README.read_text().split("## Soft structure and pruning", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "['track0/imager', 'track1/gain_pan', 'track2/imager']"
    rho, before, after = re.match(r"rho (\S+), loss (\S+) -> (\S+)", lines[1]).groups()
    assert float(rho) == 0.5 and float(after) <= 1.01 * float(before)
