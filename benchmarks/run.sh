#!/usr/bin/env bash
# The benchmark suite in one command, from a clean checkout:
#     bash benchmarks/run.sh [--quick] [run_all.py options]
# Sets up grafx's .venv and the original library's separate .venv-original, then runs
# benchmarks/run_all.py (tables on stdout, JSON under benchmarks/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! bash benchmarks/setup_original.sh; then
    echo "warning: the original library could not be installed; its comparisons will fail" >&2
fi
mkdir -p benchmarks/results
exec .venv/bin/python benchmarks/run_all.py "$@"
