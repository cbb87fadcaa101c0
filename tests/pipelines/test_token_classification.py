"""token-classification / ner and pos-tagging against transformers 5's
TokenClassificationPipeline on tiny random checkpoints with trained WordPiece,
byte-level BPE and SentencePiece tokenizers: same entities (labels, words,
start/end) for every aggregation strategy, with and without stride; scores
within 1e-4. pos-tagging is checked against transformers' own word
aggregation (its pipeline with the grouping of adjacent words switched off)."""

import warnings

import pytest

import jaxnlp
from jaxnlp.errors import UnknownTaskError
from jaxnlp.pipelines.token_classification import PosTaggingPipeline, TokenClassificationPipeline
from jaxnlp.tokenization import Tokenizer, load_tokenizer
from support.pipelines import assert_same_entities as assert_same, assert_refuses_bad_lists, checkpoint, hf_pipeline

LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = ["john smith works in london", "naïve café in 東京 with über straße", "Mary lives in Paris!",
         "the quick brown fox jumps over the lazy dog", "", "hello world"]
LONG = " ".join(["john smith works in london and mary lives in paris, naïve café in 東京 with über straße"] * 6)
STRATEGIES = ["none", "simple", "first", "average", "max"]


@pytest.fixture(scope="module", params=["bert", "roberta", "xlm-roberta"])
def ckpt(request, tmp_path_factory):
    directory, _ = checkpoint(request.param, "token-classification", tmp_path_factory.mktemp(request.param),
                              id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, num_labels=len(LABELS))
    return directory, hf_pipeline("token-classification", directory), jaxnlp.pipeline("ner", model=directory)


def hf_words(hf, texts, strategy, **options):
    """transformers' per-word results: its pipeline with group_entities (the
    merging of adjacent words) switched off and nothing ignored."""
    hf.group_entities = lambda entities: entities
    try:
        return hf(texts, aggregation_strategy=strategy, ignore_labels=[], **options)
    finally:
        del hf.group_entities


def test_reference_is_not_trivial(ckpt):
    """The random model must predict several labels, or the comparisons say little."""
    _, hf, _ = ckpt
    tokens = [e for item in hf(TEXTS, ignore_labels=[]) for e in item]
    assert len({e["entity"] for e in tokens}) >= 2, tokens
    entities = [e for item in hf(TEXTS) for e in item]
    assert len(entities) >= 5, entities
    groups = [e for item in hf(TEXTS, aggregation_strategy="simple") for e in item]
    assert 0 < len(groups) < len(entities), groups           # some tokens were grouped


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_batch_matches_transformers(ckpt, strategy):
    _, hf, ours = ckpt
    assert_same(ours(TEXTS, aggregation_strategy=strategy), hf(TEXTS, aggregation_strategy=strategy))


@pytest.mark.parametrize("strategy", ["none", "first"])
def test_ignore_labels_match_transformers(ckpt, strategy):
    _, hf, ours = ckpt
    for ignore in ([], ["O", "B-PER", "PER"]):
        assert_same(ours(TEXTS, aggregation_strategy=strategy, ignore_labels=ignore),
                    hf(TEXTS, aggregation_strategy=strategy, ignore_labels=ignore))


def test_single_text_and_offsets(ckpt):
    _, hf, ours = ckpt
    text = TEXTS[1]
    got = ours(text)
    assert_same(got, hf(text))                               # one str -> one list of entities
    assert all(0 <= e["start"] <= e["end"] <= len(text) for e in got)
    assert ours("") == hf("") == []                          # no tokens, no entities
    assert ours(["", "x"])[0] == []
    # a blank text: no tokens with WordPiece / SentencePiece; byte-level BPE has tokens for spaces
    assert_same(ours(["  "], aggregation_strategy="simple"), hf(["  "], aggregation_strategy="simple"))


@pytest.mark.parametrize("strategy", ["simple", "first", "max"])
def test_stride_matches_transformers(ckpt, strategy):
    _, hf, ours = ckpt
    ref = hf(LONG, aggregation_strategy=strategy, stride=16)
    assert ref and ref[-1]["end"] > len(LONG) // 2            # the windows reach past the first one
    got = ours([LONG, TEXTS[0], LONG[:200]], aggregation_strategy=strategy, stride=16)
    assert_same(got, [ref, hf(TEXTS[0], aggregation_strategy=strategy, stride=16),
                      hf(LONG[:200], aggregation_strategy=strategy, stride=16)])


def test_long_text_without_stride_is_truncated_with_a_warning(ckpt):
    _, hf, ours = ckpt
    with pytest.warns(UserWarning, match="truncated"):
        got = ours(LONG)
    assert_same(got, hf(LONG))
    assert max(e["end"] for e in got) < len(LONG) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours(TEXTS[0])                                       # no warning for a text that fits


