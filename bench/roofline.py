"""The physical limit beside each benchmark figure: this machine's matmul
peak and memory bandwidth, and the roofline floor of a forward pass or a
generate call.

    .venv/bin/python bench/roofline.py [--dtype float32|bfloat16] [--quick]

Peaks (measured with jax on the default device: the best of 9 calls after a
warm-up, as peaks are; a median moved with the machine's load, e.g. 46.6 vs
66.3 GB/s between two runs of the same CPU):
- matmul: a jitted `a @ b` of two N x N matrices (N = 2048 on CPU, 8192 on a
  GPU) in the benchmark dtype, 2 N^3 FLOPs per call -> GFLOP/s. At jax's
  default precision, which is what jaxnlp's models run at: on a GPU float32
  matmuls then use TF32 tensor cores (PyTorch's default float32 matmul does
  not), so `matmul_gflops_highest` (Precision.HIGHEST) is also reported there.
- bandwidth: the better of a jitted reduction `x.sum()` (reads the array once)
  and a copy `x * 1` (reads and writes it) over a 256 MiB (CPU) / 2 GiB (GPU)
  float32 array -> GB/s (1e9 bytes/s).

FLOPs and bytes are counted analytically from the parameter tree (counts
split by parse of the Flax paths, not per architecture): a Dense kernel of
k weights costs 2k FLOPs per token; attention adds 4 * rows * q_len * kv_len *
width per layer (scores and values); embedding lookups are free, a tied LM
head costs 2 * vocab * hidden per token. `xla_flops` gives XLA's own count
(`compiled.cost_analysis()`) to check that (bench/run.py --quick prints both
for the forward suite).

- Forward: floor = max(FLOPs / peak, weight bytes / bandwidth).
- Generate: floor = prefill (the encoder or the prompt, compute-bound) + for
  each new token max(step FLOPs / peak, step bytes / bandwidth), where step
  bytes = the decoder's weights (cross-attention keys/values excluded: they
  are computed once) + the KV cache written so far (self-attention: 2 x
  layers x rows x length x width; cross-attention: the same over the source)
  at the parameter dtype; rows = batch x beams. Achieved bandwidth = step
  bytes summed / measured seconds.
Reported: measured / floor (1.0 would be the hardware limit).
"""

from __future__ import annotations

import argparse
import json
import re
import time


