"""Building a `tokenizers.Tokenizer` from vocabulary files when a checkpoint
ships no tokenizer.json: WordPiece (vocab.txt), byte-level BPE (vocab.json +
merges.txt) and SentencePiece models (spiece.model, sentencepiece.bpe.model,
source.spm / target.spm). Each builder mirrors the transformers 5 tokenizer
class for that layout (T5, XLM-R, ALBERT, mBART, mBART-50, M2M100, Marian), so
ids match transformers'.

Every builder returns `(backend, default_special_tokens, template)`: the
template (`None`: no special tokens added) is set once the special tokens'
ids are known, by `set_template`.
"""

from __future__ import annotations

import base64
import json
import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram, WordPiece

from jaxnlp.tokenization import languages

BERT_SPECIALS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                 "mask_token": "[MASK]"}
ROBERTA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
T5_SPECIALS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
ALBERT_SPECIALS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                   "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}

# model types whose byte-level BPE tokenizer wraps a text as <s> A </s> (</s></s> B </s> for pairs)
ROBERTA_STYLE = {"roberta", "bart", "xlm-roberta", "longformer", "led", "mvp", "roberta-prelayernorm",
                 "data2vec-text", "camembert", "ibert", "xlm-roberta-xl"}
T5_STYLE = {"t5", "mt5", "umt5", "longt5", "switch_transformers"}

# Templates, in terms of special-token roles: "cls:0 $A:0 sep:0" etc.
TEMPLATES = {
    "bert": ("cls:0 $A:0 sep:0", "cls:0 $A:0 sep:0 $B:1 sep:1"),
    "roberta": ("cls $A sep", "cls $A sep sep $B sep"),
    "eos": ("$A eos", "$A eos $B eos"),
    "marian": ("$A eos", "$A $B eos"),  # MarianTokenizer: no eos between the texts of a pair
}


def set_template(backend: Tokenizer, template: str | None, specials: dict[str, str | None],
                 config: dict) -> None:
    """Give `backend` the post-processor named by `template` (a TEMPLATES key,
    or "roberta-byte-level"), with the ids of `specials` (already added)."""
    if template is None:
        return
    if template == "roberta-byte-level":
        # RobertaTokenizer: <s> A </s>, and offsets trimmed of the spaces byte-level BPE keeps
        sep, cls = (_special_id(backend, specials, role) for role in ("sep", "cls"))
        backend.post_processor = processors.RobertaProcessing(
            sep, cls, trim_offsets=bool(config.get("trim_offsets", True)),
            add_prefix_space=bool(config.get("add_prefix_space", False)))
        return
    single, pair = TEMPLATES[template]
    used = {}

    def resolve(spec: str) -> list[str]:
        items = []
        for item in spec.split():
            role, _, type_id = item.partition(":")
            if not role.startswith("$"):
                token, token_id = _special_id(backend, specials, role)
                used[token] = token_id
                role = token
            items.append(f"{role}:{type_id}" if type_id else role)
        return items

    single, pair = resolve(single), resolve(pair)
    backend.post_processor = processors.TemplateProcessing(single=single, pair=pair,
                                                           special_tokens=list(used.items()))


