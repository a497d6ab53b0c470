"""Entry points with one signature each, and the earlier import paths that forward to them."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import grafx.automation.readout
import grafx.presets
import grafx.utils
from grafx import compat
from grafx.data import parameters as parameter_trees
from grafx.data import rows
from grafx.mixing import console, readout
from grafx.render import graph


@pytest.mark.parametrize("function", [graph.render_grafx, graph.render_grafx_with_buffer])
def test_render_entry_points_have_a_real_signature(function):
    signature = inspect.signature(function)
    kinds = {p.kind for p in signature.parameters.values()}
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert list(signature.parameters)[:4] == ["source", "processors", "parameters", "render_data"]
    keywords = [
        n for n, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert keywords == [
        "common_parameters",
        "parameters_grad",
        "input_signal_grad",
        "graph",
        "edge_gains",
        "timeline",
    ]


def test_compat_render_takes_the_original_arguments():
    names = list(inspect.signature(compat.render_grafx).parameters)
    assert names[:7] == [
        "processors",
        "input_signals",
        "per_type_parameters",
        "render_data",
        "common_parameters",
        "parameters_grad",
        "input_signal_grad",
    ]


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            grafx.presets,
            console,
            [
                "DEFAULT_CHAIN",
                "CONSOLE_TYPES",
                "build_mixing_console",
                "console_processors",
                "console_parameters",
                "set_node_settings",
                "get_node_settings",
            ],
        ),
        (grafx.presets, rows, ["node_rows"]),
        (
            grafx.automation.readout,
            readout,
            ["automation_readout", "fader_curves", "knot_parameters", "automated_nodes"],
        ),
        (
            grafx.utils,
            parameter_trees,
            ["create_empty_parameters", "node_parameters", "set_node_parameters"],
        ),
        (grafx.utils, rows, ["count_nodes_per_type", "get_node_ids_from_type"]),
    ],
)
def test_earlier_paths_forward_the_same_objects(old, new, names):
    for name in names:
        assert getattr(old, name) is getattr(new, name), name


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("grafx.render.core", "grafx.compat.buffers"),
        ("grafx.render.order.graph", "grafx.compat.order"),
        ("grafx.render.order.tensor", "grafx.compat.order"),
        ("grafx.processors.blackbox_check", "grafx.testing.blackbox"),
    ],
)
def test_original_module_paths_forward_to_their_homes(old, new):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert old_module.__all__
    for name in old_module.__all__:
        assert getattr(old_module, name) is getattr(new_module, name), name


def test_listing_the_processors_does_not_load_the_testing_helpers():
    code = (
        "import sys, grafx.processors as P\n"
        "names = P.__all__\n"
        "assert 'Compressor' in names\n"
        "print(sorted(m for m in sys.modules if m.startswith(('grafx.testing', 'grafx.compat'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
