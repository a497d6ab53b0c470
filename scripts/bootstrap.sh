#!/usr/bin/env bash
# Create or update .venv with everything grafx needs. Safe to run repeatedly.
# torch is installed first, pinned to the CPU build, so that pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    "${pip[@]}" install "torch==2.13.0"
fi
stamp=.venv/.grafx-installed-$extras
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "${pip[@]}" install -e ".[$extras]"
    touch "$stamp"
fi
