import subprocess
import sys

import pytest

import grafx


def test_subpackages_load_on_attribute_access():
    code = (
        "import sys, grafx\n"
        "assert 'grafx.render' not in sys.modules\n"
        "from grafx.data import GRAFX\n"
        "assert grafx.render.render_grafx.__name__ == 'render_grafx'\n"
        "assert grafx.utils.create_empty_parameters is not None\n"
        "assert grafx.processors.StereoGain().parameter_size() == {'log_gain': 2}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="nothing_here"):
        grafx.nothing_here  # noqa: B018
