"""Sphinx configuration of the grafx documentation (``bash scripts/docs.sh`` builds it).

Sphinx rather than MkDocs: autodoc + napoleon read the Google-style docstrings as they are,
matplotlib ships the plot directive that draws the gallery from the code at build time (no
extra plugin), ``-W`` with nitpicky references turns a broken reference into a failed build,
and the reference library's own site is Sphinx, so its users find the same layout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # the checkout's grafx, also without an install
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import grafx  # noqa: E402

project = "grafx"
author = "The grafx developers"
copyright = "The grafx developers"
release = grafx.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "matplotlib.sphinxext.plot_directive",
    "myst_parser",
    "grafx_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []

# Google-style docstrings, type hints in the description, members in source order.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_mock_imports = ["pedalboard", "ray", "torch_geometric"]
autodoc_preserve_defaults = True
autoclass_content = "both"
autodoc_inherit_docstrings = False  # torch's docstrings refer to torch's own site

# Plots are drawn at build time from the library: the code of each figure is the library's.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.figsize": (7.0, 3.2), "font.size": 9, "axes.grid": True}
plot_pre_code = "import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"

myst_heading_anchors = 2

html_theme = "alabaster"
html_title = f"grafx {release}"
html_theme_options = {
    "description": "Audio processing graphs in PyTorch",
    "page_width": "1100px",
    "sidebar_width": "240px",
    "fixed_sidebar": True,
}
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
# Math is converted to MathML at build time (grafx_docs): the site loads nothing from the network.
html_math_renderer = "mathml"

# A reference to a grafx name that does not exist fails the build (-W); references to other
# libraries' names (torch, numpy, typing) are not checked, since the build is offline.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"^(?!grafx\.).*")]
