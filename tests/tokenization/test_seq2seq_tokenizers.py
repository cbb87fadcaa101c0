"""Encoder-decoder tokenizers (T5, BART, Marian, mBART, mBART-50, M2M100)
against transformers from the same directory: source ids, pair ids, target
ids (`text_target` -> labels), language codes, decode, padding and truncation.

The directories are laid out as on the hub (tokenizer_config.json,
special_tokens_map.json, config.json with model_type), from SentencePiece
models trained here on generated text: transformers builds its tokenizer from
the model, `save_pretrained` writes the configs, and each layout comes with
and (where transformers writes one) without tokenizer.json, so that both our
reader and our fallback builders are compared."""

from __future__ import annotations

import json
import random
import shutil
import warnings
from pathlib import Path

import pytest

from jaxnlp.errors import InputTooLongError
from jaxnlp.tokenization import load_tokenizer
from jaxnlp.tokenization.languages import M2M100_CODES

GPT2 = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizers" / "gpt2"

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "kari tome suna lobe, kasuto hajime!",
    "",
    "  hello   world  ",
    "café naïve über straße Ærøskøbing",
    "東京 and 中文 text, 안녕하세요",
    "numbers 3.14159 1,000,000 -42 2024-01-31",
    "punctuation: (a) [b] {c} <d> \"e\" 'f' ... ?!",
    "ﬁne ＦＵＬＬＷＩＤＴＨ ①②③ e\u0301",
    "emoji 🦙 👍🏽 ❤️",
    "a\tb\nc\r\nd",
    "don't won't I'm",
    "kasuto" * 15,
    "x",
]
TARGETS = ["Der schnelle braune Fuchs.", "tome kari", "", "zuko mebe lisa", "über alles", "東京", "42", "x" * 30,
           "ﬁn", "🦙", "a b", "n't", "rite " * 10, " "]
PAIRS = ["a second text", "", "東京 again", "ko"]


# -- building the layouts -----------------------------------------------------

def _corpus(seed: int, n_lines: int = 300) -> str:
    rng = random.Random(seed)
    syllables = "ka ri to me su na lo be de fi gu ha ji ko lu mo ne pi qu ra se ti vu wa xe yo zu an en in on un " \
                "st ch th".split()
    words = "the quick brown fox jumps over lazy dog café naïve über straße 東京 hello world 3.14 1,000 " \
            "( ) [ ] ! ? , . - don't".split()
    words += ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(250)]
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(n_lines))


def _train(path: Path, seed: int = 0, model_type: str = "unigram", **ids) -> Path:
    """A tiny SentencePiece model (vocab 200) trained on `_corpus(seed)`, written to `path`."""
    import sentencepiece as spm

    work = path.parent / f"_train_{path.name}"
    work.mkdir(parents=True)
    (work / "corpus.txt").write_text(_corpus(seed), encoding="utf-8")
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(input=str(work / "corpus.txt"), model_prefix=str(work / "m"), vocab_size=200,
                                   model_type=model_type, character_coverage=1.0, minloglevel=2, num_threads=1,
                                   **ids)
    (work / "m.model").rename(path)
    shutil.rmtree(work)
    return path


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")


def _hf_auto(directory):
    from transformers import AutoTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MarianTokenizer: "Recommended: pip install sacremoses"
        return AutoTokenizer.from_pretrained(str(directory))


