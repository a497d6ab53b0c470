"""The README's predictor example runs and gives the renderer's shapes."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_predictor_example(capsys):
    section = README.read_text().split("## Predicting a mix in one pass", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)
    printed = capsys.readouterr().out
    assert "'gain_pan': {'drywet_weight': (4, 1), 'log_gain': (4, 2)}" in printed
    assert ns["predicted"]["eq"]["log_gain"].shape == (4, 1, 4)
