"""token-classification / ner and pos-tagging with pre-split words
(`is_split_into_words=True`, `delimiter`) against transformers 5's
TokenClassificationPipeline on the tiny random checkpoints of
test_token_classification.py (WordPiece BERT, byte-level BPE RoBERTa and,
at another seed, SentencePiece XLM-R): entities (labels, words, start/end,
index) exact and scores within 1e-4 for every aggregation strategy,
delimiters, ignore_labels, stride and truncation; pos-tagging against
transformers' own word aggregation over the given words' word ids; the bad
inputs refused."""

import warnings

import numpy as np
import pytest

import jaxnlp
from jaxnlp.pipelines.token_classification import PosTaggingPipeline, TokenClassificationPipeline
from jaxnlp.tokenization import Tokenizer, load_tokenizer
from support.pipelines import assert_same_entities as assert_same, checkpoint, hf_pipeline

LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
STRATEGIES = ["none", "simple", "first", "average", "max"]

WORDS = [["John", "Smith", "works", "in", "London!"],
         ["naïve", "café", "in", "東京", "with", "über", "straße"],
         ["Mary", "", "lives", "in", "Paris", "."],            # an empty word: no tokens, still in the text
         [],                                                   # no words, no entities
         ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]]
TAGGABLE = [w for w in WORDS if w and "" not in w] + [["Hello", "wörld", "東京!", "x"]]   # every word has tokens
LONG = " ".join(["john smith works in london and mary lives in paris, naïve café in 東京 with über straße"] * 6)
LONG_WORDS = LONG.split()
SPLIT = {"is_split_into_words": True}
SEEDS = {"xlm-roberta": 4}     # at seed 0 the XLM-R model tags every token of WORDS I-PER
pytestmark = pytest.mark.filterwarnings("ignore:Tokenizer does not support real words")   # transformers, per token


@pytest.fixture(scope="module", params=["bert", "roberta", "xlm-roberta"])
def ckpt(request, tmp_path_factory):
    directory, _ = checkpoint(request.param, "token-classification", tmp_path_factory.mktemp(request.param),
                              seed=SEEDS.get(request.param, 0), id2label=LABELS,
                              label2id={v: k for k, v in LABELS.items()}, num_labels=len(LABELS))
    ours = jaxnlp.pipeline("ner", model=directory)
    # pos-tagging on the same model (compiled once), pre-split words by default
    pos = PosTaggingPipeline(model=ours.model, tokenizer=ours.tokenizer, task="pos-tagging",
                             defaults={"is_split_into_words": True})
    return directory, hf_pipeline("token-classification", directory), ours, pos


def hf_given_words(hf, items, strategy, **options):
    """transformers' aggregation of the given words: its pipeline with each
    token's word boundary taken from its word id (which gather_pre_entities
    receives), adjacent words not grouped and nothing ignored."""
    gather = hf.gather_pre_entities

    def by_word_ids(*args, word_ids=None, **kwargs):
        tokens = gather(*args, word_ids=word_ids, **kwargs)
        for previous, token in zip([None] + tokens, tokens):
            token["is_subword"] = previous is not None and word_ids[previous["index"]] == word_ids[token["index"]]
        return tokens

    hf.gather_pre_entities, hf.group_entities = by_word_ids, lambda entities: entities
    try:
        return hf(items, aggregation_strategy=strategy, ignore_labels=[], **SPLIT, **options)
    finally:
        del hf.gather_pre_entities, hf.group_entities


def tagged(words, entities, delimiter=" "):
    """The pos-tagging result for `words` from transformers' per-word entities
    (one per given word, in order): the word as given and its span in the joined text."""
    assert len(entities) == len(words), (words, entities)
    out, start = [], 0
    for word, e in zip(words, entities):
        out.append({"word": word, "start": start, "end": start + len(word), "label": e["entity"],
                    "score": e["score"]})
        start += len(word) + len(delimiter)
    return out


