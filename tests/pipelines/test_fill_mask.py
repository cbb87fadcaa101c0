"""fill-mask against transformers 5's pipeline on tiny random masked-LM
checkpoints with trained WordPiece, byte-level BPE and SentencePiece
tokenizers: same tokens, token_str and sequences, scores within 1e-4."""

import warnings

import pytest

import jaxnlp
from support.compare import assert_results_close
from support.pipelines import checkpoint, hf_pipeline

TOL = 1e-4
# {m}: the tokenizer's mask token
TEMPLATES = ["the quick brown {m} jumps over the lazy dog", "I {m} this movie!", "naïve café in 東京 with {m}",
             "{m}", "john smith works in {m} and lives in paris ."]
TWO_MASKS = "the {m} brown fox {m} over the lazy dog"
# in some vocabulary or other: the rest are tokenized (first piece), with a warning
TARGETS = ["the", "Ġthe", "▁the", "fox", "zzqx"]


@pytest.fixture(scope="module", params=["bert", "roberta", "xlm-roberta"])
def ckpt(request, tmp_path_factory):
    directory, _ = checkpoint(request.param, "masked-lm", tmp_path_factory.mktemp(request.param))
    hf = hf_pipeline("fill-mask", directory)
    texts = [t.format(m=hf.tokenizer.mask_token) for t in TEMPLATES]
    return directory, hf, jaxnlp.pipeline("fill-mask", model=directory), texts


def assert_close(ours, ref):
    """Same structure, tokens, token_str and sequence; scores within TOL."""
    assert_results_close(ours, ref, TOL)


def hf_each(hf, texts, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [hf(t, **options) for t in texts]      # transformers unwraps a one-element list


@pytest.mark.parametrize("options", [{}, {"top_k": 3}, {"targets": TARGETS}, {"targets": "fox", "top_k": 3}])
def test_batch_matches_transformers(ckpt, options):
    _, hf, ours, texts = ckpt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ours(texts, **options)
    ref = hf_each(hf, texts, **options)
    assert_close(got, ref)
    if "targets" not in options:
        assert len({r[0]["token"] for r in got}) > 1          # predictions depend on the text


def test_single_text_and_two_masks(ckpt):
    _, hf, ours, texts = ckpt
    assert_close(ours(texts[0]), hf(texts[0]))                 # a list of dicts
    two = TWO_MASKS.format(m=hf.tokenizer.mask_token)
    got = ours(two, top_k=3)
    assert len(got) == 2 and all(len(r) == 3 for r in got)    # a list per mask
    assert_close(got, hf(two, top_k=3))
    assert hf.tokenizer.mask_token in got[0][0]["sequence"]   # the other mask is kept, as transformers
    mixed = [texts[1], two]                                    # one and two masks in one batch
    assert_close(ours(mixed), hf_each(hf, mixed))


def test_targets_out_of_vocabulary_warn(ckpt):
    _, hf, ours, texts = ckpt
    with pytest.warns(UserWarning, match="zzqx"):
        ours(texts[0], targets=["zzqx"])
    with pytest.raises(ValueError, match="target"), pytest.warns(UserWarning, match="ignoring it"):
        ours(texts[0], targets=[""])                           # no token at all: dropped, none left


def test_batch_size_does_not_change_results(ckpt):
    directory, _, ours, texts = ckpt
    small = jaxnlp.pipeline("fill-mask", model=directory, batch_size=2, top_k=2)
    ref = ours(texts, top_k=2)
    got = small(texts)                                         # top_k given to pipeline() as a default
    assert [[x["token"] for x in r] for r in got] == [[x["token"] for x in r] for r in ref]
    for o, r in zip(got, ref):
        assert all(abs(a["score"] - b["score"]) <= 1e-5 for a, b in zip(o, r))


def test_bad_input(ckpt):
    directory, hf, ours, texts = ckpt
    mask = hf.tokenizer.mask_token
    with pytest.raises(ValueError, match="empty"):
        ours([])
    with pytest.raises(ValueError, match=f"item 1 has no mask token.*{mask.replace('[', '.').replace(']', '.')}"):
        ours([texts[0], "no mask here"])
    with pytest.raises(ValueError, match="no mask token"):
        ours("")
    with pytest.raises(TypeError, match="item 2"):
        ours([texts[0], texts[1], 3])
    with pytest.raises(TypeError, match="takes a"):
        ours(42)
    with pytest.raises(TypeError, match="unknown option"):
        ours(texts[0], topk=2)
    with pytest.raises(ValueError, match="top_k"):
        ours(texts[0], top_k=0)
    with pytest.raises(TypeError, match="targets"):
        ours(texts[0], targets=[3])
    long = texts[0] + " hello world" * 40
    with pytest.raises(ValueError, match="tokens long|at most|limit"):
        ours(long)                                             # not truncated by default, as transformers
    assert len(ours(long, tokenizer_kwargs={"truncation": True})) == 5
    with pytest.raises(TypeError, match="unknown option"):
        jaxnlp.pipeline("fill-mask", model=directory, topk=3)
