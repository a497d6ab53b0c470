import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_automation_example_rides_the_fader_and_saves_the_knots(tmp_path, monkeypatch):
    section = README.read_text().split("\n## Automation\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)
    assert (tmp_path / "ride.json").is_file()
    assert ns["params"]["gain_pan"]["log_gain"].shape == (2, 2, 5)
    # before 0.5 s track 0 sounds as its static setting, after 1 s as that setting - 0.7
    sr, renderer, timeline = ns["sr"], ns["renderer"], ns["timeline"]
    torch.manual_seed(0)
    stems = torch.randn(2, 2, 2 * sr)
    mix, _ = renderer(stems, ns["params"], timeline=timeline)
    before, _ = renderer(stems, ns["static"])
    lowered = {**ns["static"], "gain_pan": dict(ns["static"]["gain_pan"])}
    lowered["gain_pan"]["log_gain"] = lowered["gain_pan"]["log_gain"].clone()
    lowered["gain_pan"]["log_gain"][0] -= 0.7
    after, _ = renderer(stems, lowered)
    assert torch.allclose(mix[:, : sr // 2], before[:, : sr // 2], atol=1e-6)
    assert torch.allclose(mix[:, sr:], after[:, sr:], atol=1e-6)
    assert not torch.allclose(mix[:, sr:], before[:, sr:], atol=1e-3)
