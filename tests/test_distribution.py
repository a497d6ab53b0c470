"""The distribution's metadata: its own name, the license, one version, extras and install hints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import grafx

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NAME = "grafx-torch"


def test_name_license_and_version_in_one_place():
    assert PROJECT["name"] == NAME
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert "version" in PROJECT["dynamic"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "grafx.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", grafx.__version__)
    assert f"## {grafx.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_all_extra_holds_every_runtime_extra():
    extras = PROJECT["optional-dependencies"]
    (spec,) = extras["all"]
    included = set(re.fullmatch(rf"{NAME}\[(.*)\]", spec).group(1).split(","))
    development = {"all", "test", "docs", "bench", "dev"}
    assert included == set(extras) - development


def test_every_install_hint_names_the_distribution():
    """``pip install grafx`` installs the original GRAFX: no hint may say it."""
    wrong = re.compile(r"pip install\s+['\"]?grafx(?![-\w])|['\"]grafx\[")
    files = [ROOT / "README.md", *sorted((ROOT / "src").rglob("*.py"))]
    files += sorted((ROOT / "docs").rglob("*.rst"))
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wrong.search(line) and "never" not in line and "uninstall" not in line
    ]
    assert found == []
