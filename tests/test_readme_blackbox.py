import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def run_section(title):
    section = README.read_text().split(title, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    return printed.getvalue().splitlines(), namespace


def test_readme_black_box_fit_recovers_the_hidden_settings():
    lines, _ = run_section("### Black boxes: effects without gradients")
    found = re.fullmatch(r"threshold (\S+) dB, ratio (\S+), makeup (\S+) dB", lines[-1])
    threshold, ratio, makeup = (float(v) for v in found.groups())
    assert abs(threshold + 24) < 2 and abs(ratio - 5) < 0.2 * 5 and abs(makeup - 6) < 1


def test_readme_source_gradients_keep_float64_and_reach_the_target():
    lines, namespace = run_section("### Gradients to the sources")
    assert lines[0] == "torch.float64 torch.float64 True"
    found = re.fullmatch(r"output MSE (\S+), source error (\S+)%", lines[1])
    mse, error = (float(v) for v in found.groups())
    assert mse < 1e-4 and error < 10
