#!/usr/bin/env bash
# Create .venvflax: the transformers Flax models (removed in transformers 5) as users
# ran them last, transformers 4.46.3 on jax/jaxlib 0.4.30 and flax 0.8.5, for the
# benchmark's optional second peer (`bench/run.py --peers flax`, bench/flax_peer.py).
# torch (CPU, 2.13.0 from the local disk: a bare `torch` would pull a CUDA build) is
# there for from_pt=True, since the benchmark checkpoints are PyTorch safetensors.
# numpy < 2: jax 0.4.30 / flax 0.8.5 / transformers 4.46 predate numpy 2's ABI.
# Idempotent: re-running only checks the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venvflax/bin/python ]; then
  "$PY" -m venv .venvflax
  .venvflax/bin/python -m pip install -q --upgrade pip
fi
.venvflax/bin/python -m pip install -q "jax==0.4.30" "jaxlib==0.4.30" "flax==0.8.5" "transformers==4.46.3" \
  "torch==2.13.0" "numpy>=1.26,<2" "ml_dtypes>=0.4,<0.5" safetensors
.venvflax/bin/python -c "import jax, flax, transformers, torch; from transformers import FlaxGPT2LMHeadModel; \
print('.venvflax: jax', jax.__version__, 'flax', flax.__version__, 'transformers', transformers.__version__, \
'torch', torch.__version__)"
