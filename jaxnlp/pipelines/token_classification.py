"""`token-classification` / `ner` and `pos-tagging`: transformers'
TokenClassificationPipeline results, and per-word tags.

`token-classification`: an item is a text; its result is a list of entity
dicts, exactly as transformers builds them:

- `aggregation_strategy="none"` (the default): one dict per token
  {"entity", "score", "index", "word", "start", "end"}; `word` is the token
  (e.g. "##ing", "Ġlondon", "▁london"; the text itself for unknown tokens),
  `index` its position in the model input (special tokens count).
- "simple": adjacent tokens with the same tag (B-X then I-X ...) merge into
  {"entity_group", "score" (the mean), "word", "start", "end"}.
- "first" / "average" / "max": tokens are first merged into words (the tag of
  the first token / of the mean scores / of the most confident token), then
  grouped as "simple" does.

Word boundaries follow transformers: WordPiece marks subwords ("##"); for
other tokenizers a token that does not follow a space continues a word
(transformers' fallback heuristic, about which it warns on every token; jaxnlp
does not warn).
Tokenizers that transformers runs as slow ones (jaxnlp's SentencePiece-in-Python
emulations, Marian and M2M100) have no word boundaries: "first", "average"
and "max" raise ValueError there, as transformers does.

Options: `aggregation_strategy`, `ignore_labels` (default ["O"]: entities with
these labels (or groups) are dropped) and `stride`. Scores are softmaxes;
`start`/`end` are character offsets into the text (`text[start:end]`), also
for non-ASCII text.

Long texts: without `stride`, a text longer than the model window
(`tokenizer.model_max_length`) is truncated to it, with a warning
(transformers truncates silently). With `stride=k` the whole text is read in
overlapping windows of the model window, each starting k tokens before the
previous one ends (transformers' overflowing tokens); entities of the windows
are merged as transformers does (of overlapping ones the longest, then the
most confident, wins). `stride` needs an aggregation_strategy other than
"none" (transformers refuses an explicit "none" too, but lets the implicit
default through, giving token entities with per-window `index`es; here it is
always refused) and must be smaller than the window less the special tokens.

An empty text has no tokens, hence no entities: its result is [] (as in
transformers; a blank one too, but for byte-level BPE, which has tokens for
spaces).

`pos-tagging`: per-word tags from a token-classification checkpoint (a POS
model). The result per text is a list with one dict per word, in text order,
{"word", "start", "end", "label", "score"}: `label` is the checkpoint's label,
unchanged (no B-/I- stripping, no grouping of adjacent words), `score` its
probability. Every word is kept (there is no ignore_labels). Words are
aggregated with `aggregation_strategy` "first" (the default), "average" or
"max"; `stride` works as above.

Pre-split input (`is_split_into_words=True`, both tasks): an item is a list
of words (str) and a call takes one list of words or a list of such lists.
The tokenizer encodes the words as one sequence (tokenizers'
`is_pretokenized`: each word is normalised and pre-tokenized on its own, and
every token knows its word); the text that `start`/`end` refer to is the
words joined with `delimiter` (default " "), as in transformers. Truncation
(with the warning) and `stride` work as for texts (the windows keep the word
ids). An empty list of words ([[]]) has no entities; an empty-string word
has no tokens but still takes its place in the joined text.

- token-classification follows transformers exactly, also where it is odd:
  its word aggregation ("first" / "average" / "max") does not use the word
  ids but the same boundaries as for texts (WordPiece's "##"; for other
  tokenizers a token not after a space continues a word), read on the
  joined text. So with BERT a given word "London!" is two words ("london",
  "!"), and with byte-level BPE or SentencePiece a `delimiter` without a
  space makes the whole list one word. Use pos-tagging for one result per
  given word.
- pos-tagging gives one result per given word, in order (its tokens are
  those with its word id), {"word": the word as given, "start"/"end": its
  span in the joined text, "label", "score"}. A word that has no tokens (""
  or one the tokenizer drops entirely, such as " ") cannot be tagged: a
  ValueError names it. A list cut by truncation tags the words up to the
  cut (a word cut in two is tagged by its first part). Of a word read in
  several `stride` windows, the window with most of it (then the more
  confident) wins.

Differences from transformers, with pre-split words: one list of words gives
one result (a list of entities), as one text does; transformers returns a
batch of one ([[...]]). Input errors are refused before any work: a str with
is_split_into_words=True, a mixture of words and lists of words in one call
(TypeError), a non-str word (TypeError naming the item and the word), and
`delimiter` without is_split_into_words (ValueError; transformers ignores
it). Without is_split_into_words a list item is refused (TypeError naming
it). Tokenizers without word boundaries (see above) refuse
is_split_into_words, as transformers' slow tokenizers do.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from jaxnlp.buckets import length_bucket
from jaxnlp.pipelines.base import Pipeline

AGGREGATIONS = ("none", "simple", "first", "average", "max")
WORD_AGGREGATIONS = ("first", "average", "max")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _tag(label: str) -> tuple[str, str]:
    """("B" or "I", tag): transformers' get_tag (labels without B-/I- continue)."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def _overlapping(entities: list[dict]) -> list[dict]:
    """transformers' aggregate_overlapping_entities: of entities that overlap
    (from the windows of a long text) keep the longest, then the most confident."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda x: x["start"])
    out, previous = [], entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or length == previous_length and entity["score"] > previous["score"]:
                previous = entity
        else:
            out.append(previous)
            previous = entity
    out.append(previous)
    return out


class _Words(tuple):
    """One pre-split item (is_split_into_words=True): its words; `.index` is
    its place in the call's input (for error messages)."""

    index = 0