def test_reference_is_not_trivial(ckpt):
    _, hf, _, _ = ckpt
    tokens = [e for item in hf(WORDS, ignore_labels=[], **SPLIT) for e in item]
    labels = [e["entity"] for e in tokens]
    assert len(set(labels)) >= 2 and max(map(labels.count, labels)) < 0.9 * len(labels), labels
    assert len([e for item in hf(WORDS, **SPLIT) for e in item]) >= 5
    words = [e for item in hf_given_words(hf, TAGGABLE, "first") for e in item]
    assert len({e["entity"] for e in words}) >= 2, words


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_words_match_transformers(ckpt, strategy):
    _, hf, ours, _ = ckpt
    ref = hf(WORDS, aggregation_strategy=strategy, **SPLIT)
    assert ref[3] == []                                          # the empty list of words
    assert_same(ours(WORDS, aggregation_strategy=strategy, **SPLIT), ref)
    # one list of words -> one result (transformers: a batch of one)
    assert_same(ours(WORDS[1], aggregation_strategy=strategy, **SPLIT), ref[1])
    assert_same(ours(tuple(WORDS[0]), aggregation_strategy=strategy, **SPLIT), ref[0])


@pytest.mark.parametrize("strategy", ["none", "first"])
def test_delimiters_and_ignore_labels_match_transformers(ckpt, strategy):
    _, hf, ours, _ = ckpt
    for options in ({"delimiter": "|"}, {"delimiter": ""}, {"delimiter": " - "}, {"ignore_labels": []},
                    {"ignore_labels": ["O", "B-PER", "PER"], "delimiter": "  "}):
        ref = hf(WORDS, aggregation_strategy=strategy, **SPLIT, **options)
        assert_same(ours(WORDS, aggregation_strategy=strategy, **SPLIT, **options), ref)
        delimiter = options.get("delimiter", " ")
        for words, entities in zip(WORDS, ref):               # offsets into the joined text
            assert all(0 <= e["start"] <= e["end"] <= len(delimiter.join(words)) for e in entities)


@pytest.mark.parametrize("strategy", ["simple", "first", "max"])
def test_stride_matches_transformers(ckpt, strategy):
    _, hf, ours, _ = ckpt
    ref = hf(LONG_WORDS, aggregation_strategy=strategy, stride=16, **SPLIT)[0]
    assert ref and ref[-1]["end"] > len(LONG) // 2               # the windows reach past the first one
    got = ours([LONG_WORDS, WORDS[0], []], aggregation_strategy=strategy, stride=16, **SPLIT)
    assert_same(got, [ref, hf(WORDS[0], aggregation_strategy=strategy, stride=16, **SPLIT)[0], []])


def test_long_word_list_without_stride_is_truncated_with_a_warning(ckpt):
    _, hf, ours, _ = ckpt
    with pytest.warns(UserWarning, match="truncated"):
        got = ours(LONG_WORDS, aggregation_strategy="simple", **SPLIT)
    assert_same(got, hf(LONG_WORDS, aggregation_strategy="simple", **SPLIT)[0])
    assert max(e["end"] for e in got) < len(LONG) // 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours(WORDS, **SPLIT)                                     # no warning for lists that fit


@pytest.mark.parametrize("strategy", ["first", "average", "max"])
def test_pos_tagging_tags_every_given_word(ckpt, strategy):
    _, hf, _, pos = ckpt
    ref = [tagged(words, entities) for words, entities in zip(TAGGABLE, hf_given_words(hf, TAGGABLE, strategy))]
    got = pos(TAGGABLE, aggregation_strategy=strategy)
    assert_same(got, ref)
    for words, item in zip(TAGGABLE, got):                      # one result per word, in order, at its place
        text = " ".join(words)
        assert [e["word"] for e in item] == words and all(text[e["start"]:e["end"]] == e["word"] for e in item)
    assert_same(pos(TAGGABLE[0], aggregation_strategy=strategy), ref[0])
    assert pos([[]], aggregation_strategy=strategy) == [[]]
    if strategy == "first":                                     # (the default)
        ref = tagged(TAGGABLE[1], hf_given_words(hf, [TAGGABLE[1]], strategy, delimiter="")[0], "")
        assert_same(pos(TAGGABLE[1], delimiter=""), ref)
        long_ref = tagged(LONG_WORDS, hf_given_words(hf, [LONG_WORDS], strategy, stride=16)[0])
        assert_same(pos(LONG_WORDS, stride=16), long_ref)       # every word of a long list, once
        with pytest.warns(UserWarning, match="truncated"):
            cut = pos(LONG_WORDS)
        assert 10 < len(cut) < len(LONG_WORDS) and [e["word"] for e in cut] == LONG_WORDS[:len(cut)]


