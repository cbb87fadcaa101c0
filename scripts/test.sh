#!/usr/bin/env bash
# Set up .venv with the PyTorch reference and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
exec .venv/bin/python -m pytest "$@"
