#!/usr/bin/env bash
# Build the documentation site into docs/_build/html; warnings are errors (a broken reference,
# a docstring docutils cannot read or a gallery figure that fails stops the build).
# Installs what it needs into .venv first (CPU torch, then grafx with the docs extra); needs no
# network after that: plots and measurements are computed from the checkout's grafx.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh docs,numba  # numba: the API pages import its kernels module
export MPLBACKEND=Agg
exec .venv/bin/python -m sphinx -W --keep-going -b html -q docs docs/_build/html "$@"
