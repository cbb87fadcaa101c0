"""What a hand-written CPU kernel would buy for decoding-sized matrix products.

Decoding multiplies 1 (batch 1), 8 (batch 8 greedy / sampling) or 32 (batch 8
x beam 4) rows by every weight matrix at every step. This times the
feed-forward chain of L layers (h = x @ W1 [K, F], x = h @ W2 [F, K]; L
distinct weight pairs, far more than the CPU's caches hold) three ways:

  xla       jax.jit of the chain (what jaxnlp runs: XLA's CPU dot);
  standard  bench/native/small_gemm.c on the same row-major [K, N] kernels;
  packed    the same C kernel on weights pre-arranged [N / 48, K, 48], each
            48-column tile contiguous (what jaxnlp.native keeps a copy in).
            K and F: multiples of 16.

The C file is compiled here with `cc -O3 -march=native -fopenmp` (a C
compiler is needed; OMP_NUM_THREADS defaults to the CPU count). Nothing of it
is part of the library: it measures the lever that remains once XLA's own
kernel choices are exhausted (bench/README.md).

    .venv/bin/python bench/small_gemm.py [--rows 1,8,32] [--layers 12] [--dims 768,3072]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "native" / "small_gemm.c"


def compile_kernel(out_dir: str) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("small_gemm: no C compiler (set CC)")
    exe = os.path.join(out_dir, "small_gemm")
    subprocess.run([cc, "-O3", "-march=native", "-fopenmp", str(SOURCE), "-o", exe], check=True)
    return exe


def xla_chain_ms(rows: int, k: int, f: int, layers: int, repeats: int) -> float:
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    ws = [(jax.random.normal(jax.random.fold_in(key, 2 * i), (k, f)) * 0.02,
           jax.random.normal(jax.random.fold_in(key, 2 * i + 1), (f, k)) * 0.02) for i in range(layers)]

    @jax.jit
    def chain(x, ws):
        for w1, w2 in ws:
            x = (x @ w1) @ w2
        return x

    x = jax.random.normal(key, (rows, k))
    chain(x, ws).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        chain(x, ws).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1,8,32")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--dims", default="768,3072", help="K,F (multiples of 16)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3, help="alternating xla / C rounds, best of all")
    args = ap.parse_args()
    k, f = (int(v) for v in args.dims.split(","))
    nbytes = 2 * args.layers * k * f * 4
    with tempfile.TemporaryDirectory(prefix="jaxnlp-gemm-") as tmp:
        exe = compile_kernel(tmp)
        print(f"feed-forward chain: {args.layers} layers, [rows, {k}] @ [{k}, {f}] @ [{f}, {k}], "
              f"{nbytes / 1e6:.0f} MB of float32 weights; ms = best of {args.repeats} calls x {args.rounds} rounds")
        print("| rows | xla ms | standard C ms | packed C ms | xla GB/s | standard GB/s | packed GB/s "
              "| xla GFLOP/s | standard GFLOP/s | packed GFLOP/s | C max abs err |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for rows in (int(r) for r in args.rows.split(",")):
            best = {"xla": float("inf"), "standard": float("inf"), "packed": float("inf")}
            err = 0.0
            for _ in range(args.rounds):
                best["xla"] = min(best["xla"], xla_chain_ms(rows, k, f, args.layers, args.repeats))
                res = subprocess.run([exe, str(rows), str(k), str(f), str(args.layers), str(args.repeats)],
                                     capture_output=True, text=True, check=True)
                for line in res.stdout.splitlines():
                    r = json.loads(line)
                    best[r["layout"]] = min(best[r["layout"]], r["ms"])
                    err = max(err, r["max_abs_err"])
            flops = 2 * rows * nbytes / 4
            gbs = [nbytes / best[n] / 1e6 for n in ("xla", "standard", "packed")]
            gfs = [flops / best[n] / 1e6 for n in ("xla", "standard", "packed")]
            print(f"| {rows} | {best['xla']:.2f} | {best['standard']:.2f} | {best['packed']:.2f} | "
                  + " | ".join(f"{v:.1f}" for v in gbs) + " | " + " | ".join(f"{v:.0f}" for v in gfs)
                  + f" | {err:.1e} |", flush=True)


if __name__ == "__main__":
    main()
