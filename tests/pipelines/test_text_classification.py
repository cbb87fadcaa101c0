"""text-classification / sentiment-analysis against transformers 5's pipeline
on tiny random checkpoints with trained WordPiece, byte-level BPE and
SentencePiece tokenizers: same labels, scores within 1e-4."""

import numpy as np
import pytest

import jaxnlp
from jaxnlp.errors import UnknownTaskError
from support.compare import assert_results_close
from support.pipelines import checkpoint, hf_pipeline

TEXTS = ["the quick brown fox jumps over the lazy dog", "I loved this movie!", "terrible acting, bad plot",
         "naïve café in 東京 with über straße", "john smith works in london", "ok"]
TOL = 1e-4


@pytest.fixture(scope="module", params=["bert", "roberta", "xlm-roberta"])
def ckpt(request, tmp_path_factory):
    directory, _ = checkpoint(request.param, "sequence-classification", tmp_path_factory.mktemp(request.param),
                              id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                              label2id={"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2})
    return directory, hf_pipeline("text-classification", directory), jaxnlp.pipeline("sentiment-analysis",
                                                                                     model=directory)


def assert_close(ours, ref):
    """Same structure and labels, scores within TOL."""
    assert_results_close(ours, ref, TOL)


@pytest.mark.parametrize("options", [{}, {"top_k": None}, {"top_k": 2}, {"function_to_apply": "sigmoid"},
                                     {"function_to_apply": "none", "top_k": None}])
def test_batch_matches_transformers(ckpt, options):
    _, hf, ours = ckpt
    assert_close(ours(TEXTS, **options), hf(TEXTS, **options))


def test_single_text_and_pairs(ckpt):
    _, hf, ours = ckpt
    assert_close(ours(TEXTS[1]), hf(TEXTS[1]))                      # a one-element list, as transformers
    assert_close(ours(TEXTS[1], top_k=2), hf(TEXTS[1], top_k=2))
    pair = {"text": TEXTS[0], "text_pair": TEXTS[4]}
    assert_close(ours(pair), hf(pair))
    assert_close(ours([pair, {"text": TEXTS[2], "text_pair": TEXTS[3]}]),
                 hf([pair, {"text": TEXTS[2], "text_pair": TEXTS[3]}]))


def test_batch_size_does_not_change_results(ckpt):
    directory, _, ours = ckpt
    small = jaxnlp.pipeline("text-classification", model=directory, batch_size=3)
    many = TEXTS * 3
    ref = ours(many, top_k=None)
    got = small(many, top_k=None)
    for o, r in zip(got, ref):
        np.testing.assert_allclose([x["score"] for x in o], [x["score"] for x in r], atol=1e-5)


def test_long_text_is_truncated_like_transformers_truncation(ckpt):
    _, hf, ours = ckpt
    long = " ".join(TEXTS * 20)
    assert_close(ours(long), hf(long, truncation=True))
    with pytest.raises(ValueError, match="positions|at most|tokens"):
        ours(long, truncation=False)


def test_multi_label_checkpoint_uses_sigmoid(tmp_path):
    directory, _ = checkpoint("bert", "sequence-classification", tmp_path / "ml",
                              problem_type="multi_label_classification")
    hf, ours = hf_pipeline("text-classification", directory), jaxnlp.pipeline("text-classification",
                                                                              model=directory)
    assert_close(ours(TEXTS, top_k=None), hf(TEXTS, top_k=None))
    scores = [x["score"] for x in ours(TEXTS[0], top_k=None)]
    assert abs(sum(scores) - 1.0) > 1e-3          # independent sigmoids, not a softmax


def test_bad_input(ckpt):
    directory, _, ours = ckpt
    with pytest.raises(ValueError, match="empty"):
        ours([])
    with pytest.raises(ValueError, match="item 1 is an empty text"):
        ours(["fine", "  "])
    with pytest.raises(TypeError, match="item 2"):
        ours(["a", "b", 3])
    with pytest.raises(TypeError, match="takes a"):
        ours(42)
    with pytest.raises(TypeError, match="unknown option"):
        ours("a", topk=2)
    with pytest.raises(ValueError, match="top_k"):
        ours("a", top_k=0)
    with pytest.raises(ValueError, match="top_k"):         # a bool is not a count (True was read as 1)
        ours("a", top_k=True)
    with pytest.raises(ValueError, match="batch_size"):
        jaxnlp.pipeline("text-classification", model=ours.model, tokenizer=ours.tokenizer, batch_size=True)
    with pytest.raises(ValueError, match="function_to_apply"):
        ours("a", function_to_apply="relu")
    with pytest.raises(UnknownTaskError, match="text-classification"):
        jaxnlp.pipeline("sentiment-analysys", model=directory)
    for task in ("translation_en_to_fr_to_de", "translation_en__to_fr"):   # was target language "fr_to_de"
        with pytest.raises(UnknownTaskError, match="translation_XX_to_YY"):
            jaxnlp.pipeline(task, model=directory)
    with pytest.raises(ValueError, match="batch_size"):
        jaxnlp.pipeline("text-classification", model=directory, batch_size=0)
