#!/usr/bin/env bash
# The main job: embed a few sentences with the real all-MiniLM-L6-v2 and compare them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/embed_demo.py "$@"
