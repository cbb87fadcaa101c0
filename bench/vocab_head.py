"""The tied LM head on CPU at decoding sizes: hidden [rows, D] @ table[V, D]^T
as XLA's row-major product (`x @ table.T`, what flax's `Embed.attend` does)
against the vocabulary-major product `jaxnlp.nn.embeddings.tied_logits`
takes for at most VOCAB_MAJOR_MAX_ROWS rows (table @ x^T behind an
optimization barrier, then transposed), each followed by log_softmax as in
beam search; then whole `generate` calls on the benchmark checkpoints with
the vocabulary-major path off (threshold 0) and on (the default), each
setting in its own process, alternating, best of the rounds
(bench/ab_generate.py --switch vocab-head).

    .venv/bin/python bench/vocab_head.py [--ckpt-dir /tmp/jaxnlp-bench] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile

TABLES = {"t5-small": (32128, 512), "bart-base / gpt2": (50265, 768), "marian": (58101, 512)}
CASES = ("1:beam4", "8:greedy", "8:beam4")
MODELS = ("t5-small", "bart-base", "marian", "gpt2")


def _min_ms(fn, repeats: int) -> float:
    from _common import time_calls

    return min(time_calls(fn, repeats)) * 1e3


def head_alone(rounds: int) -> None:
    import jax
    import numpy as np
    from jax import lax

    import jaxnlp.nn.embeddings as E

    def row_major(x, table):
        return jax.nn.log_softmax(x @ table.T, axis=-1)

    def vocab_major(x, table):
        out = lax.optimization_barrier(lax.dot_general(table, x, (((1,), (1,)), ((), ()))))
        return jax.nn.log_softmax(out.T, axis=-1)

    fns = {"row-major": jax.jit(row_major), "vocab-major": jax.jit(vocab_major)}
    rng = np.random.default_rng(0)
    print(f"LM head + log_softmax alone (ms, best of {rounds} x 5 alternating calls); "
          f"jaxnlp takes vocab-major for <= {E.VOCAB_MAJOR_MAX_ROWS} rows on CPU")
    for name, (vocab, dim) in TABLES.items():
        table = jax.device_put(rng.standard_normal((vocab, dim), np.float32) * 0.02)
        for rows in (1, 4, 8, 32, 64):
            x = jax.device_put(rng.standard_normal((rows, dim), np.float32))
            best = {k: float("inf") for k in fns}
            for k, f in fns.items():
                jax.block_until_ready(f(x, table))
            for _ in range(rounds * 3):
                for k, f in fns.items():
                    best[k] = min(best[k], _min_ms(lambda: jax.block_until_ready(f(x, table)), 5))
            print(f"  {name:16} {vocab} x {dim}, {rows:2} rows: row-major {best['row-major']:6.2f}  "
                  f"vocab-major {best['vocab-major']:6.2f}  ({best['row-major'] / best['vocab-major']:.2f}x)")


def end_to_end(ckpt_dir: str, rounds: int) -> None:
    from ab_generate import compare

    compare("vocab-head", list(CASES), ckpt_dir, rounds, MODELS, labels=("row-major", "vocab-major"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "jaxnlp-bench"))
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    head_alone(args.rounds)
    end_to_end(args.ckpt_dir, args.rounds)


if __name__ == "__main__":
    main()
