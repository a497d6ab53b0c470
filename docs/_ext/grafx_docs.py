"""Sphinx helpers of the grafx documentation, all run at build time from the library itself.

- ``api/``: one page per public module, written before the build reads its sources. Each object
  is documented once, in the module that defines it (so every cross-reference has one target);
  a package page lists what it re-exports with links to those pages.
- ``.. grafx-cli::``: the command-line reference, from :func:`grafx.cli.build_parser`.
- ``.. grafx-run::``: runs a code block and shows it with what it printed (the measurements on the
  differences page are made by the build, not copied in).
- ``.. grafx-parameters:: Name``: a processor's parameter table from ``parameter_size()``.
- ``mathml``: a math renderer that converts LaTeX to MathML with docutils, so that the site
  loads no script from the network.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import pkgutil
import re
import textwrap
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from docutils.utils.math import latex2mathml

#: Modules left out of the API reference (running it is the command line).
SKIPPED = ("grafx.__main__",)


# --------------------------------------------------------------------------------------------
# API pages


def _public_modules() -> list[str]:
    import grafx

    names = ["grafx"]
    for info in pkgutil.walk_packages(grafx.__path__, prefix="grafx."):
        if any(info.name == s or info.name.startswith(s + ".") for s in SKIPPED):
            continue
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_")
            and (
                (inspect.isclass(obj) or inspect.isfunction(obj))
                and getattr(obj, "__module__", None) == module.__name__
                or n.isupper()  # module constants; _entries keeps those assigned here
            )
        ]
    return list(names)


def _assigned_here(module, name: str) -> bool:
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return False
    return re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, re.MULTILINE) is not None


def _entries(module) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(documented here, re-exported from elsewhere) as (directive, qualified name) pairs."""
    here, elsewhere = [], []
    for name in _public_names(module):
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        home = getattr(obj, "__module__", None)
        if inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj) and home:
            kind = "autoclass" if inspect.isclass(obj) else "autofunction"
            if home == module.__name__:
                here.append((kind, f"{module.__name__}.{name}"))
            else:
                role = "class" if inspect.isclass(obj) else "func"
                elsewhere.append((role, f"{name} <{home}.{obj.__qualname__}>"))
        elif _assigned_here(module, name):
            here.append(("autodata", f"{module.__name__}.{name}"))
    return here, elsewhere


def write_api_pages(app) -> None:
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    modules = _public_modules()
    pages = {}
    for name in modules:
        module = importlib.import_module(name)
        here, elsewhere = _entries(module)
        lines = [f"``{name}``", "=" * (len(name) + 4), "", f".. automodule:: {name}", ""]
        if elsewhere:
            lines += [
                f"Importable from ``{name}``, documented in the module that defines them:",
                "",
            ]
            lines += [f"- :{role}:`{target}`" for role, target in elsewhere]
            lines.append("")
        for kind, target in here:
            lines.append(f".. {kind}:: {target}")
            if kind == "autoclass":
                lines.append("   :members:")
            lines.append("")
        children = [m for m in modules if m.rsplit(".", 1)[0] == name and m != name]
        if children:
            lines += ["Modules:", "", ".. toctree::", "   :maxdepth: 1", ""]
            lines += [f"   {child}" for child in children]
            lines.append("")
        pages[name] = "\n".join(lines)
    for name, text in pages.items():
        path = out / f"{name}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages stay unrebuilt
            path.write_text(text)
    for stale in out.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()


# --------------------------------------------------------------------------------------------
# Directives


def _parse(directive: Directive, text: str) -> list[nodes.Node]:
    from sphinx.util.nodes import nested_parse_with_titles

    container = nodes.section()
    container.document = directive.state.document
    source = directive.state.document.current_source
    nested_parse_with_titles(directive.state, StringList(text.splitlines(), source), container)
    return container.children


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


class CLIDirective(Directive):
    """The ``grafx`` command line: one section per command with its ``--help``."""

    def run(self):
        from grafx.cli import build_parser

        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "80"  # the width argparse wraps the help at
        try:
            parser = build_parser()
            lines = ["``grafx``", "-" * 9, "", ".. code-block:: text", ""]
            lines += ["   " + line for line in parser.format_help().splitlines()]
            lines.append("")
            for command, sub in _subparsers(parser).items():
                title = f"``grafx {command}``"
                lines += [title, "-" * len(title), ""]
                lines += _options_table(sub)
                lines += ["", ".. code-block:: text", ""]
                lines += ["   " + line for line in sub.format_help().splitlines()]
                lines.append("")
        finally:
            if columns is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = columns
        return _parse(self, "\n".join(lines))


