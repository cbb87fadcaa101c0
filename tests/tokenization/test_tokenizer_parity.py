"""Our ids (and offsets, type ids, decode) against transformers' fast
tokenizers, the `tokenizers` library and published test vectors, for every
file layout load_tokenizer reads. Ours are padded to a bucket, so rows are
compared under the attention mask."""

from __future__ import annotations

import os

import pytest
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer

PAIRS = ["a second text", "", "東京 and 🦙 again", "x"]


def all_texts(vectors, unicode_texts, name):
    return [t for t, _ in vectors(name)] + unicode_texts


def assert_same(ours_enc, ref, rows, keys=("input_ids", "offset_mapping")):
    for key in keys:
        assert rows(ours_enc, key) == ref[key], key


# -- byte-level BPE (GPT-2) ---------------------------------------------------

def test_gpt2_vocab_merges_only_gives_the_hf_vectors(ours, vectors, rows):
    cases = vectors("gpt2")
    enc = ours("gpt2_vocab_merges_only")([t for t, _ in cases], add_special_tokens=False)
    assert rows(enc) == [ids for _, ids in cases]


def test_gpt2_vocab_merges_only_matches_tokenizers_library(ours, layouts, vectors, unicode_texts, rows):
    d = layouts["gpt2_vocab_merges_only"]
    ref = ByteLevelBPETokenizer(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
    texts = all_texts(vectors, unicode_texts, "gpt2")
    expected = ref.encode_batch(texts)
    enc = ours("gpt2_vocab_merges_only")(texts)
    assert rows(enc) == [e.ids for e in expected]
    assert rows(enc, "offset_mapping") == [[list(o) for o in e.offsets] for e in expected]


def test_gpt2_matches_transformers(ours, hf, vectors, unicode_texts, rows, hf_enc):
    texts = all_texts(vectors, unicode_texts, "gpt2")
    tok, ref = ours("gpt2"), hf("gpt2")
    assert_same(tok(texts), hf_enc(ref, texts), rows)
    assert "token_type_ids" not in tok(texts)
    assert (tok.eos_token, tok.bos_token, tok.unk_token, tok.pad_token) == \
        (ref.eos_token, ref.bos_token, ref.unk_token, ref.pad_token)
    assert (tok.eos_token_id, tok.pad_token_id, tok.model_max_length) == (50256, None, 1024)
    for text in texts:
        ids = ref(text)["input_ids"]
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)
        assert tok.decode(ids, skip_special_tokens=False) == ref.decode(ids)


# -- WordPiece (BERT uncased) -------------------------------------------------

def test_bert_vocab_only_gives_the_hf_vectors(ours, vectors, rows):
    cases = vectors("bert-uncased")
    enc = ours("bert_vocab_only")([t for t, _ in cases], add_special_tokens=False)
    assert rows(enc) == [ids for _, ids in cases]


def test_bert_vocab_only_matches_tokenizers_library(ours, layouts, vectors, unicode_texts, rows):
    ref = BertWordPieceTokenizer(os.path.join(layouts["bert_vocab_only"], "vocab.txt"))
    texts = all_texts(vectors, unicode_texts, "bert-uncased")
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    expected = ref.encode_batch(list(zip(texts, pairs)))
    enc = ours("bert_vocab_only")(texts, pairs)
    assert rows(enc) == [e.ids for e in expected]
    assert rows(enc, "token_type_ids") == [e.type_ids for e in expected]
    assert rows(enc, "offset_mapping") == [[list(o) for o in e.offsets] for e in expected]


@pytest.mark.parametrize("layout", ["bert_vocab_config", "minilm"])
def test_bert_matches_transformers(layout, ours, hf, vectors, unicode_texts, rows, hf_enc):
    texts = all_texts(vectors, unicode_texts, "bert-uncased")
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    tok, ref = ours(layout), hf(layout)
    assert_same(tok(texts), hf_enc(ref, texts), rows, ("input_ids", "token_type_ids", "offset_mapping"))
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs), rows,
                ("input_ids", "token_type_ids", "offset_mapping"))
    assert tok.model_input_names == ref.model_input_names
    for name in ("cls", "sep", "pad", "mask", "unk"):
        assert getattr(tok, f"{name}_token_id") == getattr(ref, f"{name}_token_id"), name
    assert tok.model_max_length == ref.model_max_length == 512
    for ids in ref(texts)["input_ids"] + ref(texts[:5], pairs[:5])["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)
        assert tok.decode(ids, skip_special_tokens=False) == ref.decode(ids)


def test_bert_tokenizer_json_only_matches_transformers(ours, hf, vectors, unicode_texts, rows, hf_enc):
    texts = all_texts(vectors, unicode_texts, "bert-uncased")
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    tok, ref = ours("bert_json_only"), hf("bert_json_only")
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs), rows)
    # no config: the template's type ids (B is 1) say the model takes token_type_ids
    enc = tok("a", "b")
    assert enc["token_type_ids"][0, :5].tolist() == [0, 0, 0, 1, 1]
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.mask_token, tok.unk_token) == \
        ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
    assert tok.model_max_length is None


# -- SentencePiece unigram (T5) from tokenizer.json ---------------------------

