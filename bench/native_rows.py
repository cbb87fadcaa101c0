"""XLA's dot vs jaxnlp.native's kernel by row count: where the kernel pays.

Times the matrix products of a 12-layer bert-base-shaped encoder (per layer
x @ Wq, Wk, Wv [768, 768], their sum @ Wo, then @ W1 [768, 3072] @ W2
[3072, 768]; distinct weights, 340 MB, far beyond the caches) at R rows
(batch x positions), as one jitted chain, once with XLA's dot on the stored
[K, N] kernels and once with `jaxnlp.native.packed_matmul` on the packed
copies. Prints ms, GFLOP/s and the fraction of the matmul peak measured in
the same process (bench/roofline.py), best of `--repeats` calls x `--rounds`
alternating rounds. jaxnlp.native.MAX_ROWS (the rows up to which decoding
steps and forward calls take the kernel) was chosen from this table.

    .venv/bin/python bench/native_rows.py [--rows 1,8,32,64,128,256,512,1024]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1,8,32,64,128,256,512,1024")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxnlp import native
    from roofline import measure_peaks

    if not native.usable():
        sys.exit(f"jaxnlp.native: {native.status()}")
    d, f = 768, 3072
    rng = np.random.default_rng(0)
    weights = [[(rng.standard_normal(s) * 0.02).astype(np.float32) for s in [(d, d)] * 4 + [(d, f), (f, d)]]
               for _ in range(args.layers)]
    stored = [[jnp.asarray(w) for w in layer] for layer in weights]
    packed = [[native.pack(w) for w in layer] for layer in weights]
    del weights

    def chain(x, ws, mm):
        for w in ws:
            o = mm(mm(x, w[0], d) + mm(x, w[1], d) + mm(x, w[2], d), w[3], d)
            x = x + 0.1 * mm(mm(o, w[4], f), w[5], d)
        return x

    runs = {"xla": (jax.jit(lambda x, ws: chain(x, ws, lambda a, w, n: a @ w)), stored),
            "native": (jax.jit(lambda x, ws: chain(x, ws, native.packed_matmul)), packed)}
    peaks = measure_peaks()
    peak = peaks["matmul_gflops"]
    print(f"{args.layers}-layer bert-base-shaped product chain ({args.layers * (4 * d * d + 2 * d * f) * 4 / 1e6:.0f} MB "
          f"of float32 weights); matmul peak {peak:.1f} GFLOP/s (bench/roofline.py, this process); "
          f"jaxnlp.native {native.status()}; best of {args.repeats} calls x {args.rounds} rounds")
    print("| rows | XLA ms | native ms | XLA GFLOP/s | native GFLOP/s | XLA / peak | native / peak | native speedup "
          "| max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        x = jnp.asarray(rng.standard_normal((rows, d)).astype(np.float32))
        outs = {name: np.asarray(fn(x, ws)) for name, (fn, ws) in runs.items()}
        diff = float(np.max(np.abs(outs["xla"] - outs["native"])) / np.max(np.abs(outs["xla"])))
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(args.rounds):
            for name, (fn, ws) in runs.items():
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    jax.block_until_ready(fn(x, ws))
                    best[name] = min(best[name], time.perf_counter() - t)
        flops = 2 * rows * args.layers * (4 * d * d + 2 * d * f)
        g = {name: flops / best[name] / 1e9 for name in runs}
        print(f"| {rows} | {best['xla'] * 1e3:.2f} | {best['native'] * 1e3:.2f} | {g['xla']:.0f} | {g['native']:.0f} "
              f"| {g['xla'] / peak:.0%} | {g['native'] / peak:.0%} | {best['xla'] / best['native']:.2f}x "
              f"| {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
