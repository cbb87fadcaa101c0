"""`keyword-extraction`: KeyBERT (0.9) / rust-bert's KeywordExtractionModel.

The keywords of a document are its n-grams whose sentence embedding is most
similar to the document's own. Embeddings come from a sentence-embeddings
pipeline that this one owns over the same model and tokenizer (so pooling,
Dense and Normalize modules, `max_seq_length` truncation of long documents,
`do_lower_case` all behave as in `sentence-embeddings`).

Candidates are extracted as KeyBERT's scikit-learn CountVectorizer does with
its defaults (reimplemented here, no scikit-learn at runtime): the text is
lowercased, tokens are `(?u)\\b\\w\\w+\\b` matches, stop words are dropped
(`stop_words="english"`: scikit-learn's list, shipped in
`jaxnlp.pipelines.stopwords`; `None`: none; or any collection of words,
matched case-sensitively against the lowercased tokens), then n-grams in
`keyphrase_ngram_range` are joined with one space (so an n-gram may span a
dropped stop word: "state of the art" -> "state art"). Each distinct n-gram
is one candidate. `candidates=[...]` replaces the extracted vocabulary: a
user candidate is scored for a document only if it is one of that
document's n-grams as above (lowercase, in the n-gram range, no stop word),
exactly as KeyBERT passes it to CountVectorizer as `vocabulary`.

Scores are cosine similarities between the document and the candidate
embeddings (the whole document is tokenised for candidates; its embedding
sees the model window only, as sentence-transformers truncates). The
candidates of all documents in a batch are embedded together, deduplicated,
in chunks of `batch_size`.

Options (each call may override the pipeline's): `top_n` (5),
`keyphrase_ngram_range` ((1, 1)), `stop_words` ("english"), `candidates`
(None), `use_mmr` (False) with `diversity` (0.5), `use_maxsum` (False) with
`nr_candidates` (20).

- plain: the `top_n` most similar candidates, best first.
- MMR (Maximal Marginal Relevance): the best candidate, then repeatedly the
  one maximising (1 - diversity) * sim(doc) - diversity * max sim(chosen);
  returned best first.
- MaxSum: of the `nr_candidates` most similar candidates, the `top_n` whose
  pairwise similarities sum lowest; returned as KeyBERT returns them, in
  increasing similarity to the document (the one mode not best first).

Result: per document a list of `{"keyword": str, "score": float}` (dicts,
like every other pipeline, where KeyBERT gives `(keyword, score)` tuples);
a str gives one list, a list of str a list of lists. A document with no
candidate (the empty string, only stop words or punctuation) gives `[]`.

Where this differs from KeyBERT, and why:
- Scores are not rounded (KeyBERT rounds to 4 decimals); MMR sorts by the
  exact score (KeyBERT by the rounded one, which can swap two keywords whose
  scores differ by less than 1e-4).
- MaxSum with fewer candidates than `top_n` returns all of them, as the
  other modes and rust-bert do (KeyBERT returns []). It is computed with
  numpy over blocks of combinations; more than 10 million combinations
  (`comb(nr_candidates, top_n)`) is refused rather than run for hours.
- Bad options raise (ValueError / TypeError) instead of being swallowed:
  KeyBERT returns [] for every document on a bad n-gram range, an empty or
  duplicated candidate list, or when no document has any candidate.
  `use_mmr` with `use_maxsum` is refused (KeyBERT silently runs MMR).
  Duplicate user candidates are kept once (first occurrence).
- The result does not depend on the other documents of the call (KeyBERT
  gives [] for all when none has a candidate) and a one-item list gives a
  list of one result (KeyBERT unwraps it).
- Not supported: KeyBERT's `vectorizer`, `min_df`, `seed_keywords`,
  precomputed embeddings, `highlight` and LLM options; rust-bert's keyword
  offsets.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from numbers import Real

import numpy as np

from jaxnlp.pipelines.base import Pipeline
from jaxnlp.pipelines.sentence_embeddings import SentenceEmbeddingsPipeline, l2_normalize
from jaxnlp.pipelines.stopwords import ENGLISH_STOP_WORDS

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")    # CountVectorizer's default token_pattern
MAX_COMBINATIONS = 10_000_000                    # MaxSum refuses more than this many top_n-subsets
DEFAULTS = {"top_n": 5, "keyphrase_ngram_range": (1, 1), "stop_words": "english", "candidates": None,
            "use_mmr": False, "diversity": 0.5, "use_maxsum": False, "nr_candidates": 20}


def ngrams(text: str, ngram_range: tuple[int, int] = (1, 1), stop_words=ENGLISH_STOP_WORDS) -> list[str]:
    """The n-grams of `text` in document order, as CountVectorizer's default
    word analyzer builds them: lowercase, token pattern, stop words removed,
    then n-grams of the remaining tokens for n in the range."""
    tokens = TOKEN_PATTERN.findall(text.lower())
    if stop_words:
        tokens = [t for t in tokens if t not in stop_words]
    low, high = ngram_range
    high = min(high, len(tokens))      # (as CountVectorizer: a range past the text's length stops there)
    return [" ".join(tokens[i:i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _strings(name: str, values) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)):
        raise TypeError(f"{name} must be a list of str, got {type(values).__name__}")
    values = sorted(values) if isinstance(values, (set, frozenset)) else list(values)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise TypeError(f"{name}: item {i} is a {type(v).__name__}, expected a str")
    return values


def _ngram_range(value) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value)):
        raise ValueError(f"keyphrase_ngram_range must be a pair of ints (min_n, max_n), got {value!r}")
    low, high = int(value[0]), int(value[1])
    if not 1 <= low <= high:
        raise ValueError(f"keyphrase_ngram_range must have 1 <= min_n <= max_n, got {value!r}")
    return low, high


def _stop_words(value):
    if value is None:
        return frozenset()
    if isinstance(value, str):
        if value != "english":
            raise ValueError(f"stop_words: the only built-in list is 'english', got {value!r}")
        return ENGLISH_STOP_WORDS
    return frozenset(_strings("stop_words", value))


# -- scorers: similarities in, (candidate index, score) pairs out in KeyBERT's order ----------------

def cosine_top(doc_sim: np.ndarray, top_n: int) -> list[int]:
    """The top_n most similar, best first (ties resolved as KeyBERT's argsort does)."""
    return list(np.argsort(doc_sim)[-top_n:][::-1])


def mmr(doc_sim: np.ndarray, word_sim: np.ndarray, top_n: int, diversity: float) -> list[int]:
    """Maximal Marginal Relevance selection, returned best first."""
    chosen = [int(np.argmax(doc_sim))]
    free = np.ones(len(doc_sim), bool)
    free[chosen[0]] = False
    for _ in range(min(top_n, len(doc_sim)) - 1):
        score = (1 - diversity) * doc_sim - diversity * word_sim[:, chosen].max(axis=1)
        pick = int(np.argmax(np.where(free, score, -np.inf)))     # first maximum among free candidates
        chosen.append(pick)
        free[pick] = False
    return sorted(chosen, key=lambda i: -doc_sim[i])          # stable: selection order among equal scores


def max_sum(doc_sim: np.ndarray, word_sim: np.ndarray, top_n: int, nr_candidates: int) -> list[int]:
    """Of the nr_candidates most similar, the top_n-subset with the lowest sum of
    pairwise similarities (first such subset in lexicographic order), in
    increasing similarity to the document, as KeyBERT returns it."""
    top_n = min(top_n, len(doc_sim))
    pool = np.argsort(doc_sim)[-nr_candidates:]                 # increasing similarity
    sim = word_sim[np.ix_(pool, pool)].astype(np.float64)
    np.fill_diagonal(sim, 0.0)
    best, best_sum = None, np.inf
    combos = itertools.combinations(range(len(pool)), top_n)
    while block := list(itertools.islice(combos, 1 << 16)):
        c = np.asarray(block)                                    # [m, top_n]
        sums = sim[c[:, :, None], c[:, None, :]].sum(axis=(1, 2))
        i = int(np.argmin(sums))
        if sums[i] < best_sum:
            best, best_sum = c[i], sums[i]
    return [int(pool[j]) for j in best]


class KeywordExtractionPipeline(Pipeline):

    def __post_init__(self):
        # never a second progress bar inside ours: the embedder sees one batch of documents at a time
        self.embedder = SentenceEmbeddingsPipeline(model=self.model, tokenizer=self.tokenizer,
                                                   batch_size=self.batch_size, progress_after=sys.maxsize,
                                                   task="sentence-embeddings", sort_by_length=self.sort_by_length)
        super().__post_init__()

    def _sanitize(self, options: dict) -> dict:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}")
        o = {**DEFAULTS, **options}
        out = {"top_n": _positive_int("top_n", o["top_n"]),
               "nr_candidates": _positive_int("nr_candidates", o["nr_candidates"]),
               "use_mmr": _bool("use_mmr", o["use_mmr"]), "use_maxsum": _bool("use_maxsum", o["use_maxsum"]),
               "keyphrase_ngram_range": _ngram_range(o["keyphrase_ngram_range"]),
               "stop_words": _stop_words(o["stop_words"])}
        diversity = o["diversity"]
        if isinstance(diversity, bool) or not isinstance(diversity, Real):
            raise TypeError(f"diversity must be a number, got {diversity!r}")
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity}")
        out["diversity"] = float(diversity)
        if out["use_mmr"] and out["use_maxsum"]:
            raise ValueError("use_mmr and use_maxsum are exclusive; choose one")
        if out["use_maxsum"]:
            if out["nr_candidates"] < out["top_n"]:
                raise ValueError(f"nr_candidates ({out['nr_candidates']}) must be >= top_n ({out['top_n']}) "
                                 "for use_maxsum")
            if math.comb(out["nr_candidates"], out["top_n"]) > MAX_COMBINATIONS:
                raise ValueError(f"use_maxsum would score comb({out['nr_candidates']}, {out['top_n']}) subsets "
                                 f"(more than {MAX_COMBINATIONS:,}); lower nr_candidates or top_n")
        candidates = o["candidates"]
        if candidates is not None:
            candidates = list(dict.fromkeys(_strings("candidates", candidates)))
            if not candidates:
                raise ValueError("candidates is empty; pass None to extract them from the documents")
        out["candidates"] = candidates
        return out

    def document_candidates(self, text: str, options: dict) -> list[str]:
        """A document's candidates in KeyBERT's order: its distinct n-grams
        sorted (CountVectorizer's vocabulary order), or the user candidates
        it contains, in the user's order."""
        grams = set(ngrams(text, options["keyphrase_ngram_range"], options["stop_words"]))
        if options["candidates"] is not None:
            return [c for c in options["candidates"] if c in grams]
        return sorted(grams)

    def preprocess(self, items, options):
        return {"texts": items, "candidates": [self.document_candidates(t, options) for t in items]}

    def forward(self, inputs, options):
        """Embeddings of the documents that have candidates and of the chunk's distinct candidates."""
        vocab = list(dict.fromkeys(c for cands in inputs["candidates"] for c in cands))
        if not vocab:
            return None
        texts = [t for t, cands in zip(inputs["texts"], inputs["candidates"]) if cands]
        docs = l2_normalize(self.embedder(texts).astype(np.float64))
        words = l2_normalize(self.embedder(vocab).astype(np.float64))
        return {"docs": docs, "words": words, "index": {w: i for i, w in enumerate(vocab)}}

    def postprocess(self, items, inputs, outputs, options):
        results, d = [], 0
        for cands in inputs["candidates"]:
            if not cands:
                results.append([])
                continue
            words = outputs["words"][[outputs["index"][c] for c in cands]]     # [n, dim], unit rows
            doc_sim = words @ outputs["docs"][d]                             # [n]
            d += 1
            if options["use_mmr"]:
                picked = mmr(doc_sim, words @ words.T, options["top_n"], options["diversity"])
            elif options["use_maxsum"]:
                picked = max_sum(doc_sim, words @ words.T, options["top_n"], options["nr_candidates"])
            else:
                picked = cosine_top(doc_sim, options["top_n"])
            results.append([{"keyword": cands[i], "score": float(doc_sim[i])} for i in picked])
        return results
