#!/usr/bin/env bash
# Create .venv457: transformers 4.57 (the last release with the question-answering,
# translation and summarization pipelines) beside PyTorch CPU. Only the scripts
# that write tests/fixtures need it; the tests read the committed fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv457/bin/python ]; then
  "$PY" -m venv .venv457
  .venv457/bin/python -m pip install -q --upgrade pip
fi
.venv457/bin/python -m pip install -q "torch==2.13.0" "transformers==4.57.6" sentencepiece tokenizers \
  safetensors protobuf numpy
