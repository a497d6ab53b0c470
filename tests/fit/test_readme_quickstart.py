import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_quick_start_runs_and_recovers_the_fader():
    text = README.read_text()
    section = text.split("## Quick start in Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    first, last = (float(x) for x in re.search(r"loss (\S+) -> (\S+)", printed.getvalue()).groups())
    assert last < first / 3
    settings = namespace["get_node_settings"](
        namespace["result"].parameters, namespace["G"], "track0/gain_pan"
    )
    assert abs(settings["gain_db"] + 6.0) < 1.0 and abs(settings["pan"] + 0.5) < 0.1
