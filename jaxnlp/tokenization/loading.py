"""`load_tokenizer`: a local directory or a hub id -> `Tokenizer`.

tokenizer.json is preferred; without it the tokenizer is built from
vocab.txt (WordPiece), vocab.json + merges.txt (byte-level BPE) or a
SentencePiece model (see builders.py). Special tokens, the length limit and
whether the model takes token_type_ids come from tokenizer_config.json,
special_tokens_map.json and config.json, as transformers reads them.
"""

from __future__ import annotations

import json
import os

import tokenizers
from tokenizers import AddedToken

from jaxnlp.tokenization import builders, languages
from jaxnlp.tokenization.chat import read_chat_template
from jaxnlp.tokenization.tokenizer import SPECIAL_TOKEN_NAMES, Tokenizer

# what a hub download fetches: tokenizer and config files, never weights
TOKENIZER_PATTERNS = ["*.json", "*.txt", "*.model", "*.spm"]

# config.json model types whose tokenizers return token_type_ids (and those that do not)
TYPE_ID_MODELS = {"bert", "albert", "electra", "mobilebert", "convbert", "funnel", "layoutlm", "megatron-bert",
                  "roformer", "squeezebert", "xlnet", "deberta", "deberta-v2", "nezha", "ernie"}
NO_TYPE_ID_MODELS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "distilbert", "gpt2", "gpt_neo",
                     "gptj", "gpt_neox", "opt", "bloom", "llama", "mistral", "bart", "mbart", "t5", "mt5", "umt5",
                     "longt5", "marian", "pegasus", "longformer", "led", "mpnet", "m2m_100", "blenderbot",
                     "blenderbot-small", "prophetnet", "fsmt", "reformer", "ctrl", "openai-gpt", "xglm",
                     "roberta-prelayernorm", "data2vec-text", "ibert", "mbart50"}
# learned positions offset by padding_idx + 1: max_position_embeddings 514 -> 512 tokens
POSITION_OFFSET_MODELS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "mpnet",
                          "roberta-prelayernorm", "data2vec-text", "ibert"}
# tokenizer_config.json's tokenizer_class -> model type, for directories without config.json
CLASS_MODEL_TYPES = {"Bert": "bert", "DistilBert": "distilbert", "Electra": "electra", "MobileBert": "mobilebert",
                     "Albert": "albert", "Roberta": "roberta", "XLMRoberta": "xlm-roberta", "Camembert": "camembert",
                     "Longformer": "longformer", "Bart": "bart", "GPT2": "gpt2", "T5": "t5", "Marian": "marian",
                     "MBart": "mbart", "MBart50": "mbart50", "M2M100": "m2m_100"}
SANE_MAX_LENGTH = 1_000_000  # transformers writes 1e30 for "no limit"

# special tokens recognised by name among tokenizer.json's special added tokens
KNOWN_SPECIALS = {
    "pad": ("[PAD]", "<pad>", "<|pad|>", "<|padding|>"),
    "unk": ("[UNK]", "<unk>", "<|unk|>"),
    "mask": ("[MASK]", "<mask>", "<|mask|>"),
    "cls": ("[CLS]", "<cls>"),
    "sep": ("[SEP]", "<sep>"),
    "bos": ("<s>", "<bos>", "<|begin_of_text|>", "<|startoftext|>"),
    "eos": ("</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>"),
}


