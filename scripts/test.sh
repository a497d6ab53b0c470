#!/usr/bin/env bash
# Set up .venv (if needed, with the dev extra: test dependencies, ruff, mypy) and run the whole
# test suite. scripts/lint.sh runs the static checks with the same environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
exec .venv/bin/python -m pytest "$@"
