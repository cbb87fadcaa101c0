"""`Tokenizer`: one thin class over a `tokenizers.Tokenizer` that returns
padded numpy batches (length buckets) ready for jitted models."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import tokenizers
from tokenizers import processors

from jaxnlp.buckets import length_bucket
from jaxnlp.errors import InputTooLongError
from jaxnlp.tokenization import chat
from jaxnlp.tokenization.languages import LanguageCodes

SPECIAL_TOKEN_NAMES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


def _clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization` (spaces before punctuation and
    English contractions)."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


def _check_unicode(inputs) -> None:
    """Name the text that is not valid Unicode (a lone surrogate such as
    "\\ud800", which `tokenizers` refuses with a TypeError about its input
    types)."""
    for i, row in enumerate(inputs):
        for text in (row if isinstance(row, (tuple, list)) else (row,)):
            for t in (text if isinstance(text, (tuple, list)) else (text,)):
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ValueError(f"text {i} is not valid Unicode: {e.reason} at character {e.start} "
                                     f"({t[e.start]!r})") from None
                except AttributeError:
                    pass


def _longest_first(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """How many tokens of each side of a pair `tokenizers`' "longest_first"
    truncation keeps when the two sides hold n1 and n2 (special tokens
    apart): the shorter side whole if the longer one can take the rest,
    else half the budget each (the odd one to the longer side)."""
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1 = budget // 2
        n2 = n1 + budget % 2
    return (n2, n1) if swap else (n1, n2)


def _cut_after(enc, keep: int) -> int | None:
    """A character position to cut a text at that keeps its first `keep`
    tokens as they are: past the word the last kept token is in and one
    whole word more (None: the text has no such word boundary)."""
    words, n = enc.word_ids, len(enc.ids)
    j = keep
    while j < n and words[j] == words[keep - 1]:
        j += 1
    if j < n:
        margin = words[j]
        while j < n and words[j] == margin:
            j += 1
    return enc.offsets[j][0] if j < n else None


def _long_pairs(backend, pairs, budget: int) -> dict:
    """{row: (first, second) texts cut short} for the pairs whose both sides
    overflow "longest_first" truncation to `budget` tokens by far.

    `tokenizers` keeps every overflowing window of each side and builds one
    window per combination of the two sides' windows (two 5,000-word texts
    at a 64-token limit: ~10^5 windows, seconds and gigabytes; 20,000 words:
    minutes), and a padded batch uses none of them. Each long side is cut
    after the tokens it keeps and one word more, and kept only if the cut
    text begins with the same ids as the whole text and the pair truncates
    to the same lengths (`_longest_first`) as the whole pair; the cut pair
    then goes through `tokenizers`' own pair encoding (special tokens,
    token types, offsets), so the result is the whole pair's. A row that
    fails a check stays whole. Only for callers that drop the overflow
    windows (a cut pair has few)."""
    if budget <= 0:
        return {}
    # both sides more than twice the budget in characters: below that a side
    # has few windows (at most 4 tokens a character, byte-level BPE), so the
    # combinations stay few and ordinary pairs are not tokenized twice
    rows = [i for i, (a, b) in enumerate(pairs) if min(len(a), len(b)) > 2 * budget]
    if not rows:
        return {}
    sides = backend.encode_batch([text for i in rows for text in pairs[i]], add_special_tokens=False)
    out = {}
    for r, i in enumerate(rows):
        full = sides[2 * r: 2 * r + 2]
        keep = _longest_first(len(full[0].ids), len(full[1].ids), budget)
        if not all(0 < k < len(e.ids) for k, e in zip(keep, full)):
            continue       # one side fits whole: its windows do not multiply
        texts = list(pairs[i])
        for side in (0, 1):
            at = _cut_after(full[side], keep[side])
            if at is not None:
                texts[side] = texts[side][:at]
        short = backend.encode_batch(texts, add_special_tokens=False)
        if any(e.ids[:k] != f.ids[:k] for e, f, k in zip(short, full, keep)):
            continue
        if _longest_first(len(short[0].ids), len(short[1].ids), budget) != keep:
            continue       # (an odd budget's extra token would go to the other side)
        out[i] = tuple(texts)
    return out


class Tokenizer:
    """Text -> padded numpy batches, ids -> text.

    `tok(texts, text_pair=None, add_special_tokens=True, max_length=None,
    truncation=True, padding=True, *, text_target=None, src_lang=None,
    tgt_lang=None)` returns a dict of numpy arrays: `input_ids`,
    `attention_mask` (int32 [n, L]), `token_type_ids` (int32 [n, L], only
    when the model uses them) and `offset_mapping` (int32 [n, L, 2]:
    character offsets into the text, or into the pair text for its tokens;
    (0, 0) for special tokens and padding); with `text_target`, also `labels`
    (the target texts' ids, as transformers' `text_target`).

    Attributes: `<name>_token` / `<name>_token_id` for bos, eos, unk, sep,
    pad, cls, mask (None where the tokenizer has none), `vocab_size`,
    `model_max_length` (None: no limit), `model_input_names`, `padding_side`
    ("right" or "left") and `truncation_side`; for multilingual
    encoder-decoders (mBART, mBART-50, M2M100) `src_lang`, `tgt_lang`,
    `lang_code_to_id` and `get_lang_id(lang)`.

    Encoder-decoder models: `target_backend` segments target texts (Marian's
    target.spm; by default the source backend does) and decodes ids (the model
    generates target ids); `languages` says how language codes mark a text;
    `special_token_suffix` (not None) makes `decode` work as transformers'
    SentencePiece-in-Python tokenizers (MarianTokenizer: " ", M2M100Tokenizer:
    ""): the text between special tokens is decoded run by run, each special
    token is followed by the suffix, and the result is stripped.
    """

    def __init__(
        self,
        backend: tokenizers.Tokenizer,
        special_tokens: dict[str, str | None] | None = None,
        *,
        model_max_length: int | None = None,
        has_token_type_ids: bool = False,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        truncation_side: str = "right",
        target_backend: tokenizers.Tokenizer | None = None,
        languages: LanguageCodes | None = None,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        special_token_suffix: str | None = None,
        chat_template: str | dict[str, str] | None = None,
    ):
        self.chat_template = chat_template   # Jinja template(s) for chats (jaxnlp.tokenization.chat)
        backend.no_truncation()
        backend.no_padding()
        self._backend = backend
        self._target_backend = backend if target_backend is None else target_backend
        self._target_backend.no_truncation()
        self._target_backend.no_padding()
        self._lock = threading.Lock()  # truncation (and a language template) is set on the backend per call
        special_tokens = special_tokens or {}
        for name in SPECIAL_TOKEN_NAMES:
            token = special_tokens.get(f"{name}_token")
            setattr(self, f"{name}_token", token)
            setattr(self, f"{name}_token_id", None if token is None else backend.token_to_id(token))
        pad = special_tokens.get("pad_token")
        self._target_pad_id = None if pad is None else self._target_backend.token_to_id(pad)
        self.model_max_length = model_max_length
        self.model_input_names = ["input_ids", "token_type_ids", "attention_mask"] if has_token_type_ids \
            else ["input_ids", "attention_mask"]
        # transformers 5 never applies the clean-up to BPE models (it corrupts their output)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces) and \
            type(backend.model).__name__ != "BPE"
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self._special_token_suffix = special_token_suffix

        self._languages = languages
        self._processors: dict[tuple[bool, str], processors.PostProcessor] = {}
        self._src_lang = self._tgt_lang = None
        if languages is not None:
            if self.eos_token_id is None:
                raise ValueError("a tokenizer with language codes needs an eos token")
            missing = [t for t in languages.tokens.values() if backend.token_to_id(t) is None]
            if missing or not languages.tokens:
                raise ValueError(f"language tokens not in the vocabulary: {missing[:10] or 'none given'}")
            default = languages.default_source if languages.default_source in languages.tokens \
                else next(iter(languages.tokens))
            self.src_lang = default if src_lang is None else src_lang
            self.tgt_lang = tgt_lang
        elif src_lang is not None or tgt_lang is not None:
            self._no_languages()

    # -- languages ---------------------------------------------------------
    def _no_languages(self):
        raise ValueError("this tokenizer has no language codes (mBART, mBART-50 and M2M100 tokenizers have them); "
                         "do not pass src_lang or tgt_lang")

    @property
    def src_lang(self) -> str | None:
        """The source language code (mBART "en_XX", M2M100 "en"), put on every text."""
        return self._src_lang

    @src_lang.setter
    def src_lang(self, lang: str) -> None:
        if self._languages is None:
            self._no_languages()
        code = self._languages.code(lang, "source language code")
        with self._lock:
            self._src_lang = code
            self._backend.post_processor = self._processor(False, code)

    @property
    def tgt_lang(self) -> str | None:
        """The target language code put on `text_target` texts (None: mBART takes
        the source language, M2M100 needs one)."""
        return self._tgt_lang

    @tgt_lang.setter
    def tgt_lang(self, lang: str | None) -> None:
        if self._languages is None:
            if lang is None:
                return
            self._no_languages()
        self._tgt_lang = None if lang is None else self._languages.code(lang, "target language code")

    @property
    def lang_code_to_id(self) -> dict[str, int]:
        """Language code -> the id of its token ({} for tokenizers without languages)."""
        if self._languages is None:
            return {}
        return {code: self._backend.token_to_id(token) for code, token in self._languages.tokens.items()}

    def get_lang_token(self, lang: str) -> str:
        """The token of a language code ("en" -> "__en__" for M2M100, "en_XX" -> "en_XX" for mBART)."""
        if self._languages is None:
            self._no_languages()
        return self._languages.tokens[self._languages.code(lang)]

    def get_lang_id(self, lang: str) -> int:
        """The id of a language's token: the `forced_bos_token_id` that makes a
        multilingual model generate that language. ValueError if unknown."""
        return self._backend.token_to_id(self.get_lang_token(lang))

    def _processor(self, target: bool, code: str):
        """The template that marks a text as language `code` (cached)."""
        key = (target, code)
        if key not in self._processors:
            backend = self._target_backend if target else self._backend
            token = self._languages.tokens[code]
            eos = self.eos_token
            if self._languages.prefix:
                single, pair = [token, "$A", eos], [token, "$A", "$B", eos]
            else:
                single, pair = ["$A", eos, token], ["$A", "$B", eos, token]
            self._processors[key] = processors.TemplateProcessing(
                single=single, pair=pair,
                special_tokens=[(token, backend.token_to_id(token)), (eos, backend.token_to_id(eos))])
        return self._processors[key]

    def _language(self, target: bool, src_lang: str | None, tgt_lang: str | None) -> str | None:
        """The language code to put on a text (None: this tokenizer has no languages)."""
        if self._languages is None:
            if src_lang is not None or tgt_lang is not None:
                self._no_languages()
            return None
        src = self._src_lang if src_lang is None else self._languages.code(src_lang, "source language code")
        if not target:
            return src
        if tgt_lang is not None:
            return self._languages.code(tgt_lang, "target language code")
        if self._tgt_lang is not None:
            return self._tgt_lang
        if self._languages.target_defaults_to_source:
            return src
        raise ValueError("text_target needs a target language: pass tgt_lang= or set tokenizer.tgt_lang "
                         f"(one of {', '.join(list(self._languages.tokens)[:8])}, ...)")

    # -- vocabulary --------------------------------------------------------
    @property
    def backend(self) -> tokenizers.Tokenizer:
        """The underlying `tokenizers.Tokenizer` (do not change its truncation/padding)."""
        return self._backend

    @property
    def vocab_size(self) -> int:
        """Number of ids, added tokens included (transformers' `len(tokenizer)`)."""
        return self._backend.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(i for i, t in self._backend.get_added_tokens_decoder().items() if t.special)

    def get_vocab(self) -> dict[str, int]:
        return self._backend.get_vocab(with_added_tokens=True)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | None | list[int | None]:
        """Token(s) -> id(s); unknown tokens give `unk_token_id`."""
        if isinstance(tokens, str):
            i = self._backend.token_to_id(tokens)
            return self.unk_token_id if i is None else i
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """Id(s) -> token(s) (None for an id outside the vocabulary). Ids are read
        as target ids, like `decode` (the same as source ids but for Marian with
        separate vocabularies)."""
        backend = self._target_backend
        if isinstance(ids, (int, np.integer)):
            return backend.id_to_token(int(ids))
        special = {i for i, t in backend.get_added_tokens_decoder().items() if t.special} \
            if skip_special_tokens else set()
        return [backend.id_to_token(int(i)) for i in ids if int(i) not in special]

    # -- encoding ----------------------------------------------------------
    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, *,
               target: bool = False, src_lang: str | None = None, tgt_lang: str | None = None) -> list[int]:
        """Ids of one text (no padding, no truncation); `target=True` encodes it
        as a target text (the labels of a seq2seq pair)."""
        for name, value in (("text", text), ("text_pair", text_pair)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        lang = self._language(bool(target), src_lang, tgt_lang)
        inputs = [text if text_pair is None else (text, text_pair)]
        return self._encode_batch(inputs, add_special_tokens, None, bool(target), lang)[0][0].ids

    def __call__(
        self,
        texts: str | Sequence[str] | None = None,
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool | str = True,
        padding: bool | str = True,
        *,
        text_target: str | Sequence[str] | None = None,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Encode a text or a list of texts (optionally with pair texts).

        `padding`: True (or "bucket") pads every row to
        `length_bucket(longest row)`, capped at the length limit; False (or
        "longest") pads to the longest row (no padding for a single text);
        "max_length" pads to the length limit. The length limit is
        `max_length`, else `model_max_length`. Rows over the limit are
        truncated (special tokens kept) when `truncation` is True or a
        strategy, else `InputTooLongError` is raised. Strategies for pairs, as
        transformers': "longest_first" (= True: the longer text loses tokens
        first), "only_first" / "only_second" (only that text is cut; ValueError
        naming the row when cutting it cannot make the row fit).

        Encoder-decoders: `text_target` (one per text) adds `labels`, the
        target texts' ids padded (with the pad id) and truncated the same way;
        with `texts` None the target texts alone come back as `input_ids` etc.
        `src_lang` / `tgt_lang` override the tokenizer's languages for this call
        (mBART: `X </s> en_XX`; mBART-50, M2M100: `en_XX X </s>`, `__en__ X </s>`).
        """
        limit = self._check_limit(max_length)
        if padding not in (True, False, "bucket", "longest", "max_length"):
            raise ValueError(f"padding must be True, False, 'bucket', 'longest' or 'max_length', got {padding!r}")
        if padding == "max_length" and limit is None:
            raise ValueError("padding='max_length' needs max_length (this tokenizer has no model_max_length)")
        if isinstance(truncation, str) and truncation not in TRUNCATION_STRATEGIES:
            raise ValueError(f"truncation must be True, False or one of {TRUNCATION_STRATEGIES}, got {truncation!r}")
        truncation = truncation if isinstance(truncation, str) else "longest_first" if truncation else False
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        if texts is None and text_target is not None:
            if text_pair is not None:
                raise ValueError("text_pair needs texts")
            targets, _ = self._check_inputs(text_target, None, "text_target")
            lang = self._language(True, src_lang, tgt_lang)
            return self._encode_padded(targets, None, add_special_tokens, max_length, limit, truncation, padding,
                                       True, lang, "text_target")
        texts, pairs = self._check_inputs(texts, text_pair)
        targets = None
        if text_target is not None:
            targets, _ = self._check_inputs(text_target, None, "text_target")
            if len(targets) != len(texts):
                raise ValueError(f"text_target has {len(targets)} items but texts has {len(texts)}")
        lang = self._language(False, src_lang, tgt_lang)
        target_lang = None if targets is None else self._language(True, src_lang, tgt_lang)
        out = self._encode_padded(texts, pairs, add_special_tokens, max_length, limit, truncation, padding,
                                  False, lang, "texts")
        if targets is not None:
            labels = self._encode_padded(targets, None, add_special_tokens, max_length, limit, truncation, padding,
                                         True, target_lang, "text_target")
            out["labels"] = labels["input_ids"]
        return out

    def encode_windows(self, texts: Sequence[str] | Sequence[list[str]], max_length: int | None, stride: int = 0,
                       pairs: Sequence[str] | None = None, strategy: str = "longest_first",
                       is_pretokenized: bool = False) -> list:
        """The backend's `tokenizers.Encoding` of each text, truncated to
        `max_length` tokens (special tokens included); the rest of a longer
        text comes in the encoding's `.overflowing` windows, each overlapping
        the previous one by `stride` tokens and with its own special tokens
        (transformers' `return_overflowing_tokens=True, stride=...`). For
        pipelines that read long texts window by window (NER, QA). With
        `pairs`, each text is the first of a pair and `strategy` says which
        side is truncated (QA: "only_second", the context). With
        `is_pretokenized`, each text is a list of words (tokenizers'
        `is_pretokenized`: offsets are relative to each word, `word_ids` say
        which word a token is from)."""
        if is_pretokenized:
            inputs = [list(words) for words in texts]       # (a tuple would read as a pair)
        else:
            inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        return self._encode_batch(inputs, True, max_length, False, None, stride=stride, strategy=strategy,
                                  is_pretokenized=is_pretokenized)[0]

    def _encode_batch(self, inputs, add_special_tokens: bool, truncate_to: int | None, target: bool,
                      lang: str | None, stride: int = 0, strategy: str = "longest_first",
                      is_pretokenized: bool = False, drop_windows: bool = False):
        """`(encodings, number of special tokens a row gets)`, with the backend
        of the side (`target`) and the template of language `lang`. With
        `drop_windows` (the caller uses no overflow windows) long pairs are
        cut first (`_long_pairs`)."""
        backend = self._target_backend if target else self._backend
        pair = bool(inputs) and isinstance(inputs[0], tuple)
        with self._lock:
            try:
                if lang is not None:
                    backend.post_processor = self._processor(target, lang)
                n_special = backend.num_special_tokens_to_add(pair) if add_special_tokens else 0
                try:
                    if (drop_windows and pair and truncate_to is not None and strategy == "longest_first"
                            and not is_pretokenized and self.truncation_side == "right"):
                        cut = _long_pairs(backend, inputs, truncate_to - n_special)
                        inputs = [cut.get(i, row) for i, row in enumerate(inputs)]
                    if truncate_to is not None:
                        backend.enable_truncation(truncate_to, stride=stride, strategy=strategy,
                                                  direction=self.truncation_side)
                    encodings = backend.encode_batch(inputs, add_special_tokens=add_special_tokens,
                                                     is_pretokenized=is_pretokenized)
                except TypeError:
                    _check_unicode(inputs)
                    raise
            finally:
                backend.no_truncation()
                if lang is not None and self._src_lang is not None and backend is self._backend:
                    backend.post_processor = self._processor(False, self._src_lang)
        return encodings, n_special

    def _encode_padded(self, texts, pairs, add_special_tokens, max_length, limit, truncation, padding, target,
                       lang, name) -> dict[str, np.ndarray]:
        inputs = texts if pairs is None else list(zip(texts, pairs))
        truncate = bool(truncation) and limit is not None   # truncation: a strategy or False
        try:
            encodings, n_special = self._encode_batch(inputs, add_special_tokens, limit if truncate else None,
                                                      target, lang, strategy=truncation or "longest_first",
                                                      drop_windows=True)
        except Exception as e:   # tokenizers raises a bare Exception when only_first/only_second cannot fit a row
            if "Truncation error" not in str(e):
                raise
            for i, row in enumerate(inputs):
                try:
                    self._encode_batch([row], add_special_tokens, limit, target, lang, strategy=truncation)
                except Exception:
                    break
            raise ValueError(f"cannot truncate {name}[{i}] to max_length={limit} with truncation={truncation!r}: "
                             f"{str(e).removeprefix('Truncation error: ')}") from None
        for i, enc in enumerate(encodings if limit is not None else ()):
            if len(enc.ids) > limit:
                if truncate:  # the special tokens alone do not fit
                    raise ValueError(
                        f"cannot truncate {name}[{i}] to max_length={limit}: the special tokens take "
                        f"{n_special} positions")
                raise InputTooLongError(
                    f"{name}[{i}] is {len(enc.ids)} tokens long, over the limit of {limit} "
                    f"({'max_length' if max_length is not None else 'model_max_length'}); "
                    "pass truncation=True or a larger max_length")
        return self._pad(encodings, limit, padding, self._target_pad_id if target else self.pad_token_id)

    def _check_inputs(self, texts, text_pair, name: str = "texts"):
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, (bytes, bytearray)) or not isinstance(texts, (Sequence, np.ndarray)):
            raise TypeError(f"{name} must be a str or a list of str, got {type(texts).__name__}")
        texts = list(texts)
        if not texts:
            raise ValueError(f"no {name}: got an empty list")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"{name}[{i}] is {type(t).__name__}, expected str")
        if text_pair is None:
            return texts, None
        if isinstance(text_pair, str):
            if len(texts) != 1:
                raise ValueError(f"text_pair is one str but there are {len(texts)} texts; "
                                 "pass a list of the same length")
            return texts, [text_pair]
        if isinstance(text_pair, (bytes, bytearray)) or not isinstance(text_pair, (Sequence, np.ndarray)):
            raise TypeError(f"text_pair must be a str or a list of str, got {type(text_pair).__name__}")
        pairs = list(text_pair)
        if len(pairs) != len(texts):
            raise ValueError(f"text_pair has {len(pairs)} items but texts has {len(texts)}")
        for i, t in enumerate(pairs):
            if not isinstance(t, str):
                raise TypeError(f"text_pair[{i}] is {type(t).__name__}, expected str")
        return texts, pairs

    def _check_limit(self, max_length):
        if max_length is None:
            return self.model_max_length
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        return int(max_length)

    def _pad(self, encodings, limit, padding, pad_id) -> dict[str, np.ndarray]:
        longest = max(len(e.ids) for e in encodings)
        if padding in (True, "bucket"):
            width = length_bucket(longest, limit)
        elif padding == "max_length":
            width = max(limit, longest)
        else:
            width = longest
        n = len(encodings)
        pad_id = pad_id if pad_id is not None else 0
        ids = np.full((n, width), pad_id, dtype=np.int32)
        mask = np.zeros((n, width), dtype=np.int32)
        type_ids = np.zeros((n, width), dtype=np.int32)
        offsets = np.zeros((n, width, 2), dtype=np.int32)
        for row, enc in enumerate(encodings):
            k = len(enc.ids)
            cols = slice(width - k, width) if self.padding_side == "left" else slice(0, k)
            ids[row, cols] = enc.ids
            mask[row, cols] = 1
            type_ids[row, cols] = enc.type_ids
            if k:
                offsets[row, cols] = np.asarray(enc.offsets, dtype=np.int32).reshape(k, 2)
        out = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.model_input_names:
            out["token_type_ids"] = type_ids
        out["offset_mapping"] = offsets
        return out

    def apply_chat_template(self, conversation, add_generation_prompt: bool = False,
                            continue_final_message: bool | str = False, tokenize: bool = False, **kwargs):
        """A chat (a list of {"role", "content"} dicts), or a list of chats, ->
        the text `chat_template` renders (`tokenize=True`: its ids, without
        added special tokens), as transformers' `apply_chat_template`; also
        `chat_template=` (a template or a name), `tools=`, `documents=` and
        template variables. See jaxnlp.tokenization.chat."""
        return chat.apply_chat_template(self, conversation, add_generation_prompt=add_generation_prompt,
                                        continue_final_message=continue_final_message, tokenize=tokenize, **kwargs)

    # -- decoding ----------------------------------------------------------
    def decode(self, ids, skip_special_tokens: bool = True, clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids (a list or 1-D array) -> text, as transformers' `decode`. Ids are
        read as target ids (what an encoder-decoder generates); they are the same
        as source ids but for Marian with separate vocabularies. Ids past the
        tokenizer's vocabulary (a model's padded embedding rows, e.g. T5's
        32100-32127) decode to nothing, as in transformers; negative ids and
        non-integers are refused."""
        ids = np.asarray(ids)
        if ids.ndim > 1:
            raise ValueError(f"decode takes one sequence of ids, got shape {ids.shape}; use batch_decode")
        if ids.size and (ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer)):
            raise TypeError(f"decode takes integer token ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= 2 ** 32):
            bad = ids[(ids < 0) | (ids >= 2 ** 32)]
            raise ValueError(f"decode: id {bad.flat[0]} is not a token id (negative, or 2**32 or more)")
        ids = [int(i) for i in ids.reshape(-1)]
        backend = self._target_backend
        if self._special_token_suffix is None:
            text = backend.decode(ids, skip_special_tokens=skip_special_tokens)
        else:
            special = {i: t.content for i, t in backend.get_added_tokens_decoder().items() if t.special}
            parts, run = [], []
            for i in ids:
                if i not in special:
                    run.append(i)
                elif not skip_special_tokens:
                    parts += [backend.decode(run, skip_special_tokens=False), special[i], self._special_token_suffix]
                    run = []
            parts.append(backend.decode(run, skip_special_tokens=False))
            text = "".join(parts).strip()
        if self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces:
            text = _clean_up_tokenization(text)
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = True,
                     clean_up_tokenization_spaces: bool | None = None) -> list[str]:
        """A batch of id sequences (a list of lists or a 2-D array) -> texts."""
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    def __repr__(self) -> str:
        return (f"Tokenizer({type(self._backend.model).__name__}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r})")
