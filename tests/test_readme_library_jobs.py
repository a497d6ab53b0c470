import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_job_example_fits_and_writes_the_fit_folder(tmp_path, monkeypatch, capsys):
    section = README.read_text().split("### Library jobs", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {})
    before, after = map(
        float, re.fullmatch(r"loss (\S+) -> (\S+)\n", capsys.readouterr().out).groups()
    )
    assert after < before
    metrics = json.loads((tmp_path / "my-fit" / "metrics.json").read_text())
    assert metrics["steps"] == 20 and metrics["run"]["options"]["steps"] == 20
    assert metrics["run"]["options"]["stems"] == [
        "songs/song000/drums.wav",
        "songs/song000/bass.wav",
    ]
    for name in ("fitted.wav", "initial.wav", "graph.json", "settings.txt", "report.png"):
        assert (tmp_path / "my-fit" / name).is_file(), name