def test_batch_size_does_not_change_results(ckpt):
    directory, _, ours = ckpt
    small = jaxnlp.pipeline("token-classification", model=directory, batch_size=2)
    assert isinstance(small, TokenClassificationPipeline)
    for options in ({"aggregation_strategy": "average"}, {"aggregation_strategy": "simple", "stride": 20}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                  # LONG is truncated without stride
            assert_same(small(TEXTS + [LONG], **options), ours(TEXTS + [LONG], **options))


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_pos_tagging_tags_every_word(ckpt, strategy):
    directory, hf, _ = ckpt
    pos = jaxnlp.pipeline("pos-tagging", model=directory, aggregation_strategy=strategy)
    assert isinstance(pos, PosTaggingPipeline)
    ref = [[{"word": w["word"], "start": w["start"], "end": w["end"], "label": w["entity"], "score": w["score"]}
            for w in item] for item in hf_words(hf, TEXTS, strategy)]
    assert_same(pos(TEXTS), ref)
    assert all(len(item) >= len(text.split()) for item, text in zip(ref, TEXTS))   # every word, "O" ones too
    assert_same(pos(TEXTS[0]), ref[0])
    if strategy == "first":
        assert_same(jaxnlp.pipeline("pos-tagging", model=directory)(TEXTS[:2]), ref[:2])   # the default
        ref_long = [{"word": w["word"], "start": w["start"], "end": w["end"], "label": w["entity"],
                     "score": w["score"]} for w in hf_words(hf, LONG, strategy, stride=16)]
        assert_same(pos(LONG, stride=16), ref_long)


def test_bad_input(ckpt):
    directory, hf, ours = ckpt
    assert_refuses_bad_lists(ours, {"aggregation": "simple"})
    with pytest.raises(ValueError, match="aggregation_strategy"):
        ours("a", aggregation_strategy="mean")
    with pytest.raises(ValueError, match="aggregation_strategy"):
        jaxnlp.pipeline("ner", model=directory, aggregation_strategy="longest")     # at construction
    with pytest.raises(TypeError, match="ignore_labels"):
        ours("a", ignore_labels="O")
    with pytest.raises(ValueError):                          # transformers refuses it too
        hf("a", stride=16, aggregation_strategy="none")
    with pytest.raises(ValueError, match="stride"):
        ours("a", stride=16, aggregation_strategy="none")    # stride needs aggregation
    with pytest.raises(ValueError, match="stride"):
        ours("a", stride=16)                                 # (also when "none" is the default)
    with pytest.raises(ValueError, match="stride"):
        ours("a", stride=64, aggregation_strategy="simple")
    with pytest.raises(ValueError, match="stride"):
        ours("a", stride=-1, aggregation_strategy="simple")
    with pytest.raises(UnknownTaskError):
        jaxnlp.pipeline("nerr", model=directory)
    pos = jaxnlp.pipeline("pos-tagging", model=directory)
    with pytest.raises(ValueError, match="aggregation_strategy"):
        pos("a", aggregation_strategy="simple")              # POS tags words
    with pytest.raises(TypeError, match="unknown option"):
        pos("a", ignore_labels=[])
    with pytest.raises(TypeError, match="item 1"):
        pos(["a", None])
    assert pos("") == []


def test_tokenizer_without_word_boundaries(ckpt):
    """transformers' slow tokenizers (jaxnlp's SentencePiece-in-Python
    emulations) cannot tell words: word aggregation and stride are refused."""
    directory, _, ours = ckpt
    tok = load_tokenizer(directory)
    specials = {f"{n}_token": getattr(tok, f"{n}_token") for n in ("bos", "eos", "unk", "sep", "pad", "cls", "mask")}
    slow = Tokenizer(tok.backend, specials, model_max_length=tok.model_max_length, special_token_suffix=" ",
                     has_token_type_ids="token_type_ids" in tok.model_input_names)
    pipe = TokenClassificationPipeline(model=ours.model, tokenizer=slow, task="token-classification")
    for strategy in ("first", "average", "max"):
        with pytest.raises(ValueError, match="word boundaries"):
            pipe("john smith", aggregation_strategy=strategy)
    with pytest.raises(ValueError, match="stride"):
        pipe("john smith", aggregation_strategy="simple", stride=8)
    assert_same(pipe(TEXTS[:2], aggregation_strategy="simple"), ours(TEXTS[:2], aggregation_strategy="simple"))
    with pytest.raises(ValueError, match="word boundaries"):
        PosTaggingPipeline(model=ours.model, tokenizer=slow, task="pos-tagging")