def wordpiece(directory: str, config: dict, model_type: str | None):
    """vocab.txt -> BERT's WordPiece tokenizer (transformers' BertTokenizer)."""
    vocab = {}
    with open(os.path.join(directory, "vocab.txt"), encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index
    unk = _content(config.get("unk_token")) or "[UNK]"
    backend = Tokenizer(WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"),
        lowercase=config.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend, dict(BERT_SPECIALS), "bert"


def byte_level_bpe(directory: str, config: dict, model_type: str | None):
    """vocab.json + merges.txt -> byte-level BPE (GPT2Tokenizer, or
    RobertaTokenizer's <s> A </s> template for RoBERTa-style models)."""
    vocab, merges = BPE.read_file(os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt"))
    backend = Tokenizer(BPE(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    add_prefix_space = bool(config.get("add_prefix_space", False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    if model_type in ROBERTA_STYLE:
        return backend, dict(ROBERTA_SPECIALS), "roberta-byte-level"
    eot = "<|endoftext|>" if "<|endoftext|>" in vocab else None
    return backend, {"unk_token": eot, "bos_token": eot, "eos_token": eot}, None


SENTENCEPIECE_FILES = ("spiece.model", "sentencepiece.bpe.model", "source.spm")
FAIRSEQ_SPECIALS = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
M2M100_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>",
                   "pad_token": "<pad>"}
MBART_KINDS = {"mbart": languages.MBART_CODES, "mbart50": languages.MBART50_CODES}


def sentencepiece_layout(directory: str, model_type: str | None) -> tuple[str, str]:
    """`(file, layout)`: the SentencePiece model file of a directory and how
    the tokenizer is laid out around it: "marian" (source.spm + vocab.json),
    "m2m_100" (sentencepiece.bpe.model + vocab.json), "mbart" / "mbart50",
    "xlm-roberta" (fairseq numbering), "t5", "albert" or "plain"."""
    name = next(n for n in SENTENCEPIECE_FILES if os.path.isfile(os.path.join(directory, n)))
    has_vocab = os.path.isfile(os.path.join(directory, "vocab.json"))
    if name == "source.spm" and has_vocab:
        return name, "marian"
    if model_type in MBART_KINDS:
        return name, model_type
    if model_type in ("xlm-roberta", "xlm-roberta-xl"):
        return name, "xlm-roberta"
    if name == "sentencepiece.bpe.model":
        return name, "m2m_100" if model_type == "m2m_100" or has_vocab else "xlm-roberta"
    if model_type in T5_STYLE or (model_type is None and name == "spiece.model"):
        return name, "t5"
    return name, "albert" if model_type == "albert" else "plain"


def sentencepiece(directory: str, config: dict, model_type: str | None, *, target: bool = False):
    """A SentencePiece model -> Unigram (or BPE) tokenizer with a Metaspace
    pre-tokenizer, laid out (`sentencepiece_layout`) like transformers: T5
    (`A </s>`, extra ids), XLM-R (fairseq ids, `<s> A </s>`), mBART /
    mBART-50 (fairseq ids, language codes before `<mask>`), M2M100
    (SentencePiece segments, vocab.json numbers, `__xx__` language tokens after
    the vocabulary), Marian (the same with source.spm, or target.spm when
    `target`), ALBERT (`[CLS] A [SEP]`), else the model's own pieces and no
    template. The language templates of mBART and M2M100 are the Tokenizer's
    (they follow src_lang / tgt_lang)."""
    name, layout = sentencepiece_layout(directory, model_type)
    vocab_json = os.path.join(directory, "vocab.json")
    if layout == "marian" and target and os.path.isfile(os.path.join(directory, "target.spm")):
        name = "target.spm"
    proto = _read_spm(os.path.join(directory, name))
    pieces = [(p.piece, p.score) for p in proto.pieces]
    spec = proto.trainer_spec
    unk_id, template, extra, model = spec.unk_id, None, [], None
    # control pieces are special tokens, user-defined ones are added (never split) tokens
    added = [AddedToken(p.piece, special=p.type == 3, normalized=False) for p in proto.pieces if p.type in (3, 4)]
    specials = {"unk_token": spec.unk_piece or "<unk>"}
    if spec.bos_id >= 0:
        specials["bos_token"] = spec.bos_piece or "<s>"
    if spec.eos_id >= 0:
        specials["eos_token"] = spec.eos_piece or "</s>"
    if spec.pad_id >= 0:
        specials["pad_token"] = spec.pad_piece or "<pad>"
    normalizer = normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap) \
        if proto.normalizer_spec.precompiled_charsmap else None

    if layout == "marian":
        # Marian: SentencePiece segments, vocab.json (or target_vocab.json) numbers the pieces
        ids_file = vocab_json
        if target and config.get("separate_vocabs") and os.path.isfile(os.path.join(directory, "target_vocab.json")):
            ids_file = os.path.join(directory, "target_vocab.json")
        ids = _read_vocab(ids_file)
        specials = dict(T5_SPECIALS)
        model = _numbered_spm_model(proto, ids, _content(config.get("unk_token")) or specials["unk_token"], ids_file)
        added = [AddedToken(p, special=False, normalized=False) for p in ids if p.startswith(">>") and p.endswith("<<")]
        template = "marian"
    elif layout == "m2m_100":
        # M2M100: SentencePiece segments, vocab.json (fairseq's dictionary) numbers the pieces,
        # then one token per language (__en__) follows the vocabulary
        ids = _read_vocab(vocab_json)
        specials = dict(M2M100_SPECIALS)
        model = _numbered_spm_model(proto, ids, _content(config.get("unk_token")) or "<unk>", vocab_json)
        codes = languages.language_codes("m2m_100", config)
        added = [AddedToken(t, special=True, normalized=False) for t in codes.tokens.values()]
    elif layout in MBART_KINDS:
        # mBART: fairseq numbering, the language codes after the pieces, <mask> last
        codes = MBART_KINDS[layout]
        pieces = FAIRSEQ_SPECIALS + pieces[3:] + [(c, 0.0) for c in codes] + [("<mask>", 0.0)]
        unk_id, specials, template = 3, dict(ROBERTA_SPECIALS), None
        added = [AddedToken(c, special=True, normalized=False) for c in codes]
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
        model = Unigram(pieces, unk_id, False)
    elif layout == "xlm-roberta":
        # fairseq numbering: <s> <pad> </s> <unk>, the pieces from id 3 on (shifted by one), <mask> last
        pieces = FAIRSEQ_SPECIALS + pieces[3:] + [("<mask>", 0.0)]
        unk_id, specials, added, template = 3, dict(ROBERTA_SPECIALS), [], "roberta"
    elif layout == "t5":
        n_extra = int(config.get("extra_ids", 100))
        extra = [f"<extra_id_{i}>" for i in reversed(range(n_extra))]  # <extra_id_0> gets the last id
        specials, template = dict(T5_SPECIALS), "eos"
    elif layout == "albert":
        specials, template = dict(ALBERT_SPECIALS), "bert"

    if model is None and spec.model_type == 2 and name != "sentencepiece.bpe.model":
        vocab = {p: i for i, (p, _) in enumerate(pieces)}
        model = BPE(vocab, _merges_by_score(proto, vocab), unk_token=spec.unk_piece or "<unk>",
                    fuse_unk=True, byte_fallback=spec.byte_fallback)
    elif model is None:
        model = Unigram(pieces, unk_id, spec.byte_fallback)
    backend = Tokenizer(model)
    if normalizer is not None:
        backend.normalizer = normalizer
    if layout == "albert":  # AlbertTokenizer: `` and '' as ", accents stripped, lower case
        steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not config.get("keep_accents", False):
            steps += [normalizers.NFKD(), normalizers.StripAccents()]
        if config.get("do_lower_case", True):
            steps.append(normalizers.Lowercase())
        backend.normalizer = normalizers.Sequence(steps + ([backend.normalizer] if backend.normalizer else []))
    prepend = "always" if proto.normalizer_spec.add_dummy_prefix else "never"
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=True),
    ])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend, split=True)
    if layout in MBART_KINDS:
        mbart_pipeline(backend, layout)
    backend.add_special_tokens([t for t in added if t.special])
    backend.add_tokens([t for t in added if not t.special])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra])
    return backend, specials, template


