"""zero-shot-classification against transformers 5's pipeline on tiny random
NLI checkpoints (3 labels) with trained WordPiece, byte-level BPE and
SentencePiece tokenizers, one whose entailment label comes first and is
capitalised, and one with no entailment label: same labels in the same
order, scores within 1e-4. Weights are drawn at initializer_range 0.5: at 0.2
one word of hypothesis moves the scores by ~1e-2 only."""

import warnings

import numpy as np
import pytest

import jaxnlp
from support.compare import assert_results_close
from support.pipelines import checkpoint, hf_pipeline

TEXTS = ["the quick brown fox jumps over the lazy dog", "I loved this movie!", "terrible acting, bad plot",
         "naïve café in 東京 with über straße", "john smith works in london"]
LABELS = ["music", "film", "city", "river", "bad", "good"]
TOL = 1e-4
NLI = {0: "contradiction", 1: "neutral", 2: "entailment"}


def nli_checkpoint(model_type, directory, id2label=NLI):
    label2id = None if id2label is None else {v: k for k, v in id2label.items()}
    directory, _ = checkpoint(model_type, "sequence-classification", directory, initializer_range=0.5,
                              **({} if id2label is None else {"id2label": id2label, "label2id": label2id}))
    return directory, hf_pipeline("zero-shot-classification", directory)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The reference's tiny forwards run one pair at a time: on a busy 2-core
    machine torch's worker threads spin, 50x slower than one thread."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module", params=["bert", "roberta", "xlm-roberta"])
def ckpt(request, tmp_path_factory):
    directory, hf = nli_checkpoint(request.param, tmp_path_factory.mktemp(request.param))
    return directory, hf, jaxnlp.pipeline("zero-shot-classification", model=directory)


def assert_close(ours, ref):
    """Same structure, sequences and labels in the same order, scores within TOL; scores not uniform."""
    def spread(ours, _):
        if len(ours["scores"]) > 1:
            assert max(ours["scores"]) - min(ours["scores"]) > 5e-3, ours   # the model tells labels apart

    assert_results_close(ours, ref, TOL, check=spread)


@pytest.mark.parametrize("options", [{}, {"multi_label": True}, {"hypothesis_template": "it is about {} ."}])
def test_batch_matches_transformers(ckpt, options):
    _, hf, ours = ckpt
    assert_close(ours(TEXTS, candidate_labels=LABELS, **options), hf(TEXTS, candidate_labels=LABELS, **options))


def test_single_text_str_labels_and_one_label(ckpt):
    _, hf, ours = ckpt
    labels = " music, film ,, city "                                  # split on commas, stripped, empties dropped
    got = ours(TEXTS[3], labels)
    assert isinstance(got, dict) and sorted(got["labels"]) == ["city", "film", "music"]
    assert_close(got, hf(TEXTS[3], candidate_labels=labels))
    assert_close(ours([TEXTS[1]], candidate_labels=["film"]), hf([TEXTS[1]], candidate_labels=["film"]))
    # one label: entailment vs contradiction, whatever multi_label says
    assert_close(ours(TEXTS[2], candidate_labels="good", multi_label=False), hf(TEXTS[2], candidate_labels="good"))
    assert 0 < ours(TEXTS[0], candidate_labels=["dog"])["scores"][0] < 1


def test_long_text_is_truncated_only_first_like_transformers(ckpt):
    _, hf, ours = ckpt
    long = " ".join(TEXTS * 20)
    assert_close(ours(long, candidate_labels=LABELS[:3]), hf(long, candidate_labels=LABELS[:3]))
    # a hypothesis over half the 64-token window: only the text is cut ("longest_first" would cut both)
    template = "{}"
    while len(hf.tokenizer(template.format("music"), add_special_tokens=False)["input_ids"]) <= 36:
        template = "the river and the city " + template
    assert_close(ours(long, candidate_labels=LABELS[:3], hypothesis_template=template),
                 hf(long, candidate_labels=LABELS[:3], hypothesis_template=template))


