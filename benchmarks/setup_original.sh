#!/usr/bin/env bash
# Install the original grafx 0.6.0 from the package registry into its OWN environment,
# .venv-original, for side-by-side timing. Nothing of it enters grafx's .venv or this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
env=.venv-original
if [ -x "$env/bin/python" ] && "$env/bin/python" -c "import importlib.metadata as m; m.version('grafx')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$env"
pip=("$env/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install "torch==2.13.0"            # the local CPU wheel, never a CUDA build
"${pip[@]}" install numpy scipy matplotlib networkx einops torchcomp torch_geometric
"${pip[@]}" install --no-build-isolation "torchlpc>=0.4"   # builds against the torch above
"${pip[@]}" install --no-deps "grafx==0.6.0"