def test_t5_tokenizer_json_only_matches_transformers(ours, hf, vectors, unicode_texts, rows, hf_enc):
    texts = all_texts(vectors, unicode_texts, "gpt2") + ["translate English to German: The house is wonderful.",
                                                         "a <extra_id_0> b <extra_id_99>"]
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    tok, ref = ours("t5_json_only"), hf("t5_json_only")
    assert_same(tok(texts), hf_enc(ref, texts), rows)
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs), rows)
    # the ids in the T5 documentation
    assert tok.encode("translate English to German: The house is wonderful.") == \
        [13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5, 1]
    assert (tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (1, 0, 2)
    assert tok.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_99>"]) == [32099, 32000]
    assert "token_type_ids" not in tok("x")
    for ids in ref(texts)["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)
        assert tok.decode(ids, skip_special_tokens=False) == ref.decode(ids)


# -- byte-level BPE with the RoBERTa template (no tokenizer.json) -------------

def test_roberta_fallback_matches_transformers(ours, hf, vectors, unicode_texts, rows, hf_enc):
    texts = all_texts(vectors, unicode_texts, "gpt2") + ["fill <mask> here", "<s>literal</s>"]
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    tok, ref = ours("roberta"), hf("roberta")
    assert type(ref).__name__ == "RobertaTokenizer"
    assert_same(tok(texts), hf_enc(ref, texts), rows)  # offsets trimmed as RobertaTokenizer's
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs), rows)
    assert tok.encode("Hello world") == [0, 15496 + 4, 995 + 4, 2]
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.mask_token_id) == (0, 2, 1, 50261)
    assert tok.model_max_length == 512  # tokenizer_config says 1e30: config.json's 514 minus the offset 2
    assert "token_type_ids" not in tok("x")
    for ids in ref(texts)["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)
        assert tok.decode(ids, skip_special_tokens=False) == ref.decode(ids)


# -- SentencePiece models (no tokenizer.json) ---------------------------------

SPM_TEXTS = ["The quick brown fox jumps", "café  naïve über straße", "", "  hello   world  ", "東京 zzz QX",
             "kari tome suna <extra_id_0> lobe", "a\tb\nc", "hello</s>world", "kasuto" * 20]


def test_sentencepiece_t5_matches_transformers(ours, hf, rows, hf_enc):
    tok, ref = ours("spm_t5"), hf("spm_t5")
    assert type(ref).__name__ == "T5Tokenizer"
    pairs = [SPM_TEXTS[-i - 1] for i in range(len(SPM_TEXTS))]
    assert_same(tok(SPM_TEXTS), hf_enc(ref, SPM_TEXTS), rows)
    assert_same(tok(SPM_TEXTS, pairs), hf_enc(ref, SPM_TEXTS, pairs), rows, ("input_ids",))
    assert tok.vocab_size == len(ref) == 300
    assert tok.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_99>"]) == [299, 200]
    assert (tok.eos_token_id, tok.pad_token_id, tok.unk_token_id) == (1, 0, 2)
    for ids in ref(SPM_TEXTS)["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)


def test_sentencepiece_xlm_roberta_matches_transformers(ours, hf, rows, hf_enc):
    tok, ref = ours("spm_xlmr"), hf("spm_xlmr")
    assert type(ref).__name__ == "XLMRobertaTokenizer"
    texts = [t.replace("<extra_id_0>", "<mask>") for t in SPM_TEXTS]
    pairs = [texts[-i - 1] for i in range(len(texts))]
    assert_same(tok(texts), hf_enc(ref, texts), rows, ("input_ids",))
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs), rows, ("input_ids",))
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == \
        (0, 1, 2, 3, 201)
    assert tok.model_max_length == 512
    for ids in ref(texts)["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)


def test_sentencepiece_albert_matches_transformers(ours, hf, rows, hf_enc):
    tok, ref = ours("spm_albert"), hf("spm_albert")
    assert type(ref).__name__ == "AlbertTokenizer"
    texts = SPM_TEXTS + ["``Quoted'' ÀCCÉNTS [MASK] here"]
    pairs = [texts[-i - 1] for i in range(len(texts))]
    # ALBERT's model takes token_type_ids; transformers 5's AlbertTokenizer returns them only when asked
    assert "token_type_ids" not in ref("a", "b") and "token_type_ids" in tok("a", "b")
    keys = ("input_ids", "token_type_ids")
    assert_same(tok(texts), hf_enc(ref, texts, return_token_type_ids=True), rows, keys)
    assert_same(tok(texts, pairs), hf_enc(ref, texts, pairs, return_token_type_ids=True), rows, keys)
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == \
        (0, 1, 2, 3, 4)
    for ids in ref(texts)["input_ids"]:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)


def test_sentencepiece_marian_matches_transformers(ours, hf, rows):
    tok, ref = ours("spm_marian"), hf("spm_marian")
    assert type(ref).__name__ == "MarianTokenizer"
    texts = SPM_TEXTS + [">>fr<< hello world"]
    assert rows(tok(texts)) == ref(texts)["input_ids"]
    assert (tok.eos_token_id, tok.unk_token_id, tok.pad_token_id) == (0, 1, 201)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_other_models_match_sentencepiece(tmp_path, model_type, rows, spm_trainer):
    """Another architecture's spiece.model (here pegasus): the model's own ids, no template."""
    import json

    import sentencepiece as spm

    from jaxnlp.tokenization import load_tokenizer

    spm_trainer(tmp_path, "spiece.model", model_type=model_type)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "pegasus"}))
    tok = load_tokenizer(tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "spiece.model"))
    # (not "hello</s>world": like transformers we match special tokens in the text, SentencePiece does not)
    texts = [t.replace("<extra_id_0>", "x").replace("</s>", " ") for t in SPM_TEXTS]
    assert rows(tok(texts)) == [sp.encode(t) for t in texts]
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (sp.unk_id(), sp.bos_id(), sp.eos_id())