def test_batch_size_and_default_options(ckpt):
    _, _, ours = ckpt
    many = TEXTS * 3
    ref = ours(many, candidate_labels=LABELS, multi_label=True)
    # the same model, 3 pairs per forward call; options given to pipeline() are each call's defaults
    small = jaxnlp.pipeline("zero-shot-classification", model=ours.model, tokenizer=ours.tokenizer, batch_size=3,
                            candidate_labels=LABELS, multi_label=True)
    for got in (small(many), small(many, candidate_labels=",".join(LABELS))):
        for o, r in zip(got, ref):
            assert o["labels"] == r["labels"]
            np.testing.assert_allclose(o["scores"], r["scores"], atol=1e-5)
    assert small(TEXTS[0], multi_label=False)["labels"] == ours(TEXTS[0], candidate_labels=LABELS)["labels"]


def test_bad_input(ckpt):
    directory, _, ours = ckpt
    with pytest.raises(ValueError, match="needs candidate_labels"):
        ours(TEXTS[0])
    for empty in ([], "", " , "):
        with pytest.raises(ValueError, match="candidate_labels is empty"):
            ours(TEXTS[0], candidate_labels=empty)
    with pytest.raises(TypeError, match=r"candidate_labels\[1\]"):
        ours(TEXTS[0], candidate_labels=["a", 2])
    for labels in (["a", ""], ["a", "  "]):          # "This example is ." named no label
        with pytest.raises(ValueError, match=r"candidate_labels\[1\] is empty"):
            ours(TEXTS[0], candidate_labels=labels)
    with pytest.raises(ValueError, match=r"candidate_labels\[2\] repeats candidate_labels\[0\]"):
        ours(TEXTS[0], candidate_labels=["a", "b", "a"])
    result = ours(TEXTS[0], candidate_labels=np.array(LABELS))
    assert sorted(result["labels"]) == sorted(LABELS) and all(type(x) is str for x in result["labels"])
    for template in ("This example is.", "{{}}", "{label}", "{} or {}"):
        with pytest.raises(ValueError, match="hypothesis_template"):
            ours(TEXTS[0], candidate_labels=LABELS, hypothesis_template=template)
    with pytest.raises(ValueError, match="hypothesis_template"):       # bad defaults fail at construction
        jaxnlp.pipeline("zero-shot-classification", model=ours.model, tokenizer=ours.tokenizer,
                        hypothesis_template="no field")
    with pytest.raises(ValueError, match="empty"):
        ours([], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="item 1 is an empty text"):
        ours(["fine", "  "], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="item 0 is an empty text"):
        ours("", candidate_labels=LABELS)
    with pytest.raises(TypeError, match="item 2"):
        ours(["a", "b", 3], candidate_labels=LABELS)
    with pytest.raises(TypeError, match="takes a"):
        ours(42, candidate_labels=LABELS)
    with pytest.raises(TypeError, match="unknown option"):
        ours("a", candidate_labels=LABELS, multilabel=True)
    with pytest.raises(TypeError, match="multi_label"):
        ours("a", candidate_labels=LABELS, multi_label="yes")
    with pytest.raises(TypeError, match="positional"):
        ours("a", LABELS, "This is {}.")
    with pytest.raises(ValueError, match="leaves no room"):          # the hypothesis alone overflows the window
        ours("a", candidate_labels=["x"], hypothesis_template="one two three " * 30 + "{}")


@pytest.mark.parametrize("id2label, entailment_id", [({0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}, 0),
                                                     (None, -1)], ids=["entailment-first", "no-entailment"])
def test_entailment_label_from_label2id(tmp_path, id2label, entailment_id):
    """ENTAILMENT at 0 (so contradiction is the last logit); LABEL_0..2 (the last logit is taken, with a warning)."""
    directory, hf = nli_checkpoint("bert", tmp_path, id2label)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = jaxnlp.pipeline("zero-shot-classification", model=directory)
    assert any("entail" in str(w.message) for w in caught) == (entailment_id == -1)
    assert ours.entailment_id == entailment_id
    for options in ({}, {"multi_label": True}):
        assert_close(ours(TEXTS, candidate_labels=LABELS, **options), hf(TEXTS, candidate_labels=LABELS, **options))