def test_bad_input(ckpt):
    directory, hf, ours, pos = ckpt
    with pytest.raises(TypeError, match="list of words"):
        ours("john smith", **SPLIT)                              # a text is not a list of words
    with pytest.raises(TypeError):                               # transformers: a TypeError deep in str.join
        hf(["a", ["b"]], **SPLIT)
    for mixed in (["a", ["b"]], [["a"], "b"]):
        with pytest.raises(TypeError, match="mixture"):
            ours(mixed, **SPLIT)
    with pytest.raises(TypeError, match="word 1 is a int"):
        ours(["a", 3], **SPLIT)
    with pytest.raises(TypeError, match="item 2, word 1 is a NoneType"):
        ours([["a"], ["b"], ["c", None]], **SPLIT)
    with pytest.raises(TypeError, match="item 1 is a int"):
        ours([["a"], 5], **SPLIT)
    with pytest.raises(ValueError, match="empty"):
        ours([], **SPLIT)
    assert ours([[]], **SPLIT) == hf([[]], **SPLIT) == [[]]
    assert ours([[""]], **SPLIT) == hf([[""]], **SPLIT) == [[]]    # a word without tokens
    assert_same(ours(["", " ", "a"], **SPLIT), hf(["", " ", "a"], **SPLIT)[0])  # byte-level BPE: " " has a token
    assert_same(ours(np.array(WORDS[0]), **SPLIT), hf(WORDS[0], **SPLIT)[0])
    with pytest.raises(TypeError, match="is_split_into_words=True"):
        ours([["john", "smith"]])                                # words without the option
    with pytest.raises(ValueError, match="delimiter"):
        ours("john smith", delimiter="|")
    with pytest.raises(TypeError, match="delimiter"):
        ours(["a"], delimiter=1, **SPLIT)
    with pytest.raises(TypeError, match="is_split_into_words"):
        ours(["a"], is_split_into_words="yes")
    made = jaxnlp.pipeline("pos-tagging", model=directory, is_split_into_words=True)
    assert isinstance(made, PosTaggingPipeline) and made.defaults == {"is_split_into_words": True}
    with pytest.raises(ValueError, match="item 1, word 1 .''. has no tokens"):
        pos([["a"], ["b", "", "c"]])
    if not load_tokenizer(directory).backend.encode([" "], is_pretokenized=True, add_special_tokens=False).ids:
        with pytest.raises(ValueError, match="item 0, word 2 .' '. has no tokens"):
            pos(["a", "b", " "])                                 # (byte-level BPE has a token for " ")
    with pytest.raises(TypeError, match="mixture"):
        pos([["a"], "b"])


def test_tokenizer_without_word_boundaries_refuses_words(ckpt):
    """transformers refuses is_split_into_words with slow tokenizers (jaxnlp's
    SentencePiece-in-Python emulations)."""
    directory, _, ours, _ = ckpt
    tok = load_tokenizer(directory)
    specials = {f"{n}_token": getattr(tok, f"{n}_token") for n in ("bos", "eos", "unk", "sep", "pad", "cls", "mask")}
    slow = Tokenizer(tok.backend, specials, model_max_length=tok.model_max_length, special_token_suffix=" ",
                     has_token_type_ids="token_type_ids" in tok.model_input_names)
    pipe = TokenClassificationPipeline(model=ours.model, tokenizer=slow, task="token-classification")
    with pytest.raises(ValueError, match="word ids"):
        pipe(["john", "smith"], aggregation_strategy="simple", **SPLIT)
