#!/usr/bin/env bash
# Set up .venv (if needed) and run the main job on built-in example data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
exec .venv/bin/grafx demo --out "${1:-demo-output}"
