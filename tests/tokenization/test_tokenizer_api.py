"""The Tokenizer call contract: padding to buckets, padding side, truncation,
errors, dtypes, no mutation of inputs, encode/decode helpers."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from jaxnlp.errors import InputTooLongError, JaxnlpError


def test_output_arrays_and_dtypes(ours):
    enc = ours("minilm")(["hello world", "a longer sentence with more words in it"])
    assert list(enc) == ["input_ids", "attention_mask", "token_type_ids", "offset_mapping"]
    for key, value in enc.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.int32, key
    assert enc["input_ids"].shape == enc["attention_mask"].shape == enc["token_type_ids"].shape == (2, 16)
    assert enc["offset_mapping"].shape == (2, 16, 2)
    # specials and padding have (0, 0) offsets; word offsets point into the text
    assert enc["offset_mapping"][0, :5].tolist() == [[0, 0], [0, 5], [6, 11], [0, 0], [0, 0]]
    assert "token_type_ids" not in ours("gpt2")("hello")


def test_single_string_gives_a_batch_of_one(ours):
    enc = ours("minilm")("hello world")
    assert enc["input_ids"].shape == (1, 8)
    assert enc["input_ids"][0, :4].tolist() == [101, 7592, 2088, 102]
    assert enc["attention_mask"][0].tolist() == [1] * 4 + [0] * 4


@pytest.mark.parametrize("n_words,width", [(1, 8), (6, 8), (7, 16), (20, 32), (60, 64), (70, 96), (100, 128)])
def test_padding_to_length_bucket(ours, n_words, width):
    tok = ours("minilm")
    enc = tok(["word " * n_words, "short"])  # n_words + 2 special tokens
    assert enc["input_ids"].shape == (2, width)
    assert enc["attention_mask"].sum(1).tolist() == [n_words + 2, 3]
    assert (enc["input_ids"][enc["attention_mask"] == 0] == tok.pad_token_id).all()


def test_bucket_capped_at_max_length(ours):
    tok = ours("minilm")
    assert tok(["word " * 35], max_length=40)["input_ids"].shape == (1, 40)  # 37 tokens: bucket 64 > 40
    assert tok(["word " * 35], max_length=100)["input_ids"].shape == (1, 64)
    assert tok(["word " * 600])["input_ids"].shape == (1, 512)  # model_max_length caps (and truncates)


def test_padding_false_and_other_modes(ours):
    tok = ours("minilm")
    assert tok("hello world", padding=False)["input_ids"].tolist() == [[101, 7592, 2088, 102]]
    # several texts with padding=False: padded to the longest row
    enc = tok(["hello world", "hello"], padding=False)
    assert enc["input_ids"].tolist() == [[101, 7592, 2088, 102], [101, 7592, 102, 0]]
    assert tok(["hello"], padding="longest")["input_ids"].shape == (1, 3)
    assert tok(["hello"], padding="max_length", max_length=20)["input_ids"].shape == (1, 20)
    with pytest.raises(ValueError, match="padding"):
        tok("hello", padding="sideways")


@pytest.mark.parametrize("layout", ["minilm", "gpt2", "roberta"])
def test_left_padding(fresh, layout, rows):
    tok = fresh(layout)
    texts = ["hello world, a somewhat longer text", "hi", ""]
    right = tok(texts)
    tok.padding_side = "left"
    left = tok(texts)
    assert left["input_ids"].shape == right["input_ids"].shape
    for key in left:
        assert rows(left, key) == rows(right, key), key
    lengths = left["attention_mask"].sum(1)
    width = left["input_ids"].shape[1]
    for row, n in enumerate(lengths):
        assert left["attention_mask"][row].tolist() == [0] * (width - n) + [1] * n
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    assert (left["input_ids"][left["attention_mask"] == 0] == pad).all()
    assert (left["offset_mapping"][left["attention_mask"] == 0] == 0).all()
    tok.padding_side = "middle"
    with pytest.raises(ValueError, match="padding_side"):
        tok("x")


def test_gpt2_pads_with_zero_when_it_has_no_pad_token(ours):
    tok = ours("gpt2")
    assert tok.pad_token_id is None
    enc = tok(["Hello world", "Hi"])
    assert enc["input_ids"][1].tolist() == [17250] + [0] * 7


@pytest.mark.parametrize("layout", ["minilm", "gpt2", "roberta", "t5_json_only"])
def test_truncation_matches_transformers(ours, hf, layout, long_text, rows):
    tok, ref = ours(layout), hf(layout)
    texts = [long_text, "short text", long_text[:300]]
    pairs = ["a question about it?", long_text, long_text[100:]]
    for max_length in (20, 64):
        enc = tok(texts, max_length=max_length)
        assert enc["input_ids"].shape[1] == max_length
        assert rows(enc) == ref(texts, max_length=max_length, truncation=True)["input_ids"]
        enc = tok(texts, pairs, max_length=max_length)  # longest_first, special tokens kept
        expected = ref(texts, pairs, max_length=max_length, truncation="longest_first")
        assert rows(enc) == expected["input_ids"]
        if "token_type_ids" in enc:
            assert rows(enc, "token_type_ids") == expected["token_type_ids"]


@pytest.mark.parametrize("layout", ["minilm", "roberta"])
def test_pair_truncation_strategies_match_transformers(ours, hf, layout, long_text, rows):
    tok, ref = ours(layout), hf(layout)
    texts = [long_text, long_text[:200]]
    pairs = ["a second text that takes more than half of the forty tokens of the window all by itself, really",
             "short"]
    got = {s: tok(texts, pairs, max_length=40, truncation=s) for s in ("only_first", "longest_first")}
    for strategy, enc in got.items():
        assert rows(enc) == ref(texts, pairs, max_length=40, truncation=strategy)["input_ids"]
    assert rows(got["only_first"])[0] != rows(got["longest_first"])[0]   # the second text kept whole
    enc = tok(pairs, texts, max_length=40, truncation="only_second")
    assert rows(enc) == ref(pairs, texts, max_length=40, truncation="only_second")["input_ids"]
    with pytest.raises(ValueError, match=r"texts\[1\] to max_length=40 with truncation='only_first'"):
        tok(["fine " * 50, "short"], ["x", long_text], max_length=40, truncation="only_first")
    with pytest.raises(ValueError, match="truncation must be"):
        tok("a", truncation="only_third")


def test_truncation_default_limit_is_model_max_length(ours, hf, long_text, rows):
    tok, ref = ours("minilm"), hf("minilm")
    enc = tok([long_text, long_text * 2])
    assert enc["input_ids"].shape == (2, 512)
    assert rows(enc) == ref([long_text, long_text * 2], truncation=True, max_length=512)["input_ids"]
    assert tok(long_text)["input_ids"][0, -1] == tok.sep_token_id


def test_truncation_false_raises_naming_length_and_limit(ours, long_text):
    tok = ours("minilm")
    n = len(tok.encode(long_text))
    assert n > 512
    with pytest.raises(InputTooLongError, match=rf"texts\[1\] is {n} tokens long, over the limit of 512"):
        tok(["short", long_text], truncation=False)
    with pytest.raises(InputTooLongError, match="limit of 10"):
        tok("one two three four five six seven eight nine ten", max_length=10, truncation=False)
    assert issubclass(InputTooLongError, JaxnlpError)
    # within the limit, truncation=False is fine
    assert tok("hello", truncation=False)["attention_mask"].sum() == 3


def test_no_limit_without_model_max_length(ours, long_text):
    tok = ours("gpt2_vocab_merges_only")
    assert tok.model_max_length is None
    n = len(tok.encode(long_text))
    enc = tok(long_text, truncation=False)
    assert enc["attention_mask"].sum() == n and enc["input_ids"].shape[1] >= n


def test_bad_max_length(ours):
    tok = ours("minilm")
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(ValueError, match="max_length"):
            tok("hello", max_length=bad)
    with pytest.raises(ValueError, match="to max_length=1: the special tokens take 2 positions"):
        tok("hello", max_length=1)  # fewer positions than the 2 special tokens
    with pytest.raises(ValueError, match="the special tokens take 3"):
        tok(["a b c"], ["d e"], max_length=2)


def test_empty_string_gives_only_special_tokens(ours):
    assert ours("minilm")("")["input_ids"][0, :3].tolist() == [101, 102, 0]
    assert ours("roberta")("")["input_ids"][0, :3].tolist() == [0, 2, 1]
    enc = ours("gpt2")("")
    assert enc["input_ids"].shape == (1, 8) and enc["attention_mask"].sum() == 0
    enc = ours("minilm")(["", "x"], ["", ""])
    assert enc["input_ids"][0, :4].tolist() == [101, 102, 102, 0]


def test_input_errors(ours):
    tok = ours("minilm")
    with pytest.raises(ValueError, match="no texts"):
        tok([])
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        tok(["fine", 3, "also fine"])
    with pytest.raises(TypeError, match=r"texts\[0\] is bytes"):
        tok([b"bytes"])
    with pytest.raises(TypeError, match="texts must be"):
        tok(42)
    with pytest.raises(TypeError, match="texts must be"):
        tok(b"bytes")
    # tuples and numpy arrays of str are fine
    assert tok(("a", "b"))["input_ids"].shape == tok(np.array(["a", "b"]))["input_ids"].shape == (2, 8)
    with pytest.raises(ValueError, match="text_pair has 1 items but texts has 2"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="text_pair is one str"):
        tok(["a", "b"], "c")
    with pytest.raises(TypeError, match=r"text_pair\[1\] is NoneType"):
        tok(["a", "b"], ["c", None])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(["a"])


def test_inputs_are_not_mutated(ours):
    tok = ours("minilm")
    texts, pairs = ["Hello World", "Ünïcödé  text "], ("pair one", "pair two")
    before = copy.deepcopy((texts, pairs))
    tok(texts, pairs, max_length=5)
    tok(texts)
    assert (texts, pairs) == before


def test_add_special_tokens_false(ours):
    tok = ours("minilm")
    assert tok("hello world", add_special_tokens=False)["input_ids"][0, :3].tolist() == [7592, 2088, 0]
    assert tok.encode("hello world", add_special_tokens=False) == [7592, 2088]
    assert tok.encode("hello", "world") == [101, 7592, 102, 2088, 102]


def test_decode_helpers(ours, hf):
    tok, ref = ours("minilm"), hf("minilm")
    enc = tok(["Hello, world! Don't panic.", "second"])
    assert tok.batch_decode(enc["input_ids"]) == ["hello, world! don ' t panic.", "second"]
    assert tok.batch_decode(enc["input_ids"]) == ref.batch_decode(enc["input_ids"].tolist(), skip_special_tokens=True)
    assert tok.decode(enc["input_ids"][1]) == "second"
    text = tok.decode(enc["input_ids"][1], skip_special_tokens=False)
    assert text == ref.decode(enc["input_ids"][1].tolist())
    assert text.startswith("[CLS] second [SEP] [PAD] [PAD]")
    assert tok.decode([]) == ""
    with pytest.raises(ValueError, match="batch_decode"):
        tok.decode(enc["input_ids"])


def test_clean_up_tokenization_spaces_follows_the_config(tmp_path, layouts, mkdir):
    from transformers import AutoTokenizer

    from jaxnlp.tokenization import load_tokenizer

    model = Path(layouts["minilm"])
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["clean_up_tokenization_spaces"] = True
    d = mkdir(tmp_path / "bert_cleanup", {"vocab.txt": model / "vocab.txt", "tokenizer_config.json": config,
                                           "config.json": model / "config.json"})
    tok, ref = load_tokenizer(d), AutoTokenizer.from_pretrained(d)
    ids = ref("Hello , world ! I 'm here , aren't you ?")["input_ids"]
    assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True) == "hello, world! i'm here, aren't you?"
    assert tok.decode(ids, clean_up_tokenization_spaces=False) == "hello, world! i ' m here, aren ' t you?"
    # the MiniLM config does not ask for the clean-up (transformers 5's default is off)
    assert load_tokenizer(layouts["minilm"]).clean_up_tokenization_spaces is False


def test_token_id_conversions(ours):
    tok = ours("minilm")
    assert tok.convert_tokens_to_ids("hello") == 7592
    assert tok.convert_tokens_to_ids(["[CLS]", "hello", "no-such-token-xyz"]) == [101, 7592, 100]
    assert tok.convert_ids_to_tokens(7592) == "hello"
    assert tok.convert_ids_to_tokens(np.array([101, 7592, 102])) == ["[CLS]", "hello", "[SEP]"]
    assert tok.convert_ids_to_tokens([101, 7592, 102], skip_special_tokens=True) == ["hello"]
    assert tok.vocab_size == len(tok) == 30522
    assert set(tok.all_special_ids) == {0, 100, 101, 102, 103}
    assert tok.get_vocab()["hello"] == 7592


def test_special_token_attributes(ours):
    bert = ours("minilm")
    assert (bert.cls_token, bert.sep_token, bert.pad_token, bert.mask_token, bert.unk_token) == \
        ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
    assert (bert.cls_token_id, bert.sep_token_id, bert.pad_token_id, bert.mask_token_id, bert.unk_token_id) == \
        (101, 102, 0, 103, 100)
    assert bert.bos_token is None and bert.bos_token_id is None and bert.eos_token_id is None
    rob = ours("roberta")
    assert (rob.bos_token_id, rob.eos_token_id, rob.cls_token_id, rob.sep_token_id) == (0, 2, 0, 2)
    gpt2 = ours("gpt2_vocab_merges_only")
    assert (gpt2.bos_token_id, gpt2.eos_token_id, gpt2.unk_token_id, gpt2.pad_token_id) == (50256, 50256, 50256, None)


@pytest.mark.parametrize("layout", ["minilm", "gpt2", "roberta", "t5_json_only", "spm_xlmr"])
def test_long_pairs_truncate_without_window_combinations(ours, hf, layout, long_text, unicode_texts, rows,
                                                         monkeypatch):
    """Pairs whose both sides overflow "longest_first": `tokenizers` builds a
    window for every combination of the two sides' overflowing windows (two
    5,000-word texts at 64 tokens: ~10^5 windows, seconds and gigabytes),
    so such a side is cut after the tokens it keeps and encoded again. Same
    ids and token types as transformers, at odd and even limits, on texts
    whose words straddle the cut (no spaces, emoji, CJK, combining marks),
    and every array (offsets too) equal to the uncut pairs'."""
    from jaxnlp.tokenization.tokenizer import _long_pairs

    tok, ref = ours(layout), hf(layout)
    odd = (" ".join(unicode_texts) * 3)[:1500]       # (the reference itself builds every window combination:
    text = long_text[:1500]                           # texts kept short enough for it)
    texts = [text, odd, "x" * 1500, text[7:] + " tail"]
    pairs = [odd, text, text[:1300], "y" * 5 + text]
    for max_length in (33, 64, 301):
        budget = max_length - tok.backend.num_special_tokens_to_add(True)
        assert sorted(_long_pairs(tok.backend, list(zip(texts, pairs)), budget)) != []   # the cut path is taken
        enc = tok(texts, pairs, max_length=max_length)
        expected = ref(texts, pairs, max_length=max_length, truncation="longest_first")
        assert rows(enc) == expected["input_ids"]
        if "token_type_ids" in enc:
            assert rows(enc, "token_type_ids") == expected["token_type_ids"]
        # and every array (offsets too) equal to the whole pairs' through tokenizers alone
        with monkeypatch.context() as m:
            m.setattr("jaxnlp.tokenization.tokenizer._long_pairs", lambda *a: {})
            whole = tok(texts, pairs, max_length=max_length)
        assert enc.keys() == whole.keys()
        for key in enc:
            np.testing.assert_array_equal(enc[key], whole[key], err_msg=key)
    # 20,000 words a side: every row through the cut path, each side keeping half the window
    big = tok(["word " * 20000, "a b " * 10000], ["other " * 20000, "c " * 20000], max_length=64)
    assert big["attention_mask"].sum(1).tolist() == [64, 64]
    budget = 64 - tok.backend.num_special_tokens_to_add(True)
    assert sorted(_long_pairs(tok.backend, [("word " * 20000, "other " * 20000)], budget)) == [0]


