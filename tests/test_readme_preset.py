import re
from pathlib import Path

import pytest

from grafx.presets import get_node_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_preset_example_recalls_the_settings():
    section = README.read_text().split("A node's settings can be kept as a preset", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)
    recalled = get_node_settings(ns["params_b"], ns["song_b"], "bus0/eq", ns["processors"])
    assert recalled["eq_gains_db"] == pytest.approx([3.0] * 4, abs=1e-5)
