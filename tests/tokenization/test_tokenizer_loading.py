"""load_tokenizer: where files come from, what the config files decide
(special tokens, length limit, token_type_ids), and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import jaxnlp
from jaxnlp.tokenization import Tokenizer, load_tokenizer


@pytest.fixture(scope="module")
def bert_files(layouts):
    model = Path(layouts["minilm"])
    return {"vocab.txt": model / "vocab.txt", "tokenizer.json": model / "tokenizer.json"}


@pytest.fixture(scope="module")
def gpt2_files(layouts):
    gpt2 = Path(layouts["gpt2"])
    return {"vocab.json": gpt2 / "vocab.json", "merges.txt": gpt2 / "merges.txt"}


def test_package_entry_point(layouts):
    tok = jaxnlp.load_tokenizer(layouts["minilm"])
    assert isinstance(tok, Tokenizer)
    assert "Tokenizer(WordPiece" in repr(tok)


@pytest.mark.parametrize("model_type,expected", [
    ("bert", True), ("electra", True), ("albert", True), ("mobilebert", True),
    ("distilbert", False), ("roberta", False), (None, True),  # None: a WordPiece template has them
])
def test_token_type_ids_follow_model_type(tmp_path, mkdir, bert_files, model_type, expected):
    files = {"vocab.txt": bert_files["vocab.txt"]}
    if model_type:
        files["config.json"] = {"model_type": model_type}
    tok = load_tokenizer(mkdir(tmp_path / "d", files))
    assert ("token_type_ids" in tok("a", "b")) is expected
    assert ("token_type_ids" in tok.model_input_names) is expected


def test_distilbert_has_no_token_type_ids(tmp_path, mkdir, bert_files):
    # DistilBERT's model takes no token_type_ids: DistilBertTokenizer.model_input_names leaves them out
    # (transformers 5's AutoTokenizer maps model_type distilbert to BertTokenizer, which returns them)
    from transformers.models.distilbert.tokenization_distilbert import DistilBertTokenizer

    d = mkdir(tmp_path / "distil", {"vocab.txt": bert_files["vocab.txt"],
                                     "config.json": {"model_type": "distilbert", "max_position_embeddings": 512}})
    tok = load_tokenizer(d)
    assert tok.model_input_names == DistilBertTokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert list(tok("a", "b")) == ["input_ids", "attention_mask", "offset_mapping"]
    assert tok.model_max_length == 512


def test_token_type_ids_without_config(tmp_path, mkdir, bert_files, gpt2_files):
    # tokenizer_config.json's model_input_names decides when there is no config.json
    d = mkdir(tmp_path / "a", {"vocab.txt": bert_files["vocab.txt"],
                                "tokenizer_config.json": {"model_input_names": ["input_ids", "attention_mask"]}})
    assert "token_type_ids" not in load_tokenizer(d)("x")
    d = mkdir(tmp_path / "b", {**gpt2_files, "tokenizer_config.json": {
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"]}})
    assert "token_type_ids" in load_tokenizer(d)("x")
    # else the tokenizer.json template: BERT's gives B type id 1, T5's has none
    d = mkdir(tmp_path / "c", {"tokenizer.json": bert_files["tokenizer.json"]})
    assert "token_type_ids" in load_tokenizer(d)("x")


def test_tokenizer_class_stands_in_for_config_json(tmp_path, mkdir, layouts, bert_files):
    from transformers import AutoTokenizer

    # no config.json: tokenizer_config.json's tokenizer_class picks the RoBERTa template
    roberta = Path(layouts["roberta"])
    d = mkdir(tmp_path / "rob", {"vocab.json": roberta / "vocab.json", "merges.txt": roberta / "merges.txt",
                                  "tokenizer_config.json": {"tokenizer_class": "RobertaTokenizerFast"}})
    tok, ref = load_tokenizer(d), AutoTokenizer.from_pretrained(d)
    assert tok.encode("Hello world", "pair") == ref("Hello world", "pair")["input_ids"] == \
        [0, 15496 + 4, 995 + 4, 2, 2, 24874 + 4, 2]
    assert "token_type_ids" not in tok("x")
    d = mkdir(tmp_path / "distil", {"vocab.txt": bert_files["vocab.txt"],
                                     "tokenizer_config.json": {"tokenizer_class": "DistilBertTokenizer"}})
    assert "token_type_ids" not in load_tokenizer(d)("x")


@pytest.mark.parametrize("tok_config,config,expected", [
    ({"model_max_length": 256}, {"model_type": "bert", "max_position_embeddings": 512}, 256),
    ({"model_max_length": 1e30}, {"model_type": "bert", "max_position_embeddings": 512}, 512),
    ({}, {"model_type": "roberta", "max_position_embeddings": 514}, 512),
    ({}, {"model_type": "xlm-roberta", "max_position_embeddings": 514}, 512),
    ({}, {"model_type": "gpt2", "n_positions": 1024}, 1024),
    ({"model_max_length": 1e30}, {}, None),
    ({}, {"model_type": "t5"}, None),
])
def test_model_max_length(tmp_path, mkdir, bert_files, tok_config, config, expected):
    d = mkdir(tmp_path / "d", {"vocab.txt": bert_files["vocab.txt"], "tokenizer_config.json": tok_config,
                                "config.json": config})
    assert load_tokenizer(d).model_max_length == expected


def test_special_tokens_map_and_config(tmp_path, mkdir, gpt2_files):
    from transformers import AutoTokenizer

    # special_tokens_map.json alone names the tokens; one outside the vocabulary gets a new id
    d = mkdir(tmp_path / "a", {**gpt2_files, "special_tokens_map.json": {
        "eos_token": "<|endoftext|>", "pad_token": {"content": "<pad>", "lstrip": False, "normalized": False}},
        "tokenizer_config.json": {"tokenizer_class": "GPT2Tokenizer"}})
    tok, ref = load_tokenizer(d), AutoTokenizer.from_pretrained(d)
    assert (tok.pad_token, tok.pad_token_id, tok.vocab_size) == ("<pad>", 50257, 50258)
    assert (ref.pad_token, ref.pad_token_id, len(ref)) == ("<pad>", 50257, 50258)
    text = "padded <pad> text<|endoftext|>"
    assert tok.encode(text) == ref(text)["input_ids"]
    assert tok(["a", "longer text"])["input_ids"][0, 1:].tolist() == [50257] * 7
    # tokenizer_config.json's added_tokens_decoder adds tokens with their ids and flags
    d = mkdir(tmp_path / "b", {**gpt2_files, "tokenizer_config.json": {
        "tokenizer_class": "GPT2Tokenizer", "pad_token": "<|pad|>",
        "added_tokens_decoder": {
            "50256": {"content": "<|endoftext|>", "special": True, "normalized": False, "lstrip": False,
                      "rstrip": False, "single_word": False},
            "50257": {"content": "<|pad|>", "special": True, "normalized": False, "lstrip": False,
                      "rstrip": False, "single_word": False},
            "50258": {"content": "<|user|>", "special": False, "normalized": False, "lstrip": True,
                      "rstrip": False, "single_word": False}}}})
    tok, ref = load_tokenizer(d), AutoTokenizer.from_pretrained(d)
    assert (tok.pad_token_id, tok.vocab_size) == (50257, 50259)
    text = "hi <|user|> there<|pad|>"
    assert tok.encode(text) == ref(text)["input_ids"]
    ids = tok.encode(text)
    assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)


def test_hub_id_goes_through_snapshot_download(monkeypatch, layouts):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):
        calls.append((repo_id, revision, allow_patterns))
        return layouts["gpt2"]

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    tok = load_tokenizer("openai-community/gpt2", revision="abc123")
    assert tok.encode("Hello world") == [15496, 995]
    (repo_id, revision, patterns), = calls
    assert (repo_id, revision) == ("openai-community/gpt2", "abc123")
    assert {"*.json", "*.txt", "*.model"} <= set(patterns)
    assert not any(p.endswith((".bin", ".safetensors", ".msgpack", ".h5")) for p in patterns)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_tokenizer(str(tmp_path / "missing" / "dir"))
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_tokenizer("./not-here")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no tokenizer files in .*tokenizer.json, vocab.txt"):
        load_tokenizer(empty)
    with pytest.raises(NotADirectoryError):
        load_tokenizer(empty / "config.json")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    (bad / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer_config.json is not valid JSON"):
        load_tokenizer(bad)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "NoSuchModel"}}')
    with pytest.raises(ValueError, match="cannot read .*tokenizer.json"):
        load_tokenizer(broken)


def test_tiny_wordpiece_vocab_without_configs(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n", encoding="utf-8")
    tok = load_tokenizer(d)
    assert tok.encode("Hello worlds, zzz") == [2, 5, 6, 7, 1, 1, 3]
    assert tok.decode([2, 5, 6, 7, 3]) == "hello worlds"
    assert tok.model_max_length is None and tok.vocab_size == 8


def test_t5_attributes_from_tokenizer_json(ours):
    tok = ours("t5_json_only")
    assert (tok.eos_token, tok.pad_token, tok.unk_token) == ("</s>", "<pad>", "<unk>")
    assert tok.cls_token is None and tok.bos_token is None and tok.mask_token is None
    assert tok.vocab_size == 32100