def mbart_pipeline(backend: Tokenizer, kind: str) -> None:
    """Give an mBART backend the normalizer, pre-tokenizer and decoder that
    transformers 5 gives it, whatever its tokenizer.json says: MBartTokenizer
    has no normalizer at all (no NFKC), MBart50Tokenizer keeps the
    SentencePiece charsmap and squeezes runs of spaces."""
    if kind == "mbart":
        backend.normalizer = None
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        ])
    else:
        charsmap = _precompiled_charsmap(backend.normalizer)
        steps = [normalizers.Replace(Regex(" {2,}"), " ")]
        if charsmap:
            steps.insert(0, normalizers.Precompiled(charsmap))
        backend.normalizer = normalizers.Sequence(steps)
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)


def _precompiled_charsmap(normalizer) -> bytes | None:
    """The SentencePiece charsmap of a Precompiled normalizer (or one in a Sequence)."""
    if normalizer is None:
        return None
    stack = [json.loads(normalizer.__getstate__())]
    while stack:
        state = stack.pop(0)
        if state.get("type") == "Sequence":
            stack[:0] = state.get("normalizers", [])
        elif state.get("type") == "Precompiled" and state.get("precompiled_charsmap"):
            return base64.b64decode(state["precompiled_charsmap"])
    return None