def _saved(root: Path, name: str, tokenizer, files: dict, keep_json: bool) -> str:
    """`tokenizer.save_pretrained` into root/name, plus `files` (name -> Path to copy or dict to write);
    tokenizer.json removed unless `keep_json`."""
    out = root / name
    tokenizer.save_pretrained(str(out))
    for file, src in files.items():
        if isinstance(src, dict):
            _write_json(out / file, src)
        else:
            shutil.copy(src, out / file)
    if not keep_json:
        (out / "tokenizer.json").unlink(missing_ok=True)
    return str(out)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> dict[str, str]:
    import sentencepiece as spm

    root = tmp_path_factory.mktemp("seq2seq")
    out = {}

    # T5: spiece.model (pad 0, eos 1, unk 2), 10 extra ids
    src = root / "t5_src"
    src.mkdir()
    _train(src / "spiece.model", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    files = {"spiece.model": src / "spiece.model", "config.json": {"model_type": "t5", "n_positions": 512}}
    from transformers import T5Tokenizer

    t5 = T5Tokenizer.from_pretrained(str(src), extra_ids=10)
    for keep in (False, True):
        out["t5" + "_json" * keep] = _saved(root, "t5" + "_json" * keep, t5, files, keep)

    # BART: GPT-2's merges, its vocabulary renumbered as bart-base's (<s> <pad> </s> <unk> first, <mask> last)
    gpt2 = json.loads((GPT2 / "vocab.json").read_text(encoding="utf-8"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{t: i + 4 for t, i in gpt2.items()}}
    vocab["<mask>"] = len(vocab)
    bart = root / "bart"
    bart.mkdir()
    _write_json(bart / "vocab.json", vocab)
    shutil.copy(GPT2 / "merges.txt", bart / "merges.txt")
    _write_json(bart / "config.json", {"model_type": "bart", "max_position_embeddings": 1024})
    out["bart"] = str(bart)
    out["bart_json"] = _saved(root, "bart_json", _hf_auto(bart), {
        "vocab.json": bart / "vocab.json", "merges.txt": bart / "merges.txt", "config.json": bart / "config.json"},
        keep_json=True)

    # mBART / mBART-50: sentencepiece.bpe.model (SentencePiece's own ids: <unk> 0, <s> 1, </s> 2)
    src = root / "mbart_src"
    src.mkdir()
    _train(src / "sentencepiece.bpe.model", seed=1)
    from transformers import MBart50Tokenizer, MBartTokenizer

    for name, cls in (("mbart", MBartTokenizer), ("mbart50", MBart50Tokenizer)):
        hf = cls.from_pretrained(str(src), src_lang="en_XX", tgt_lang="ro_RO")
        files = {"sentencepiece.bpe.model": src / "sentencepiece.bpe.model",
                 "config.json": {"model_type": "mbart", "max_position_embeddings": 1024},
                 "special_tokens_map.json": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                             "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                                             "mask_token": "<mask>",
                                             "additional_special_tokens": list(hf.lang_code_to_id)}}
        for keep in (False, True):
            out[name + "_json" * keep] = _saved(root, name + "_json" * keep, hf, files, keep)

    # M2M100: vocab.json numbers the pieces (fairseq's dictionary: <s> <pad> </s> <unk>, then the pieces in
    # another order than the SentencePiece model's), __xx__ language tokens after it; a BPE and a unigram model
    from transformers import M2M100Tokenizer

    for name, model_type in (("m2m100", "bpe"), ("m2m100_unigram", "unigram")):
        src = root / f"{name}_src"
        src.mkdir()
        model = _train(src / "sentencepiece.bpe.model", seed=2, model_type=model_type)
        sp = spm.SentencePieceProcessor(model_file=str(model))
        pieces = [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())]
        random.Random(3).shuffle(pieces)
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{p: i + 4 for i, p in enumerate(pieces)}}
        _write_json(src / "vocab.json", vocab)
        hf = M2M100Tokenizer(vocab_file=str(src / "vocab.json"), spm_file=str(model), src_lang="en", tgt_lang="fr",
                             model_max_length=1024)
        out[name] = _saved(root, name, hf, {
            "config.json": {"model_type": "m2m_100", "max_position_embeddings": 1024},
            "special_tokens_map.json": {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                                        "unk_token": "<unk>", "pad_token": "<pad>",
                                        "additional_special_tokens": [f"__{c}__" for c in M2M100_CODES["m2m100"]]}},
            keep_json=False)
        # tokenizer_config.json as the hub's (transformers 4 wrote it): the language tokens are special
        # tokens of special_tokens_map.json only
        config = json.loads((root / name / "tokenizer_config.json").read_text(encoding="utf-8"))
        for key in ("added_tokens_decoder", "extra_special_tokens", "backend"):
            config.pop(key, None)
        _write_json(root / name / "tokenizer_config.json", config)

    # Marian: source.spm and target.spm trained on different text, one vocab.json over both
    # (</s> 0, <unk> 1, then the pieces, >>xx<< codes, <pad> last), or a target_vocab.json of its own
    from transformers import MarianTokenizer

    src = root / "marian_src"
    src.mkdir()
    models = [_train(src / f"{side}.spm", seed=seed, eos_id=0, unk_id=1, bos_id=-1, pad_id=-1)
              for side, seed in (("source", 4), ("target", 5))]
    sides = [spm.SentencePieceProcessor(model_file=str(m)) for m in models]
    shared, per_side = {}, [{}, {}]
    for sp, own in zip(sides, per_side):
        for piece in [sp.id_to_piece(i) for i in range(sp.get_piece_size())] + [">>fr<<", ">>de<<", "<pad>"]:
            shared.setdefault(piece, len(shared))
            own.setdefault(piece, len(own))
    _write_json(src / "vocab.json", shared)
    _write_json(src / "source_vocab.json", per_side[0])
    _write_json(src / "target_vocab.json", per_side[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        marian = MarianTokenizer(source_spm=str(models[0]), target_spm=str(models[1]), vocab=str(src / "vocab.json"),
                                 source_lang="en", target_lang="de")
        separate = MarianTokenizer(source_spm=str(models[0]), target_spm=str(models[1]),
                                   vocab=str(src / "source_vocab.json"), separate_vocabs=True,
                                   target_vocab_file=str(src / "target_vocab.json"), source_lang="en",
                                   target_lang="de")
    config = {"model_type": "marian", "max_position_embeddings": 512, "pad_token_id": shared["<pad>"]}
    out["marian"] = _saved(root, "marian", marian, {"config.json": config}, keep_json=False)
    out["marian_separate"] = _saved(root, "marian_separate", separate, {"config.json": config}, keep_json=False)
    return out


_OURS: dict = {}
_HF: dict = {}


@pytest.fixture(scope="module")
def ours(dirs):
    def get(name):
        if name not in _OURS:
            _OURS[name] = load_tokenizer(dirs[name])
        return _OURS[name]

    return get


@pytest.fixture(scope="module")
def hf(dirs):
    def get(name):
        if name not in _HF:
            _HF[name] = _hf_auto(dirs[name])
        return _HF[name]

    return get


def rows(enc, key="input_ids"):
    return [row[mask == 1].tolist() for row, mask in zip(enc[key], enc["attention_mask"])]


def label_rows(enc, pad_id):
    """The labels of a batch, padding removed (their pad id never occurs in a row)."""
    return [[i for i in row.tolist() if i != pad_id] for row in enc["labels"]]


def test_layouts_are_the_hub_files(dirs):
    names = {k: sorted(p.name for p in Path(v).iterdir()) for k, v in dirs.items()}
    assert names["t5"] == ["config.json", "spiece.model", "tokenizer_config.json"]
    assert "tokenizer.json" in names["t5_json"] and "tokenizer.json" in names["mbart_json"]
    assert names["mbart"] == ["config.json", "sentencepiece.bpe.model", "special_tokens_map.json",
                              "tokenizer_config.json"]
    assert names["m2m100"] == ["config.json", "sentencepiece.bpe.model", "special_tokens_map.json",
                               "tokenizer_config.json", "vocab.json"]
    assert names["marian"] == ["config.json", "source.spm", "target.spm", "tokenizer_config.json", "vocab.json"]
    assert "target_vocab.json" in names["marian_separate"]


ALL = ["t5", "t5_json", "bart", "bart_json", "mbart", "mbart_json", "mbart50", "mbart50_json", "m2m100",
       "m2m100_unigram", "marian", "marian_separate"]
FAST = {"t5", "t5_json", "bart", "bart_json", "mbart", "mbart_json", "mbart50", "mbart50_json"}  # offsets in HF
MULTILINGUAL = ["mbart", "mbart_json", "mbart50", "mbart50_json", "m2m100"]


@pytest.mark.parametrize("name", ALL)
def test_source_ids_match_transformers(name, ours, hf, unicode_texts):
    tok, ref = ours(name), hf(name)
    texts = TEXTS + unicode_texts
    pairs = [PAIRS[i % len(PAIRS)] for i in range(len(texts))]
    enc, expected = tok(texts), ref(texts, return_offsets_mapping=name in FAST)
    assert rows(enc) == expected["input_ids"]
    assert rows(tok(texts, pairs)) == ref(texts, pairs)["input_ids"]
    assert [tok.encode(t) for t in texts[:5]] == expected["input_ids"][:5]
    if name in FAST:
        assert rows(enc, "offset_mapping") == [[list(o) for o in row] for row in expected["offset_mapping"]]
    assert "token_type_ids" not in enc and "labels" not in enc
    assert tok.vocab_size == len(ref)
    for role in ("eos", "pad", "unk", "bos", "mask", "cls", "sep"):
        assert getattr(tok, f"{role}_token_id") == getattr(ref, f"{role}_token_id"), role


@pytest.mark.parametrize("name", ALL)
def test_target_ids_match_transformers(name, ours, hf):
    """text_target gives transformers' labels: Marian segments them with target.spm (numbered by
    target_vocab.json when the vocabularies are separate), mBART and M2M100 mark them with tgt_lang."""
    tok, ref = ours(name), hf(name)
    enc, expected = tok(TEXTS, text_target=TARGETS), ref(TEXTS, text_target=TARGETS)
    assert rows(enc) == expected["input_ids"]
    assert label_rows(enc, tok._target_pad_id) == expected["labels"]
    alone = tok(text_target=TARGETS)  # target texts only: they come back as input_ids, like transformers'
    assert rows(alone) == ref(text_target=TARGETS)["input_ids"] == expected["labels"]
    assert [tok.encode(t, target=True) for t in TARGETS] == expected["labels"]


@pytest.mark.parametrize("name", ALL)
def test_decode_matches_transformers(name, ours, hf, unicode_texts):
    tok, ref = ours(name), hf(name)
    texts = TEXTS + unicode_texts
    labels = ref(texts, text_target=texts)["labels"]
    inputs = ref(texts)["input_ids"] if name != "marian_separate" else []  # (source ids are not target ids there)
    for ids in labels + inputs:
        assert tok.decode(ids) == ref.decode(ids, skip_special_tokens=True)
    # (MarianTokenizer decodes a shared vocabulary's target ids with source.spm, which keeps the "▁" of a piece it
    # lacks after a special token: "<unk>  1,000" where we give "<unk> 1,000")
    for ids in inputs if name == "marian" else labels + inputs:
        assert tok.decode(ids, skip_special_tokens=False) == ref.decode(ids)
    assert tok.batch_decode(labels[:4]) == ref.batch_decode(labels[:4], skip_special_tokens=True)


def test_marian_target_side_is_its_own(ours, hf):
    """The two SentencePiece models segment differently: labels are not the source ids."""
    for name in ("marian", "marian_separate"):
        tok = ours(name)
        assert sum(tok.encode(t) != tok.encode(t, target=True) for t in TEXTS + TARGETS) >= 5
    tok, ref = ours("marian_separate"), hf("marian_separate")
    labels = ref(text_target=TARGETS)["input_ids"]
    assert [tok.convert_ids_to_tokens(ids) for ids in labels] == [ref.convert_ids_to_tokens(ids) for ids in labels]


EMPTY = {  # what "" becomes: the special tokens only (source, target)
    "t5": (["</s>"], ["</s>"]),
    "bart": (["<s>", "</s>"], ["<s>", "</s>"]),
    "mbart": (["</s>", "en_XX"], ["</s>", "ro_RO"]),
    "mbart50": (["en_XX", "</s>"], ["ro_RO", "</s>"]),
    "m2m100": (["__en__", "</s>"], ["__fr__", "</s>"]),
    "marian": (["</s>"], ["</s>"]),
}


@pytest.mark.parametrize("name", ALL)
def test_empty_string_gives_only_special_tokens(name, ours):
    tok = ours(name)
    source, target = EMPTY[name.removesuffix("_json").removesuffix("_unigram").removesuffix("_separate")]
    enc = tok(["", "a"], text_target=["", "b"], padding=False)
    assert tok.convert_ids_to_tokens(rows(enc)[0]) == source
    assert tok.convert_ids_to_tokens(label_rows(enc, tok._target_pad_id)[0]) == target
    assert tok.encode("") == rows(tok(""))[0] and tok.decode(tok.encode("")) == ""
    assert rows(tok(text_target=""))[0] == tok.encode("", target=True) == label_rows(enc, tok._target_pad_id)[0]


@pytest.mark.parametrize("name", MULTILINGUAL)
def test_languages_match_transformers(name, dirs, ours):
    """src_lang / tgt_lang per call, as attributes, or at load time: the ids of transformers'
    tokenizer with the same languages; get_lang_id gives the forced_bos_token_id."""
    tok, ref = ours(name), _hf_auto(dirs[name])  # (a tokenizer of its own: its languages are changed)
    assert tok.lang_code_to_id == ref.lang_code_to_id
    m2m = name.startswith("m2m")
    langs = [("ro", "de"), ("zh", "en")] if m2m else [("ro_RO", "de_DE"), ("zh_CN", "en_XX")]
    for src, tgt in langs:
        ref.src_lang, ref.tgt_lang = src, tgt
        expected = ref(TEXTS, text_target=TARGETS)
        enc = tok(TEXTS, text_target=TARGETS, src_lang=src, tgt_lang=tgt)
        assert rows(enc) == expected["input_ids"]
        assert label_rows(enc, tok.pad_token_id) == expected["labels"]
        assert tok.get_lang_id(tgt) == (ref.get_lang_id(tgt) if m2m else ref.convert_tokens_to_ids(tgt))
        loaded = load_tokenizer(dirs[name], src_lang=src, tgt_lang=tgt)
        assert (loaded.src_lang, loaded.tgt_lang) == (src, tgt)
        assert rows(loaded(TEXTS, text_target=TARGETS)) == expected["input_ids"]
        set_later = load_tokenizer(dirs[name])
        set_later.src_lang, set_later.tgt_lang = src, tgt
        assert label_rows(set_later(TEXTS, text_target=TARGETS), tok.pad_token_id) == expected["labels"]
        assert set_later.backend.encode("kari").ids == tok.encode("kari", src_lang=src)  # the default template
    # per-call languages leave the tokenizer's own alone
    assert (tok.src_lang, tok.tgt_lang) == (("en", "fr") if m2m else ("en_XX", "ro_RO"))
    assert tok.get_lang_token("fr" if m2m else "fr_XX") == ("__fr__" if m2m else "fr_XX")
    if m2m:  # the token stands for its code too
        assert tok.get_lang_id("__fr__") == tok.get_lang_id("fr") == tok.convert_tokens_to_ids("__fr__")


@pytest.mark.parametrize("name", ["mbart", "mbart50", "m2m100"])
def test_unknown_language_code_is_an_error(name, dirs, ours):
    tok = ours(name)
    known = "ar_AR" if name.startswith("mbart") else "af"
    for bad, call in [("xx_YY", lambda: tok("a", src_lang="xx_YY")),
                      ("zz", lambda: tok("a", text_target="b", tgt_lang="zz")),
                      ("klingon", lambda: tok.get_lang_id("klingon")),
                      ("EN", lambda: tok.encode("a", src_lang="EN")),
                      ("qq", lambda: load_tokenizer(dirs[name], src_lang="qq"))]:
        with pytest.raises(ValueError, match=rf"unknown .*'{bad}'.*\b{known}\b") as info:
            call()
        assert "in all)" in str(info.value)  # a few are listed, and how many there are
    fresh = load_tokenizer(dirs[name])
    wrong = "de" if name.startswith("mbart") else "de_DE"  # the other family's code
    with pytest.raises(ValueError, match=f"unknown source language code '{wrong}'"):
        fresh.src_lang = wrong
    with pytest.raises(ValueError, match="unknown target language code"):
        fresh.tgt_lang = "nope"
    assert fresh.src_lang == ("en_XX" if name.startswith("mbart") else "en")  # unchanged


def test_target_language_defaults(dirs, ours):
    """Without tgt_lang, mBART marks target texts with the source language (as transformers
    does); M2M100 has no default, so text_target is an error that says what to pass."""
    mbart = load_tokenizer(dirs["mbart"], src_lang="de_DE")
    mbart.tgt_lang = None
    labels = mbart("a", text_target="b", padding=False)["labels"][0].tolist()
    assert labels[-1] == mbart.get_lang_id("de_DE") == mbart.lang_code_to_id["de_DE"]
    m2m = load_tokenizer(dirs["m2m100"])
    m2m.tgt_lang = None
    assert m2m("a")["input_ids"][0, 0] == m2m.get_lang_id("en")  # the source side needs none
    with pytest.raises(ValueError, match="needs a target language: pass tgt_lang"):
        m2m("a", text_target="b")
    assert m2m("a", text_target="b", tgt_lang="ja", padding=False)["labels"][0, 0] == m2m.get_lang_id("ja")


@pytest.mark.parametrize("name", ["t5", "bart", "marian"])
def test_languages_only_for_multilingual_tokenizers(name, ours, dirs):
    tok = ours(name)
    assert tok.lang_code_to_id == {} and tok.src_lang is None and tok.tgt_lang is None
    for call in (lambda: tok("a", src_lang="en"), lambda: tok.get_lang_id("en"),
                 lambda: load_tokenizer(dirs[name], tgt_lang="de")):
        with pytest.raises(ValueError, match="no language codes"):
            call()


@pytest.mark.parametrize("name", ["t5", "mbart", "mbart50_json", "m2m100", "marian"])
def test_padding_and_truncation_match_transformers(name, ours, hf):
    tok, ref = ours(name), hf(name)
    pad = tok._target_pad_id
    expected = ref(TEXTS, text_target=TARGETS, max_length=7, truncation=True, padding="max_length")
    enc = tok(TEXTS, text_target=TARGETS, max_length=7, truncation=True, padding="max_length")
    assert enc["input_ids"].tolist() == expected["input_ids"]
    assert enc["attention_mask"].tolist() == expected["attention_mask"]
    assert enc["labels"].tolist() == expected["labels"]  # padded with the pad id, as transformers pads them
    # buckets: rows as transformers' padded to the longest, labels to a bucket of their own
    expected = ref(TEXTS, text_target=TARGETS, padding="longest")
    enc = tok(TEXTS, text_target=TARGETS)
    assert rows(enc) == [[i for i, m in zip(r, k) if m] for r, k in zip(expected["input_ids"],
                                                                         expected["attention_mask"])]
    width = len(expected["labels"][0])
    assert enc["labels"].shape[1] >= width and (enc["labels"][:, width:] == pad).all()
    assert enc["labels"][:, :width].tolist() == expected["labels"]
    # left padding and truncation; truncation off is an error naming the target text
    with pytest.raises(InputTooLongError, match=r"text_target\[0\] is \d+ tokens long, over the limit of 7"):
        tok(["a"] * 14, text_target=TARGETS, max_length=7, truncation=False)
    with pytest.raises(InputTooLongError, match=r"texts\[0\]"):
        tok(TEXTS, text_target=TARGETS, max_length=7, truncation=False)


def test_text_target_input_errors(ours):
    tok = ours("t5")
    with pytest.raises(ValueError, match="text_target has 1 items but texts has 2"):
        tok(["a", "b"], text_target=["c"])
    with pytest.raises(TypeError, match=r"text_target\[1\] is int"):
        tok(["a", "b"], text_target=["c", 3])
    with pytest.raises(ValueError, match="no text_target"):
        tok(text_target=[])
    with pytest.raises(ValueError, match="text_pair needs texts"):
        tok(text_pair="b", text_target="c")
    with pytest.raises(TypeError, match="texts must be a str"):
        tok()
    texts, targets = ["a b", "c"], ["d", "e f"]
    tok(texts, text_target=targets)
    assert (texts, targets) == (["a b", "c"], ["d", "e f"])


def test_languages_are_safe_across_threads(ours):
    """Calls with different languages at once each get their own language."""
    from concurrent.futures import ThreadPoolExecutor

    tok = ours("mbart50")
    langs = ["ro_RO", "de_DE", "ja_XX", "fr_XX"] * 10

    def first_ids(lang):
        return tok(TEXTS, src_lang=lang)["input_ids"][:, 0].tolist()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(first_ids, langs))
    assert all(ids == [tok.get_lang_id(lang)] * len(TEXTS) for lang, ids in zip(langs, results))
    assert tok.backend.encode("a").ids[0] == tok.get_lang_id("en_XX")  # the backend keeps the source default


def test_t5_extra_ids_and_lengths(ours, hf):
    for name in ("t5", "t5_json"):
        tok, ref = ours(name), hf(name)
        extra = [f"<extra_id_{i}>" for i in range(10)]
        assert tok.convert_tokens_to_ids(extra) == ref.convert_tokens_to_ids(extra) == list(range(209, 199, -1))
        text = "kari <extra_id_0> tome <extra_id_9>."
        assert tok.encode(text) == ref(text)["input_ids"]
        assert tok.model_max_length == 512  # config.json's n_positions (tokenizer_config.json says 1e30)


def test_mbart_tokenizer_json_of_transformers_4_reads_as_transformers_5(dirs, tmp_path, unicode_texts):
    """A tokenizer.json that transformers 4 wrote for mBART has SentencePiece's NFKC charsmap and a bare
    Metaspace; transformers 5's MBartTokenizer drops the one and splits on whitespace first, and so do we."""
    import base64

    from sentencepiece import sentencepiece_model_pb2

    directory = tmp_path / "mbart_v4"
    shutil.copytree(dirs["mbart_json"], directory)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((directory / "sentencepiece.bpe.model").read_bytes())
    state = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode()
    state["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": charsmap}
    state["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    _write_json(directory / "tokenizer.json", state)
    tok, ref = load_tokenizer(directory), _hf_auto(directory)
    texts = TEXTS + unicode_texts
    assert rows(tok(texts)) == ref(texts)["input_ids"]
    # without NFKC the ligature ﬁ is unknown; MBart50Tokenizer keeps the charsmap, and reads it as "fi"
    assert tok.unk_token_id in tok.encode("ﬁne", add_special_tokens=False)
    assert tok.unk_token_id not in load_tokenizer(dirs["mbart50_json"]).encode("ﬁne", add_special_tokens=False)


def test_without_special_tokens_no_language_either(ours, hf):
    for name in ("mbart", "mbart50", "m2m100"):
        tok, ref = ours(name), hf(name)
        assert tok.encode("kari tome", add_special_tokens=False) == ref("kari tome", add_special_tokens=False)[
            "input_ids"]
        assert rows(tok(["kari"], text_target=["tome"], add_special_tokens=False))[0] == tok.encode(
            "kari", add_special_tokens=False)