def load_tokenizer(path_or_id: str | os.PathLike, revision: str | None = None, *,
                   src_lang: str | None = None, tgt_lang: str | None = None) -> Tokenizer:
    """Load the tokenizer of a checkpoint directory or a Hugging Face hub id.

    `src_lang` / `tgt_lang`: the languages of a multilingual encoder-decoder
    (mBART "en_XX", M2M100 "en"), over tokenizer_config.json's; an unknown code
    is a ValueError."""
    directory = resolve_tokenizer_dir(path_or_id, revision)
    tok_config = _read_json(directory, "tokenizer_config.json")
    config = _read_json(directory, "config.json")
    model_type = config.get("model_type")
    class_type = CLASS_MODEL_TYPES.get(str(tok_config.get("tokenizer_class", "")).removesuffix("Fast")
                                       .removesuffix("Tokenizer"))
    # the layout: config.json's model type, but the tokenizer class tells mBART-50 from mBART
    kind = "mbart50" if class_type == "mbart50" else (model_type or class_type)

    def has(name: str) -> bool:
        return os.path.isfile(os.path.join(directory, name))

    build = target_backend = layout = None
    if has("tokenizer.json"):
        path = os.path.join(directory, "tokenizer.json")
        try:
            backend = tokenizers.Tokenizer.from_file(path)
        except Exception as e:  # the Rust parser's error names the field, not the file
            raise ValueError(f"cannot read {path}: {e}") from e
        defaults, template = _specials_in_tokenizer_json(backend), None
        type_ids_guess = _post_processor_has_type_ids(backend)
        if kind in builders.MBART_KINDS:
            builders.mbart_pipeline(backend, kind)  # as transformers 5 rebuilds it
            defaults = {**defaults, **builders.ROBERTA_SPECIALS}  # (its template ends with en_XX, not an eos)
    else:
        if has("vocab.txt"):
            build = builders.wordpiece
        elif has("vocab.json") and has("merges.txt"):
            build = builders.byte_level_bpe
        elif any(has(n) for n in builders.SENTENCEPIECE_FILES):
            build = builders.sentencepiece
        else:
            raise FileNotFoundError(
                f"no tokenizer files in {directory}: expected tokenizer.json, vocab.txt, vocab.json + merges.txt, "
                f"or a SentencePiece model ({', '.join(builders.SENTENCEPIECE_FILES)})")
        if build is builders.sentencepiece:
            layout = builders.sentencepiece_layout(directory, kind)[1]
            kind = "m2m_100" if layout == "m2m_100" else kind
        backend, defaults, template = build(directory, tok_config, kind)
        type_ids_guess = template == "bert"

    special_tokens = _add_special_tokens(backend, directory, tok_config, defaults)
    builders.set_template(backend, template, special_tokens, tok_config)
    if layout == "marian" and has("target.spm"):
        # Marian: target texts are segmented by target.spm (numbered by the same or a target vocab.json)
        target_backend, _, _ = builders.sentencepiece(directory, tok_config, kind, target=True)
        _add_special_tokens(target_backend, directory, tok_config, defaults)
        builders.set_template(target_backend, template, special_tokens, tok_config)
    codes = languages.language_codes(kind, tok_config)
    if codes is not None and any(backend.token_to_id(t) is None for t in codes.tokens.values()):
        raise ValueError(f"{directory}: a {kind} tokenizer without the language tokens "
                         f"{[t for t in codes.tokens.values() if backend.token_to_id(t) is None][:8]}")
    return Tokenizer(
        backend,
        special_tokens,
        model_max_length=_model_max_length(tok_config, config),
        has_token_type_ids=_has_token_type_ids(model_type, class_type, tok_config, type_ids_guess),
        clean_up_tokenization_spaces=tok_config.get("clean_up_tokenization_spaces", False),
        padding_side=tok_config.get("padding_side", "right"),
        truncation_side=tok_config.get("truncation_side", "right"),
        target_backend=target_backend,
        languages=codes,
        src_lang=src_lang if src_lang is not None or codes is None else _str_or_none(tok_config.get("src_lang")),
        tgt_lang=tgt_lang if tgt_lang is not None or codes is None else _str_or_none(tok_config.get("tgt_lang")),
        # transformers' MarianTokenizer and M2M100Tokenizer (SentencePiece in Python) decode between special tokens
        special_token_suffix={"marian": " ", "m2m_100": ""}.get(layout),
        chat_template=read_chat_template(directory),
    )


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


def resolve_tokenizer_dir(path_or_id: str | os.PathLike, revision: str | None = None) -> str:
    """A local directory as is; otherwise a hub id, whose tokenizer and config
    files are fetched (cached) with huggingface_hub."""
    path = os.path.expanduser(os.fspath(path_or_id))
    if os.path.isdir(path):
        return path
    if os.path.exists(path):
        raise NotADirectoryError(f"{path} is a file: load_tokenizer takes a checkpoint directory or a hub id")
    looks_like_path = path.startswith((".", "/", "~")) or "\\" in path or path.count("/") > 1
    if looks_like_path or not path:
        raise FileNotFoundError(f"no such directory: {path!r}")
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=path, revision=revision, allow_patterns=TOKENIZER_PATTERNS)


def _read_json(directory: str, name: str) -> dict:
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            value = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e
    return value if isinstance(value, dict) else {}


def _added_token(value, default_special: bool = True) -> AddedToken | None:
    """A token from a config file (a str or an AddedToken dict) -> AddedToken."""
    if isinstance(value, str):
        return AddedToken(value, special=default_special, normalized=False)
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        flags = {k: bool(value[k]) for k in ("single_word", "lstrip", "rstrip", "normalized", "special")
                 if k in value}
        flags.setdefault("special", default_special)
        flags.setdefault("normalized", not flags["special"])
        return AddedToken(value["content"], **flags)
    return None