class _Window(NamedTuple):
    """One model row: a window of an item's tokens."""
    item: int                       # the item's index in the chunk
    ids: np.ndarray
    offsets: np.ndarray             # [tokens, 2], character offsets into the item's text
    special: np.ndarray
    type_ids: np.ndarray
    word_ids: np.ndarray | None     # pre-split words: each token's word (-1: special), else None


def _word_starts(words, delimiter: str) -> np.ndarray:
    """Where each word starts in `delimiter.join(words)`, then a 0 (what word id -1, a special token, reads)."""
    lengths = [len(w) + len(delimiter) for w in words[:-1]]
    return np.asarray(np.cumsum([0] + lengths).tolist()[:len(words)] + [0], np.int32)


class TokenClassificationPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk
    default_aggregation = "none"
    aggregations = AGGREGATIONS
    has_ignore_labels = True
    item_types = (str, _Words)
    tags_given_words = False    # pos-tagging: pre-split words are the words tagged

    # -- options ------------------------------------------------------------------------------

    def _sanitize(self, options: dict) -> dict:
        out = {"aggregation_strategy": options.pop("aggregation_strategy", self.default_aggregation),
               "stride": options.pop("stride", None),
               "is_split_into_words": options.pop("is_split_into_words", False),
               "delimiter": options.pop("delimiter", None)}
        known = ["aggregation_strategy", "stride", "is_split_into_words", "delimiter"]
        if self.has_ignore_labels:
            out["ignore_labels"] = options.pop("ignore_labels", None)
            known.insert(1, "ignore_labels")
        if options:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(options)}; known: {', '.join(known)}")
        strategy = out["aggregation_strategy"]
        strategy = str(getattr(strategy, "value", strategy)).lower() if strategy is not None else None
        if strategy not in self.aggregations:
            raise ValueError(f"aggregation_strategy must be one of {self.aggregations}, "
                             f"got {out['aggregation_strategy']!r}")
        out["aggregation_strategy"] = strategy
        split, delimiter = out["is_split_into_words"], out["delimiter"]
        if not isinstance(split, (bool, np.bool_)):
            raise TypeError(f"is_split_into_words must be a bool, got {split!r}")
        out["is_split_into_words"] = split = bool(split)
        if delimiter is not None and not split:
            raise ValueError("delimiter joins pre-split words: it needs is_split_into_words=True")
        if delimiter is not None and not isinstance(delimiter, str):
            raise TypeError(f"delimiter must be a str, got {delimiter!r}")
        out["delimiter"] = " " if delimiter is None else delimiter
        if split and not self.has_word_boundaries:
            raise ValueError("is_split_into_words needs word ids, which this tokenizer (a SentencePiece-in-Python "
                             "one, as transformers' slow tokenizers) lacks")
        if strategy in WORD_AGGREGATIONS and not self.has_word_boundaries:
            raise ValueError(f"aggregation_strategy={strategy!r} needs word boundaries, which this tokenizer "
                             "(a SentencePiece-in-Python one, as transformers' slow tokenizers) lacks; "
                             "use aggregation_strategy='simple'")
        if self.has_ignore_labels:
            labels = out["ignore_labels"]
            if labels is None:
                labels = ["O"]
            if isinstance(labels, (str, bytes)) or not isinstance(labels, (list, tuple, set, frozenset)) or \
                    not all(isinstance(x, str) for x in labels):
                raise TypeError(f"ignore_labels must be a list of labels (str), got {labels!r}")
            out["ignore_labels"] = frozenset(labels)
        stride = out["stride"]
        if stride is not None:
            if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
                raise ValueError(f"stride must be a non-negative int, got {stride!r}")
            if strategy == "none":
                raise ValueError("stride needs an aggregation_strategy other than 'none' (tokens of overlapping "
                                 "windows are merged as entities)")
            if not self.has_word_boundaries:
                raise ValueError("stride is not supported with this tokenizer (transformers needs a fast one)")
            window = self.content_window
            if window is not None and stride >= window:
                raise ValueError(f"stride must be less than the model window less its special tokens "
                                 f"({window} tokens), got {stride}")
            out["stride"] = int(stride)
        return out

    # -- inputs -------------------------------------------------------------------------------

    def _prepare_inputs(self, inputs, options: dict):
        return self._word_lists(inputs) if options["is_split_into_words"] else inputs

    def _word_lists(self, inputs):
        """Pre-split input -> one `_Words` or a list of them. Refused: anything
        but a list of words or a list of such lists, a mixture of the two,
        and a non-str word (naming the item and the word)."""
        if isinstance(inputs, np.ndarray):
            inputs = inputs.tolist()
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{self.task} with is_split_into_words=True takes a list of words (str) or a list "
                            f"of such lists, got {type(inputs).__name__}")
        if not inputs:
            raise ValueError(f"{self.task}: the input list is empty (one empty list of words is [[]])")
        lists = [isinstance(x, (list, tuple, np.ndarray)) for x in inputs]
        if not any(lists):
            return self._word_list(inputs, None)
        for i, (x, is_list) in enumerate(zip(inputs, lists)):
            if isinstance(x, str):
                raise TypeError(f"{self.task}: item {i} is a str but item {lists.index(True)} is a list: with "
                                "is_split_into_words=True pass one list of words or a list of such lists, "
                                "not a mixture")
            if not is_list:
                raise TypeError(f"{self.task}: item {i} is a {type(x).__name__}, expected a list of words (str)")
        return [self._word_list(x, i) for i, x in enumerate(inputs)]

    def _word_list(self, words, index: int | None) -> _Words:
        words = words.tolist() if isinstance(words, np.ndarray) else words
        for j, word in enumerate(words):
            if not isinstance(word, str):
                where = "" if index is None else f"item {index}, "
                raise TypeError(f"{self.task}: {where}word {j} is a {type(word).__name__}, expected a str")
        item = _Words(words)
        item.index = index or 0
        return item

    def _check_item(self, item, index: int) -> None:
        if isinstance(item, (list, tuple)) and not isinstance(item, _Words):
            raise TypeError(f"{self.task}: item {index} is a {type(item).__name__}, expected a text "
                            "(pass is_split_into_words=True for lists of words)")
        super()._check_item(item, index)

    @property
    def has_word_boundaries(self) -> bool:
        """False for the SentencePiece-in-Python tokenizers (transformers' slow ones)."""
        return getattr(self.tokenizer, "_special_token_suffix", None) is None

    @property
    def max_length(self) -> int | None:
        """The model window: the tokenizer's length limit (and the model's, if smaller)."""
        limits = [x for x in (self.tokenizer.model_max_length, getattr(self.model, "max_positions", None))
                  if x is not None]
        return min(limits) if limits else None

    @property
    def content_window(self) -> int | None:
        """Text tokens per window (the model window less the special tokens)."""
        if self.max_length is None:
            return None
        return self.max_length - self.tokenizer.backend.num_special_tokens_to_add(False)

    # -- the three steps ----------------------------------------------------------------------

    def preprocess(self, items, options):
        """Every item -> its windows (`_Window`s) and its text (pre-split
        words: joined with the delimiter; token offsets are moved there)."""
        tok = self.tokenizer
        window, stride = self.content_window, options["stride"]
        if window is not None and window < 1:
            raise ValueError(f"the model window ({self.max_length}) leaves no room for text after the special tokens")
        split = options["is_split_into_words"]
        starts = None
        if split:
            texts = [options["delimiter"].join(words) for words in items]
            starts = [_word_starts(words, options["delimiter"]) for words in items]
            encodings = tok.encode_windows(items, self.max_length, stride or 0, is_pretokenized=True)
        else:
            texts, encodings = list(items), self._encode(list(items), stride)
        windows = []
        for i, enc in enumerate(encodings):
            truncated = stride is None and bool(enc.overflowing)
            if truncated:
                what = "a list of words" if split else "a text"
                warnings.warn(f"{self.task}: {what} longer than the model window ({self.max_length} tokens) is "
                              "truncated to it; pass stride= to read all of it", stacklevel=4)
            parts = [enc] + (list(enc.overflowing) if stride is not None else [])
            for part in parts:
                offsets, word_ids = np.asarray(part.offsets, np.int32).reshape(-1, 2), None
                if split:
                    word_ids = np.asarray([-1 if w is None else w for w in part.word_ids], np.int32)
                    offsets = offsets + starts[i][word_ids][:, None]
                windows.append(_Window(i, np.asarray(part.ids, np.int32), offsets,
                                       np.asarray(part.special_tokens_mask, bool),
                                       np.asarray(part.type_ids, np.int32), word_ids))
            if split and self.tags_given_words:
                self._check_every_word_has_tokens(items[i], windows[-len(parts):], truncated)
        width = length_bucket(max(len(w.ids) for w in windows), self.max_length)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        n = len(windows)
        arrays = {"input_ids": np.full((n, width), pad, np.int32), "attention_mask": np.zeros((n, width), np.int32),
                  "token_type_ids": np.zeros((n, width), np.int32)}
        for row, w in enumerate(windows):
            arrays["input_ids"][row, :len(w.ids)] = w.ids
            arrays["attention_mask"][row, :len(w.ids)] = 1
            arrays["token_type_ids"][row, :len(w.ids)] = w.type_ids
        if "token_type_ids" not in tok.model_input_names:
            del arrays["token_type_ids"]
        return {"arrays": arrays, "windows": windows, "texts": texts, "word_starts": starts}

    def _check_every_word_has_tokens(self, words: _Words, windows: list[_Window], truncated: bool) -> None:
        seen = {int(w) for window in windows for w in window.word_ids if w >= 0}
        last = max(seen, default=-1) if truncated else len(words) - 1   # truncated: the words up to the cut
        missing = next((k for k in range(last + 1) if k not in seen), None)
        if missing is not None:
            raise ValueError(f"{self.task}: item {words.index}, word {missing} ({words[missing]!r}) has no tokens "
                             "(an empty word, or one the tokenizer drops), so it cannot be tagged")

    def _encode(self, texts: list[str], stride: int | None):
        """Backend encodings truncated to the model window; with `stride`, the
        rest of each text in `.overflowing` windows (as transformers'
        return_overflowing_tokens), each with its special tokens."""
        return self.tokenizer.encode_windows(texts, self.max_length, stride or 0)

    def forward(self, inputs, options):
        arrays = inputs["arrays"]
        n = arrays["input_ids"].shape[0]
        out = []
        for start in range(0, n, self.batch_size):
            part, rows = self.pad_batch({k: v[start:start + self.batch_size] for k, v in arrays.items()})
            out.append(np.asarray(self.model(**part), np.float32)[:rows])
        return np.concatenate(out)

    def postprocess(self, items, inputs, logits, options):
        per_item = [[] for _ in items]
        counts = [0] * len(items)
        for row, window in enumerate(inputs["windows"]):
            scores = _softmax(logits[row, :len(window.ids)])
            tokens = self._tokens(inputs["texts"][window.item], window, scores)
            per_item[window.item].extend(self._entities(tokens, options))
            counts[window.item] += 1
        return [self._merge(entities, options) if count > 1 else entities for entities, count in zip(per_item, counts)]

    def _merge(self, entities: list[dict], options: dict) -> list[dict]:
        """The entities of an item read in several windows, merged."""
        return _overlapping(entities)

    # -- transformers' post-processing ----------------------------------------------------------

    def _label(self, index) -> str:
        return self.model.config.labels.get(int(index), f"LABEL_{int(index)}")

    def _tokens(self, text: str, window: _Window, scores) -> list[dict]:
        """transformers' gather_pre_entities: the non-special tokens with their
        scores, offsets and whether they continue a word (pos-tagging of
        pre-split words: whether they continue the previous token's word)."""
        backend = self.tokenizer.backend
        wordpiece = bool(getattr(backend.model, "continuing_subword_prefix", None))
        unk = self.tokenizer.unk_token_id
        by_word_ids = window.word_ids is not None and self.tags_given_words
        out = []
        for idx, token_id in enumerate(window.ids.tolist()):
            if window.special[idx]:
                continue
            word = backend.id_to_token(token_id)
            start, end = (int(x) for x in window.offsets[idx])
            ref = text[start:end]
            if wordpiece:
                is_subword = len(word) != len(ref)
            else:
                is_subword = start > 0 and " " not in text[start - 1:start + 1]
            if token_id == unk:
                word, is_subword = ref, False
            word_id = None if window.word_ids is None else int(window.word_ids[idx])
            if by_word_ids:
                is_subword = bool(out) and out[-1]["word_id"] == word_id
            out.append({"word": word, "scores": scores[idx], "start": start, "end": end, "index": idx,
                        "is_subword": is_subword, "word_id": word_id})
        return out

    def _tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self.tokenizer.backend.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def _words(self, tokens: list[dict], strategy: str) -> list[dict]:
        """transformers' aggregate_words: tokens -> words, one tag per word."""
        groups = []
        for token in tokens:
            if groups and token["is_subword"]:
                groups[-1].append(token)
            else:
                groups.append([token])
        words = []
        for group in groups:
            if strategy == "first":
                scores = group[0]["scores"]
            elif strategy == "max":
                scores = max(group, key=lambda t: t["scores"].max())["scores"]
            else:
                scores = np.nanmean(np.stack([t["scores"] for t in group]), axis=0)
            best = int(scores.argmax())
            words.append({"entity": self._label(best), "score": scores[best],
                          "word": self._tokens_to_string([t["word"] for t in group]),
                          "start": group[0]["start"], "end": group[-1]["end"], "word_id": group[0]["word_id"]})
        return words

    def _group(self, entities: list[dict]) -> list[dict]:
        """transformers' group_entities: adjacent entities of one tag (not
        starting a new B-) form a group."""
        groups = []
        for entity in entities:
            bi, tag = _tag(entity["entity"])
            if groups and tag == _tag(groups[-1][-1]["entity"])[1] and bi != "B":
                groups[-1].append(entity)
            else:
                groups.append([entity])
        return [{"entity_group": group[0]["entity"].split("-", 1)[-1],
                 "score": float(np.mean(np.nanmean([e["score"] for e in group]))),
                 "word": self._tokens_to_string([e["word"] for e in group]),
                 "start": group[0]["start"], "end": group[-1]["end"]} for group in groups]

    def _entities(self, tokens: list[dict], options: dict) -> list[dict]:
        strategy = options["aggregation_strategy"]
        if strategy in ("none", "simple"):
            entities = []
            for t in tokens:
                best = int(t["scores"].argmax())
                entities.append({"entity": self._label(best), "score": float(t["scores"][best]), "index": t["index"],
                                 "word": t["word"], "start": t["start"], "end": t["end"]})
        else:
            entities = self._words(tokens, strategy)
        if strategy != "none":
            entities = self._group(entities)
        ignore = options["ignore_labels"]
        key = "entity" if strategy == "none" else "entity_group"
        return [e for e in entities if e[key] not in ignore]