def _best_time(fn, *args, repeats: int = 9) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def measure_peaks(dtype: str = "float32", quick: bool = False) -> dict:
    import jax
    import jax.numpy as jnp

    gpu = jax.devices()[0].platform != "cpu"
    n = (4096 if quick else 8192) if gpu else (1024 if quick else 2048)
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32).astype(dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32).astype(dtype)
    matmul_s = _best_time(jax.jit(lambda x, y: x @ y), a, b)
    extra = {}
    if gpu and dtype == "float32":   # jax's default f32 precision there is TF32-like; the strict one apart
        strict = jax.jit(lambda x, y: jnp.dot(x, y, precision=jax.lax.Precision.HIGHEST))
        extra["matmul_gflops_highest"] = 2 * n**3 / _best_time(strict, a, b) / 1e9
    size = (2**31 if gpu else 2**28) // (8 if quick else 1)
    x = jnp.ones((size // 4,), jnp.float32)
    read_s = _best_time(jax.jit(lambda v: v.sum()), x)
    copy_s = _best_time(jax.jit(lambda v: v * 1.0), x)
    return dict(device=str(jax.devices()[0]), dtype=dtype, matmul_n=n, matmul_gflops=2 * n**3 / matmul_s / 1e9,
                array_bytes=size, read_gbs=size / read_s / 1e9, copy_gbs=2 * size / copy_s / 1e9,
                bandwidth_gbs=max(size / read_s, 2 * size / copy_s) / 1e9, **extra)


# -- counting ---------------------------------------------------------------------------------

_CROSS_KV = re.compile(r"(encoder_attn|cross_attn|EncDecAttention)/(key|value|k|v)/kernel$")


def param_counts(params, config) -> dict:
    """Weights by role, from the Flax parameter tree and the config."""
    import jax

    counts = dict(encoder=0, decoder=0, cross_kv=0, embedding=0, total=0, lm_head=0)
    vocab = config.get("vocab_size") or 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        counts["total"] += leaf.size
        if name.endswith("/embedding"):
            counts["embedding"] += leaf.size
        elif leaf.ndim >= 2 and name.endswith("kernel"):
            if _CROSS_KV.search(name):
                counts["cross_kv"] += leaf.size
            elif "lm_head" in name:
                counts["lm_head"] += leaf.size
            elif re.search(r"(^|/)encoder/", name):
                counts["encoder"] += leaf.size
            else:
                counts["decoder"] += leaf.size
    return dict(counts, vocab=vocab, hidden=_first(config, "d_model", "hidden_size", "n_embd", "dim"),
                width=_attention_width(config), decoder_layers=_first(config, "decoder_layers", "num_decoder_layers",
                                                                        "n_layer", "num_layers", "num_hidden_layers",
                                                                        "n_layers"),
                encoder_layers=_first(config, "encoder_layers", "num_layers", "num_hidden_layers", "n_layers",
                                      "n_layer"))


def _first(config, *names):
    for n in names:
        if config.get(n):
            return config.get(n)
    return None


def _attention_width(config) -> int:
    if config.get("d_kv") and config.get("num_heads"):
        return config.get("d_kv") * config.get("num_heads")          # T5: heads x d_kv
    return _first(config, "d_model", "hidden_size", "n_embd", "dim")


def forward_cost(counts: dict, batch: int, seq: int, bytes_per_param: int, lm_head: bool = False) -> dict:
    """A whole-sequence forward of an encoder (or a decoder without its head)."""
    tokens = batch * seq
    weights = counts["encoder"] + counts["decoder"] + counts["cross_kv"]
    layers = counts["encoder_layers"] if counts["encoder"] else counts["decoder_layers"]
    flops = 2 * weights * tokens + 4 * layers * batch * seq * seq * counts["width"]
    if lm_head:
        flops += 2 * _head(counts) * tokens
    return dict(flops=flops, bytes=(weights + counts["embedding"]) * bytes_per_param)


def _head(counts: dict) -> int:
    return counts["lm_head"] or counts["vocab"] * counts["hidden"]


def generate_cost(counts: dict, batch: int, prompt: int, new: int, beams: int, bytes_per_param: int,
                  encoder_decoder: bool) -> dict:
    """FLOPs and bytes of prefill and of each decoding step (see the module doc)."""
    rows, width, layers = batch * beams, counts["width"], counts["decoder_layers"]
    step_weights = counts["decoder"] + _head(counts)
    if encoder_decoder:   # encoder over the source + cross keys/values once
        prefill = 2 * (counts["encoder"] * batch * prompt + counts["cross_kv"] * rows * prompt) \
            + 4 * counts["encoder_layers"] * batch * prompt * prompt * width
        start, cross = 0, 2 * layers * rows * prompt * width
    else:                 # the prompt through the decoder (the head on the last position only)
        prefill = 2 * counts["decoder"] * batch * prompt + 2 * _head(counts) * batch \
            + 4 * layers * batch * prompt * prompt * width
        start, cross = prompt, 0
    steps = []
    for t in range(new):
        length = start + t + 1
        flops = 2 * step_weights * rows + 4 * layers * rows * length * width + 2 * cross
        read = (step_weights + 2 * layers * rows * length * width + cross) * bytes_per_param
        steps.append((flops, read))
    return dict(prefill_flops=prefill, step_flops=[s[0] for s in steps], step_bytes=[s[1] for s in steps])


def forward_floor(cost: dict, peaks: dict) -> float:
    return max(cost["flops"] / (peaks["matmul_gflops"] * 1e9), cost["bytes"] / (peaks["bandwidth_gbs"] * 1e9))


def generate_floor(cost: dict, peaks: dict) -> float:
    flop_rate, bw = peaks["matmul_gflops"] * 1e9, peaks["bandwidth_gbs"] * 1e9
    return cost["prefill_flops"] / flop_rate + sum(max(f / flop_rate, b / bw)
                                                   for f, b in zip(cost["step_flops"], cost["step_bytes"]))


def xla_flops(model, inputs: dict) -> float | None:
    """XLA's FLOP count of the model's jitted forward on `inputs` (a compile)."""
    cost = model._forward.lower(model.params, inputs).compile().cost_analysis()
    if isinstance(cost, list):
        cost = cost[0] if cost else {}
    return (cost or {}).get("flops")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(json.dumps(measure_peaks(args.dtype, args.quick), indent=1))


if __name__ == "__main__":
    main()
