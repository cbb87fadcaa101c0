"""Building a `tokenizers.Tokenizer` from vocabulary files when a checkpoint
ships no tokenizer.json: WordPiece (vocab.txt), byte-level BPE (vocab.json +
merges.txt) and SentencePiece models (spiece.model, sentencepiece.bpe.model,
source.spm). Each builder mirrors the transformers 5 tokenizer class for that
layout, so ids match transformers' fast tokenizers.

Every builder returns `(backend, default_special_tokens, template)`: the
template (`None`: no special tokens added) is set once the special tokens'
ids are known, by `set_template`.
"""

from __future__ import annotations

import json
import os

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram, WordPiece

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


def sentencepiece(directory: str, config: dict, model_type: str | None):
    """A SentencePiece model -> Unigram (or BPE) tokenizer with a Metaspace
    pre-tokenizer, laid out like transformers: T5 (`A </s>`, extra ids),
    XLM-R (fairseq ids, `<s> A </s>`), Marian (ids from vocab.json, `A </s>`),
    ALBERT (`[CLS] A [SEP]`), else the model's own pieces and no template."""
    from sentencepiece import sentencepiece_model_pb2  # needs protobuf (an orbax dependency)

    name = next(n for n in SENTENCEPIECE_FILES if os.path.isfile(os.path.join(directory, n)))
    proto = sentencepiece_model_pb2.ModelProto()
    with open(os.path.join(directory, name), "rb") as f:
        proto.ParseFromString(f.read())
    pieces = [(p.piece, p.score) for p in proto.pieces]
    spec = proto.trainer_spec
    unk_id, template, extra = spec.unk_id, None, []
    # control pieces are special tokens, user-defined ones are added (never split) tokens
    added = [AddedToken(p.piece, special=p.type == 3, normalized=False) for p in proto.pieces if p.type in (3, 4)]
    specials = {"unk_token": spec.unk_piece or "<unk>"}
    if spec.bos_id >= 0:
        specials["bos_token"] = spec.bos_piece or "<s>"
    if spec.eos_id >= 0:
        specials["eos_token"] = spec.eos_piece or "</s>"
    if spec.pad_id >= 0:
        specials["pad_token"] = spec.pad_piece or "<pad>"

    if name == "source.spm" and os.path.isfile(os.path.join(directory, "vocab.json")):
        # Marian: SentencePiece segments, vocab.json numbers the pieces
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            ids = json.load(f)
        scores = dict(pieces)
        floor = min(scores.values(), default=0.0) - 10.0  # pieces the source model lacks: never chosen
        by_id = sorted(ids.items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise ValueError(f"{directory}/vocab.json ids are not 0..{len(by_id) - 1}")
        pieces = [(p, scores.get(p, floor)) for p, _ in by_id]
        specials = dict(T5_SPECIALS)
        unk_id = ids.get(specials["unk_token"], 0)
        added = [AddedToken(p, special=False, normalized=False) for p in ids if p.startswith(">>") and p.endswith("<<")]
        template = "eos"
    elif name == "sentencepiece.bpe.model" or model_type in ("xlm-roberta", "xlm-roberta-xl"):
        # fairseq numbering: <s> <pad> </s> <unk>, the pieces from id 3 on (shifted by one), <mask> last
        pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + pieces[3:] + [("<mask>", 0.0)]
        unk_id, specials, added, template = 3, dict(ROBERTA_SPECIALS), [], "roberta"
    elif model_type in T5_STYLE or (model_type is None and name == "spiece.model"):
        n_extra = int(config.get("extra_ids", 100))
        extra = [f"<extra_id_{i}>" for i in reversed(range(n_extra))]  # <extra_id_0> gets the last id
        specials, template = dict(T5_SPECIALS), "eos"
    elif model_type == "albert":
        specials, template = dict(ALBERT_SPECIALS), "bert"

    if spec.model_type == 2 and name != "sentencepiece.bpe.model" and name != "source.spm":
        vocab = {p: i for i, (p, _) in enumerate(pieces)}
        model = BPE(vocab, _merges_by_score(proto, vocab), unk_token=spec.unk_piece or "<unk>",
                    fuse_unk=True, byte_fallback=spec.byte_fallback)
    else:
        model = Unigram(pieces, unk_id, spec.byte_fallback)
    backend = Tokenizer(model)
    if proto.normalizer_spec.precompiled_charsmap:
        backend.normalizer = normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap)
    if model_type == "albert":  # AlbertTokenizer: `` and '' as ", accents stripped, lower case
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
    backend.add_special_tokens([t for t in added if t.special])
    backend.add_tokens([t for t in added if not t.special])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in extra])
    return backend, specials, template


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