class PosTaggingPipeline(TokenClassificationPipeline):
    """Per-word tags: {"word", "start", "end", "label", "score"} for every word."""

    default_aggregation = "first"
    aggregations = WORD_AGGREGATIONS
    has_ignore_labels = False
    tags_given_words = True

    def _entities(self, tokens: list[dict], options: dict) -> list[dict]:
        split = options["is_split_into_words"]
        return [{"word": w["word"], "start": w["start"], "end": w["end"], "label": w["entity"],
                 "score": float(w["score"]), **({"word_id": w["word_id"]} if split else {})}
                for w in self._words(tokens, options["aggregation_strategy"])]

    def _merge(self, entities: list[dict], options: dict) -> list[dict]:
        if not options["is_split_into_words"]:
            return super()._merge(entities, options)
        best = {}       # word id -> the window's result with most of the word, then the most confident
        for e in entities:
            old = best.get(e["word_id"])
            if old is None or (e["end"] - e["start"], e["score"]) > (old["end"] - old["start"], old["score"]):
                best[e["word_id"]] = e
        return [best[k] for k in sorted(best)]

    def postprocess(self, items, inputs, logits, options):
        results = super().postprocess(items, inputs, logits, options)
        if not options["is_split_into_words"]:
            return results
        out = []       # the given words, at their places in the joined text
        for words, starts, item in zip(items, inputs["word_starts"], results):
            out.append([{"word": words[e["word_id"]], "start": int(starts[e["word_id"]]),
                         "end": int(starts[e["word_id"]]) + len(words[e["word_id"]]), "label": e["label"],
                         "score": e["score"]} for e in item])
        return out