def test_invalid_unicode_and_bad_ids_are_named(ours):
    """A lone surrogate is named by text and position (tokenizers says only
    that its input has the wrong type); decode refuses negative and
    non-integer ids (tokenizers raised OverflowError or cast floats) and, as
    transformers, decodes ids past the vocabulary to nothing."""
    tok = ours("minilm")
    with pytest.raises(ValueError, match=r"text 1 is not valid Unicode.*character 1"):
        tok(["ok", "a\udfffb"])
    with pytest.raises(ValueError, match="text 0 is not valid Unicode"):      # a long pair, cut first
        tok(["word " * 500 + "\ud800"], ["other " * 500], max_length=16)
    with pytest.raises(ValueError, match="text 0 is not valid Unicode"):
        tok(["ok"], ["x\ud800"])
    with pytest.raises(ValueError, match="text 1 is not valid Unicode"):
        tok.encode_windows(["ok", "z\ud800"], 16)
    ids = tok("this is")["input_ids"][0]
    assert tok.decode(ids) == "this is"
    assert tok.decode([]) == ""
    assert tok.decode(list(ids) + [10 ** 6]) == "this is"
    for bad in ([5, -1], [5, 2 ** 40]):
        with pytest.raises(ValueError, match="not a token id"):
            tok.decode(bad)
    for bad in ([5.0, 6.0], [True]):
        with pytest.raises(TypeError, match="integer token ids"):
            tok.decode(bad)