def _options_table(parser) -> list[str]:
    import argparse

    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = ", ".join(action.option_strings) or (action.metavar or action.dest)
        default = action.default
        hidden = default is None or default is False or default == argparse.SUPPRESS
        shown = "" if hidden else f"``{default!r}``"
        help_text = " ".join((action.help or "").split()).replace("%(default)s", str(default))
        rows.append((f"``{name}``", shown, help_text.replace("|", "/") or " "))
    if not rows:
        return []
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 15 60", ""]
    lines += ["   * - argument", "     - default", "     - meaning"]
    for name, default, help_text in rows:
        lines += [f"   * - {name}", f"     - {default or ' '}", f"     - {help_text}"]
    return lines


class RunDirective(Directive):
    """Run the block's Python code at build time; show it and what it printed."""

    has_content = True

    def run(self):
        code = "\n".join(self.content)
        out = io.StringIO()
        namespace: dict = {"__name__": "__grafx_docs__"}
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<{self.state.document.current_source}>", "exec"), namespace)
        text = ".. code-block:: python\n\n" + textwrap.indent(code, "   ") + "\n"
        printed = out.getvalue().rstrip()
        if printed:
            text += "\nprints\n\n.. code-block:: text\n\n" + textwrap.indent(printed, "   ") + "\n"
        return _parse(self, text)


class ParametersDirective(Directive):
    """A processor's parameters: key, shape per node and (where it has them) its settings."""

    required_arguments = 1
    option_spec = {"args": directives.unchanged}

    def run(self):
        import grafx.processors as P

        name = self.arguments[0]
        cls = getattr(P, name)
        kwargs = eval(f"dict({self.options.get('args', '')})")
        processor = cls(**kwargs)
        sizes = processor.parameter_size()
        made = f"{name}({self.options.get('args', '')})"
        lines = [f"Parameters of ``{made}``, each ``(B, *shape)``:", ""]
        if sizes:
            lines += [".. list-table::", "   :header-rows: 1", "", "   * - key", "     - shape"]
            for key, shape in sizes.items():
                shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
                lines += [f"   * - ``{key}``", f"     - ``{shape}``"]
        else:
            lines.append("none.")
        lines.append("")
        return _parse(self, "\n".join(lines))


# --------------------------------------------------------------------------------------------
# Cross-references


_MISSING = object()


def _resolve(target: str):
    """The object a dotted ``grafx.`` name refers to, or ``_MISSING``."""
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


def resolve_reexports(app, env, node, contnode):
    """A reference to a re-exported name (``grafx.fit.fit_parameters``) links to the page of the
    module that defines it; a name that exists but has no entry of its own (a private base, a
    type variable, a helper outside ``__all__``) stays plain text. A name that does not exist
    stays unresolved, and ``-W`` fails the build on it."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("grafx."):
        return None
    obj = _resolve(target)
    if obj is _MISSING:
        return None
    home = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    domain = env.get_domain("py")
    if home and qualname and f"{home}.{qualname}" != target:
        canonical = f"{home}.{qualname}"
        found = domain.resolve_any_xref(env, node["refdoc"], app.builder, canonical, node, contnode)
        if found:
            return found[0][1]
    return contnode


def drop_type_docstrings(app, what, name, obj, options, lines):
    """A constant without a ``#:`` comment shows no docstring (not its type's, e.g. dict's)."""
    doc = getattr(type(obj), "__doc__", None)
    same = isinstance(doc, str) and "\n".join(lines).strip() == inspect.cleandoc(doc).strip()
    if what in ("data", "attribute") and same:
        lines[:] = []


def public_bases(app, name, obj, options, bases):
    """Show a class's public ancestors instead of private helper bases."""
    result = []
    for base in bases:
        if getattr(base, "__name__", "").startswith("_") and inspect.isclass(base):
            result.append(next(b for b in base.__mro__ if not b.__name__.startswith("_")))
        else:
            result.append(base)
    bases[:] = list(dict.fromkeys(result))


# --------------------------------------------------------------------------------------------
# Math as MathML


def _mathml(latex: str, block: bool) -> str:
    try:
        markup = latex2mathml.tex2mathml(latex, as_block=block)
    except Exception:  # a construct docutils cannot convert: show the LaTeX
        from html import escape

        return f'<code class="math">{escape(latex)}</code>'
    return markup


def _visit_inline(self, node):
    self.body.append(_mathml(node.astext(), block=False))
    raise nodes.SkipNode


def _visit_block(self, node):
    self.body.append(f'<div class="math">{_mathml(node.astext(), block=True)}</div>')
    raise nodes.SkipNode


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.connect("missing-reference", resolve_reexports)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-docstring", drop_type_docstrings)
    app.add_directive("grafx-cli", CLIDirective)
    app.add_directive("grafx-run", RunDirective)
    app.add_directive("grafx-parameters", ParametersDirective)
    app.add_html_math_renderer(
        "mathml", inline_renderers=(_visit_inline, None), block_renderers=(_visit_block, None)
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
