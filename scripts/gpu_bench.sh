#!/usr/bin/env bash
# bench/run.py on a GPU machine: jax with CUDA and torch with CUDA already installed (no pip, no
# network), under 8 minutes on one H100 (a jax compile there costs 5-9 s, a fresh process ~10 s, so
# this is a subset of the CPU run). float32: files -> first generation (gpt2, fresh processes, with and
# without the persistent compilation cache), bert-base forward, gpt2 and bart-base generation,
# sentiment and translation pipelines; bfloat16: bert-base forward and gpt2 generation. Each step has
# a time limit; a run cut short keeps what it measured (results are saved after every model).
# Results in "$OUT" if set, else bench/results/: <gpu>.json/.md/.png (float32), <gpu>_bfloat16.json/.md
# (its plots: python3 bench/plots.py <file>.json). QA/summarization have no PyTorch side here
# (transformers 5 lacks those pipelines and the 4.57 venv is not on the GPU machine).
#   scripts/gpu_bench.sh                       # PYTHON=... picks the interpreter (default python3)
#   BENCH_ARGS=--quick scripts/gpu_bench.sh    # extra bench/run.py options (a smoke run)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
DEST=${OUT:-bench/results}
CKPT=$(mktemp -d)
trap 'rm -rf "$CKPT"' EXIT
CASES=1:greedy,8:beam4,8:sample
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
status=0
timeout 345 "$PY" bench/run.py --dtype float32 --models bert-base,gpt2,bart-base --load-models gpt2 \
  --tasks sentiment,translation --cases "$CASES" --repeats 5 --load-repeats 1 --ckpt-dir "$CKPT" \
  --out "$DEST" ${BENCH_ARGS:-} || { echo "float32 run stopped: $?"; status=1; }
timeout 130 "$PY" bench/run.py --dtype bfloat16 --suite roofline,forward,generate --models bert-base,gpt2 \
  --cases "$CASES" --repeats 5 --no-plots --ckpt-dir "$CKPT" --out "$DEST" ${BENCH_ARGS:-} \
  || { echo "bfloat16 run stopped: $?"; status=1; }
exit $status
