#!/usr/bin/env bash
# Static checks: ruff (lint and format) over the sources, tests and benchmarks, and mypy over
# the library (0 errors; configuration in pyproject.toml). Installs the dev extra into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
.venv/bin/ruff check src tests benchmarks docs/_ext
.venv/bin/ruff format --check src tests benchmarks docs/_ext
.venv/bin/mypy
