#!/usr/bin/env bash
# Build the sdist and the wheel, check what they hold, install the wheel into a clean venv
# outside the repository and run it: import grafx, grafx --help, grafx demo --steps 5.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/grafx-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
pip_flags=(--disable-pip-version-check -q)

echo "== [${SECONDS} s] build sdist and wheel (the wheel is built from the sdist)"
"$python" -m venv "$work/build-env"
"$work/build-env/bin/python" -m pip install "${pip_flags[@]}" "build>=1.0"
"$work/build-env/bin/python" -m build --outdir "$work/dist" "$root" > "$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
if grep -E "DeprecationWarning|is deprecated|will be removed" "$work/build.log"; then
    echo "check_package: the build warns of a deprecation (above)"; exit 1
fi
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
echo "$(basename "$sdist") $(basename "$wheel")"

echo "== [${SECONDS} s] the sdist holds the tests, docs, LICENSE and CHANGELOG"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort > "$work/sdist-files"
if git -C "$root" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git -C "$root" ls-files tests docs LICENSE CHANGELOG.md README.md pyproject.toml
else
    (cd "$root" && find tests docs LICENSE CHANGELOG.md README.md pyproject.toml -type f \
        -not -path '*/__pycache__/*' -not -path 'docs/_build/*' -not -path 'docs/api/*')
fi | sort > "$work/needed-files"
missing=$(comm -23 "$work/needed-files" "$work/sdist-files")
if [ -n "$missing" ]; then
    echo "check_package: the sdist lacks:"; echo "$missing"; exit 1
fi
echo "$(wc -l < "$work/needed-files") files checked"

echo "== [${SECONDS} s] the wheel's metadata"
"$python" - "$wheel" <<'PY'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(sys.argv[1]).read(meta).decode()
assert "Name: grafx-torch" in text, "distribution name"
assert "License-Expression: Apache-2.0" in text, "SPDX license"
assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "LICENSE in the wheel"
assert not any(n.startswith("tests/") for n in names), "tests must not be installed"
assert any(n == "grafx/py.typed" for n in names), "py.typed"
print("Name, License-Expression, licenses/LICENSE, py.typed: ok")
PY

echo "== [${SECONDS} s] install the wheel into a clean venv (CPU torch first)"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install "${pip_flags[@]}" "torch==2.13.0"
"$work/venv/bin/python" -m pip install "${pip_flags[@]}" "$wheel"
cd "$work"  # outside the repository: nothing can come from the checkout
export MPLBACKEND=Agg
"$work/venv/bin/python" - <<'PY'
import importlib.metadata
import grafx

assert "site-packages" in grafx.__file__, grafx.__file__
assert grafx.__version__ == importlib.metadata.version("grafx-torch"), grafx.__version__
print(f"import grafx: {grafx.__version__} from {grafx.__file__}")
PY
"$work/venv/bin/grafx" --help > "$work/help.txt"
head -3 "$work/help.txt"
"$work/venv/bin/grafx" --version
"$work/venv/bin/grafx" demo --steps 5 --quiet --out "$work/demo"
test -s "$work/demo/fitted.wav" && test -s "$work/demo/graph.json"
echo "check_package: ok (${SECONDS} s)"
