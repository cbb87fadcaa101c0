#!/usr/bin/env bash
# bench/run.py on a GPU machine: jax with CUDA and torch with CUDA already installed (no pip, no
# network), in about 8 minutes on one H100/H200. A jax compile there costs 4-14 s and every row starts
# fresh processes, so this is a subset of the CPU run, sized from the stage times of an H200 run at
# this commit (load gpt2 72 s; forward 42 s a model; generate ~35 s a case; sentiment ~20 s):
# bfloat16 first (gpt2 forward, gpt2 batch-1 greedy and batch-8 beam 4), then float32 (files -> first
# generation for gpt2 in fresh processes with and without the persistent compilation cache, gpt2
# forward, gpt2 and bart-base generation, the sentiment pipeline). Each step has a time limit; a run
# cut short keeps what it measured (results are saved after every model).
# Results in "$OUT" if set, else bench/results/: <gpu>_bfloat16.json/.md and <gpu>.json/.md; no plots
# there (a device run returns at most 8 files): python bench/plots.py <file>.json makes them.
# QA/summarization/translation have no PyTorch side here (transformers 5 lacks those pipelines and
# the 4.57 venv is not on the GPU machine). XLA's CUDA graphs for the decoding loop: measured apart,
# bench/ab_generate.py --switch gpu-graphs --models gpt2 --rounds 1 (~75 s).
#   scripts/gpu_bench.sh                       # PYTHON=... picks the interpreter (default python3)
#   BENCH_ARGS=--quick scripts/gpu_bench.sh    # extra bench/run.py options (a smoke run)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
PY=${PYTHON:-python3}
DEST=${OUT:-bench/results}
CKPT=$(mktemp -d)
trap 'rm -rf "$CKPT"' EXIT
CASES=1:greedy,8:beam4
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
status=0
"$PY" -c "import jax, flax, torch, transformers; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__,
  'torch', torch.__version__, torch.cuda.is_available(), 'transformers', transformers.__version__)" || exit 3
timeout 160 "$PY" bench/run.py --dtype bfloat16 --suite roofline,forward,generate --models gpt2 \
  --cases "$CASES" --repeats 5 --no-plots --ckpt-dir "$CKPT" --out "$DEST" ${BENCH_ARGS:-} \
  || { echo "bfloat16 run stopped: $?"; status=1; }
timeout 310 "$PY" bench/run.py --dtype float32 --models gpt2,bart-base --load-models gpt2 \
  --tasks sentiment --cases "$CASES" --repeats 5 --load-repeats 1 --ckpt-dir "$CKPT" \
  --no-plots --out "$DEST" ${BENCH_ARGS:-} || { echo "float32 run stopped: $?"; status=1; }
exit $status
