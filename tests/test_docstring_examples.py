"""Every docstring example (``>>>``) in grafx runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import grafx


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(grafx.__path__, prefix="grafx."):
        if info.name == "grafx.__main__":  # running it is the CLI
            continue
        module = importlib.import_module(info.name)
        finder = doctest.DocTestFinder(exclude_empty=True)
        if any(test.examples for test in finder.find(module, module.__name__)):
            names.append(info.name)
    return names


MODULES = _modules_with_examples()


def test_examples_are_found():
    assert "grafx.utils" in MODULES and "grafx.processors.base" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_no_example_is_skipped():
    """Every example runs: none opts out with a SKIP directive."""
    from pathlib import Path

    root = Path(grafx.__file__).parent
    skipped = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ">>>" in line and "doctest: +SKIP" in line
    ]
    assert skipped == []