def _read_spm(path: str):
    from sentencepiece import sentencepiece_model_pb2  # needs protobuf (an orbax dependency)

    proto = sentencepiece_model_pb2.ModelProto()
    with open(path, "rb") as f:
        try:
            proto.ParseFromString(f.read())
        except Exception as e:  # protobuf's DecodeError names no file
            raise ValueError(f"{path} is not a SentencePiece model: {e}") from e
    return proto


def _read_vocab(path: str) -> dict[str, int]:
    with open(path, encoding="utf-8") as f:
        try:
            ids = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(ids, dict) or not all(isinstance(i, int) for i in ids.values()):
        raise ValueError(f"{path} must map tokens to int ids")
    if sorted(ids.values()) != list(range(len(ids))):
        raise ValueError(f"{path} ids are not 0..{len(ids) - 1}")
    return ids


def _numbered_spm_model(proto, ids: dict[str, int], unk: str, where: str):
    """A model that segments text as the SentencePiece model `proto` does and
    numbers the pieces by `ids` (vocab.json), as MarianTokenizer and
    M2M100Tokenizer do (they look each SentencePiece piece up in vocab.json)."""
    if unk not in ids:
        raise ValueError(f"{where} has no unknown token {unk!r}")
    if proto.trainer_spec.model_type == 2:  # BPE: merges ranked by score, kept where vocab.json has all three
        merges = [(a, b) for a, b in _merges_by_score(proto, ids) if a in ids and b in ids and a + b in ids]
        return BPE(dict(ids), merges, unk_token=unk, fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback)
    scores = {p.piece: p.score for p in proto.pieces}
    # a piece the SentencePiece model lacks scores below any segmentation into the model's own pieces
    floor = min(0.0, min(scores.values(), default=0.0)) - 10.0
    by_id = sorted(ids.items(), key=lambda kv: kv[1])
    pieces = [(p, scores[p] if p in scores else floor * max(len(p), 1)) for p, _ in by_id]
    return Unigram(pieces, ids[unk], proto.trainer_spec.byte_fallback)


def _merges_by_score(proto, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """BPE merges of a SentencePiece BPE model, ranked by the merged piece's score."""
    normal = {p.piece: (p.score, i) for i, p in enumerate(proto.pieces) if p.type == 1}
    ranked = []
    for piece, (score, i) in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-score, i, left, right))
    return [(left, right) for _, _, left, right in sorted(ranked)]


def _special_id(backend: Tokenizer, specials: dict, role: str) -> tuple[str, int]:
    token = specials.get(f"{role}_token")
    token_id = None if token is None else backend.token_to_id(token)
    if token_id is None:
        raise ValueError(f"the {role} token {token!r} is not in the vocabulary")
    return token, token_id


def _content(value) -> str | None:
    """A special-token value from a config file: a str, an AddedToken dict, or None."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None
