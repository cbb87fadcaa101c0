"""top_p filtering over a real-size vocabulary: the bisection jaxnlp uses
(`_top_p_with_threshold`) against the stable sort it replaced
(`_top_p_sorted`, still its fallback), and end to end sampling with top_p
alone on the gpt2-sized benchmark checkpoint (a random model: its nucleus is
wide, so the whole-vocabulary path runs at every step).

    .venv/bin/python bench/top_p.py [--ckpt-dir /tmp/jaxnlp-bench]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", default=os.path.join(tempfile.gettempdir(), "jaxnlp-bench"))
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import jax

    import generate as G
    import jaxnlp
    from checkpoints import checkpoint
    from jaxnlp.generation.processors import _top_p_sorted, _top_p_with_threshold

    for rows in (1, 8):
        x = jax.random.normal(jax.random.PRNGKey(0), (rows, 50257)) * 2
        for name, f in (("bisection", _top_p_with_threshold), ("sort", _top_p_sorted)):
            jf = jax.jit(lambda s, f=f: f(s, 0.1, 1))
            ms = best_ms(lambda: jax.block_until_ready(jf(x)), args.repeats)
            print(f"top_p filter, {rows} x 50257, {name:9}: {ms:7.2f} ms")
    directory = checkpoint("gpt2", "generate", Path(args.ckpt_dir))
    model = jaxnlp.load_model(directory, task="causal-lm")
    for batch in (1, 8):
        ids, mask = G.prompts(batch, 32, model.config.vocab_size, 0, left=True)
        ms = best_ms(lambda: jaxnlp.generate(model, ids, mask, do_sample=True, top_k=0, top_p=0.9,
                                             max_new_tokens=32), max(2, args.repeats // 3))
        print(f"gpt2 generate, top_p=0.9 alone, batch {batch}, 32-token prompt, 32 new: {ms:7.1f} ms")


if __name__ == "__main__":
    main()
