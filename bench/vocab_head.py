"""The tied LM head on CPU at decoding sizes: hidden [rows, D] @ table[V, D]^T
as XLA's row-major product (`x @ table.T`, what flax's `Embed.attend` does)
against the vocabulary-major product `jaxnlp.nn.embeddings.tied_logits`
takes for at most VOCAB_MAJOR_MAX_ROWS rows (table @ x^T behind an
optimization barrier, then transposed), each followed by log_softmax as in
beam search; then whole `generate` calls on the benchmark checkpoints with
the vocabulary-major path off (threshold 0) and on (the default), each
setting in its own process, alternating, best of the rounds.

    .venv/bin/python bench/vocab_head.py [--ckpt-dir /tmp/jaxnlp-bench] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


def worker(spec: dict) -> None:
    """One process: generate with the given threshold; prints JSON {case: best ms}."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np

    import jaxnlp
    import jaxnlp.nn.embeddings as E

    E.VOCAB_MAJOR_MAX_ROWS = spec["max_rows"]
    import generate as G
    from checkpoints import checkpoint

    name = spec["model"]
    directory = checkpoint(name, "generate", Path(spec["ckpt_dir"]))
    model = jaxnlp.load_model(directory, task="causal-lm" if name == "gpt2" else "seq2seq-lm")
    config = json.loads((directory / "config.json").read_text())
    out = {}
    for case in CASES:
        batch, mode = case.split(":")
        ids, mask = G.prompts(int(batch), 32, config["vocab_size"], config.get("pad_token_id") or 0,
                              left=name == "gpt2")
        opts = G.options(mode, 32)
        fn = lambda: np.asarray(jaxnlp.generate(model, ids, mask, **opts))  # noqa: E731
        fn()
        fn()
        out[case] = dict(ms=_min_ms(fn, 5), tokens=fn().tolist())
    print(json.dumps(out))


def end_to_end(ckpt_dir: str, rounds: int) -> None:
    import jaxnlp.nn.embeddings as E

    print("generate, 32-token prompt/source, 32 new tokens (ms, best of 5 calls per process, "
          f"best of {rounds} alternating processes per setting)")
    for name in MODELS:
        best = {}
        tokens = {}
        for _ in range(rounds):
            for max_rows in (0, E.VOCAB_MAJOR_MAX_ROWS):
                spec = dict(model=name, ckpt_dir=ckpt_dir, max_rows=max_rows)
                res = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], check=True,
                                     capture_output=True, text=True)
                got = json.loads(res.stdout.strip().splitlines()[-1])
                for case, r in got.items():
                    best[max_rows, case] = min(best.get((max_rows, case), float("inf")), r["ms"])
                    tokens.setdefault(case, set()).add(json.dumps(r["tokens"]))
        for case in CASES:
            off, on = best[0, case], best[E.VOCAB_MAJOR_MAX_ROWS, case]
            same = "same tokens" if len(tokens[case]) == 1 else "TOKENS DIFFER"
            print(f"  {name:10} {case:9} row-major {off:7.1f}  vocab-major {on:7.1f}  ({off / on:.2f}x, {same})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "jaxnlp-bench"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    head_alone(args.rounds)
    end_to_end(args.ckpt_dir, args.rounds)


if __name__ == "__main__":
    main()