def _add_special_tokens(backend, directory: str, tok_config: dict, defaults: dict) -> dict[str, str | None]:
    """Resolve the special tokens (config files over the layout's defaults) and
    add them, with tokenizer_config.json's added tokens, to `backend` (those in
    the vocabulary keep their ids). Returns {"pad_token": "[PAD]", ...}."""
    configured = {**_read_json(directory, "special_tokens_map.json"), **tok_config}
    present = {t.content for t in backend.get_added_tokens_decoder().values()}
    new = []

    def add(token: AddedToken | None):
        if token is not None and token.content not in present:
            present.add(token.content)
            new.append(token)

    decoder = tok_config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for _, value in sorted(decoder.items(), key=lambda kv: int(kv[0])):
            add(_added_token(value, default_special=False))
    special_tokens = {}
    for name in SPECIAL_TOKEN_NAMES:
        key = f"{name}_token"
        token = _added_token(configured.get(key)) or _added_token(defaults.get(key))
        special_tokens[key] = token.content if token is not None else None
        add(token)
    for key in ("additional_special_tokens", "extra_special_tokens"):  # the name in transformers 4 and 5
        extra = configured.get(key)
        extra = list(extra.values()) if isinstance(extra, dict) else extra
        for value in extra if isinstance(extra, list) else ():
            add(_added_token(value))
    for token in new:  # one at a time, so that new ids follow this order
        (backend.add_special_tokens if token.special else backend.add_tokens)([token])
    return special_tokens


def _processor_states(backend) -> list[dict]:
    """The post-processor's JSON state, a Sequence flattened."""
    if backend.post_processor is None:
        return []
    stack, states = [json.loads(backend.post_processor.__getstate__())], []
    while stack:
        state = stack.pop(0)
        if state.get("type") == "Sequence":
            stack[:0] = state.get("processors", [])
        else:
            states.append(state)
    return states


def _specials_in_tokenizer_json(backend) -> dict[str, str]:
    """Special tokens of a tokenizer.json: known names among its special added
    tokens, then the tokens its template puts around a text."""
    added = {t.content for t in backend.get_added_tokens_decoder().values() if t.special}
    found = {}
    for name, candidates in KNOWN_SPECIALS.items():
        token = next((c for c in candidates if c in added), None)
        if token is not None:
            found[f"{name}_token"] = token
    for state in _processor_states(backend):
        if state.get("type") in ("BertProcessing", "RobertaProcessing"):
            found.setdefault("cls_token", state["cls"][0])
            found.setdefault("sep_token", state["sep"][0])
        elif state.get("type") == "TemplateProcessing":
            single = state.get("single", [])
            first = single[0].get("SpecialToken", {}).get("id") if single else None
            last = single[-1].get("SpecialToken", {}).get("id") if single else None
            if first is not None and last is not None:  # [CLS] A [SEP], <s> A </s>
                found.setdefault("cls_token", first)
                found.setdefault("sep_token", last)
            elif first is not None:  # <|begin_of_text|> A
                found.setdefault("bos_token", first)
            elif last is not None:  # A </s>
                found.setdefault("eos_token", last)
    return found


def _post_processor_has_type_ids(backend) -> bool:
    for state in _processor_states(backend):
        if state.get("type") == "BertProcessing":
            return True
        if state.get("type") == "TemplateProcessing":
            for item in state.get("pair", []):
                if any(v.get("type_id", 0) != 0 for v in item.values()):
                    return True
    return False


def _has_token_type_ids(model_type: str | None, class_type: str | None, tok_config: dict, guess: bool) -> bool:
    """config.json's model type, else tokenizer_config.json's model_input_names,
    else its tokenizer_class, else the template's type ids (`guess`)."""
    if model_type in TYPE_ID_MODELS or model_type in NO_TYPE_ID_MODELS:
        return model_type in TYPE_ID_MODELS
    names = tok_config.get("model_input_names")
    if isinstance(names, list):
        return "token_type_ids" in names
    if class_type in TYPE_ID_MODELS or class_type in NO_TYPE_ID_MODELS:
        return class_type in TYPE_ID_MODELS
    return guess


def _model_max_length(tok_config: dict, config: dict) -> int | None:
    value = tok_config.get("model_max_length")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < SANE_MAX_LENGTH:
        return int(value)
    positions = config.get("max_position_embeddings", config.get("n_positions"))
    if isinstance(positions, int) and positions > 0:
        return positions - 2 if config.get("model_type") in POSITION_OFFSET_MODELS else positions
    return None
