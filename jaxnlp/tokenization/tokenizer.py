"""`Tokenizer`: one thin class over a `tokenizers.Tokenizer` that returns
padded numpy batches (length buckets) ready for jitted models."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import tokenizers

from jaxnlp.buckets import length_bucket
from jaxnlp.errors import InputTooLongError

SPECIAL_TOKEN_NAMES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def _clean_up_tokenization(text: str) -> str:
    """transformers' `clean_up_tokenization` (spaces before punctuation and
    English contractions)."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


class Tokenizer:
    """Text -> padded numpy batches, ids -> text.

    `tok(texts, text_pair=None, add_special_tokens=True, max_length=None,
    truncation=True, padding=True)` returns a dict of numpy arrays:
    `input_ids`, `attention_mask` (int32 [n, L]), `token_type_ids` (int32
    [n, L], only when the model uses them) and `offset_mapping` (int32
    [n, L, 2]: character offsets into the text, or into the pair text for its
    tokens; (0, 0) for special tokens and padding).

    Attributes: `<name>_token` / `<name>_token_id` for bos, eos, unk, sep,
    pad, cls, mask (None where the tokenizer has none), `vocab_size`,
    `model_max_length` (None: no limit), `model_input_names`, `padding_side`
    ("right" or "left") and `truncation_side`.
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
    ):
        backend.no_truncation()
        backend.no_padding()
        self._backend = backend
        self._lock = threading.Lock()  # truncation is set on the backend per call
        special_tokens = special_tokens or {}
        for name in SPECIAL_TOKEN_NAMES:
            token = special_tokens.get(f"{name}_token")
            setattr(self, f"{name}_token", token)
            setattr(self, f"{name}_token_id", None if token is None else backend.token_to_id(token))
        self.model_max_length = model_max_length
        self.model_input_names = ["input_ids", "token_type_ids", "attention_mask"] if has_token_type_ids \
            else ["input_ids", "attention_mask"]
        # transformers 5 never applies the clean-up to BPE models (it corrupts their output)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces) and \
            type(backend.model).__name__ != "BPE"
        self.padding_side = padding_side
        self.truncation_side = truncation_side

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
        """Id(s) -> token(s) (None for an id outside the vocabulary)."""
        if isinstance(ids, (int, np.integer)):
            return self._backend.id_to_token(int(ids))
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._backend.id_to_token(int(i)) for i in ids if int(i) not in special]

    # -- encoding ----------------------------------------------------------
    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True) -> list[int]:
        """Ids of one text (no padding, no truncation)."""
        for name, value in (("text", text), ("text_pair", text_pair)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        return self._backend.encode(text, text_pair, add_special_tokens=add_special_tokens).ids

    def __call__(
        self,
        texts: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool = True,
        padding: bool | str = True,
    ) -> dict[str, np.ndarray]:
        """Encode a text or a list of texts (optionally with pair texts).

        `padding`: True (or "bucket") pads every row to
        `length_bucket(longest row)`, capped at the length limit; False (or
        "longest") pads to the longest row (no padding for a single text);
        "max_length" pads to the length limit. The length limit is
        `max_length`, else `model_max_length`. Rows over the limit are
        truncated (longest first for pairs, special tokens kept) when
        `truncation` is True, else `InputTooLongError` is raised.
        """
        texts, pairs = self._check_inputs(texts, text_pair)
        limit = self._check_limit(max_length)
        if padding not in (True, False, "bucket", "longest", "max_length"):
            raise ValueError(f"padding must be True, False, 'bucket', 'longest' or 'max_length', got {padding!r}")
        if padding == "max_length" and limit is None:
            raise ValueError("padding='max_length' needs max_length (this tokenizer has no model_max_length)")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")

        inputs = texts if pairs is None else list(zip(texts, pairs))
        truncate = truncation and limit is not None
        with self._lock:
            try:
                if truncate:
                    self._backend.enable_truncation(limit, strategy="longest_first", direction=self.truncation_side)
                encodings = self._backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
            finally:
                self._backend.no_truncation()
        for i, enc in enumerate(encodings if limit is not None else ()):
            if len(enc.ids) > limit:
                if truncate:  # the special tokens alone do not fit
                    raise ValueError(
                        f"cannot truncate texts[{i}] to max_length={limit}: the special tokens take "
                        f"{self._backend.num_special_tokens_to_add(pairs is not None)} positions")
                raise InputTooLongError(
                    f"texts[{i}] is {len(enc.ids)} tokens long, over the limit of {limit} "
                    f"({'max_length' if max_length is not None else 'model_max_length'}); "
                    "pass truncation=True or a larger max_length")
        return self._pad(encodings, limit, padding)

    def _check_inputs(self, texts, text_pair):
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, (bytes, bytearray)) or not isinstance(texts, (Sequence, np.ndarray)):
            raise TypeError(f"texts must be a str or a list of str, got {type(texts).__name__}")
        texts = list(texts)
        if not texts:
            raise ValueError("no texts: got an empty list")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
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

    def _pad(self, encodings, limit, padding) -> dict[str, np.ndarray]:
        longest = max(len(e.ids) for e in encodings)
        if padding in (True, "bucket"):
            width = length_bucket(longest, limit)
        elif padding == "max_length":
            width = max(limit, longest)
        else:
            width = longest
        n = len(encodings)
        pad_id = self.pad_token_id if self.pad_token_id is not None else 0
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

    # -- decoding ----------------------------------------------------------
    def decode(self, ids, skip_special_tokens: bool = True, clean_up_tokenization_spaces: bool | None = None) -> str:
        """Ids (a list or 1-D array) -> text, as transformers' `decode`."""
        ids = np.asarray(ids)
        if ids.ndim > 1:
            raise ValueError(f"decode takes one sequence of ids, got shape {ids.shape}; use batch_decode")
        text = self._backend.decode([int(i) for i in ids.reshape(-1)], skip_special_tokens=skip_special_tokens)
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
