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
"""

from __future__ import annotations

import warnings

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


class TokenClassificationPipeline(Pipeline):
    default_aggregation = "none"
    aggregations = AGGREGATIONS
    has_ignore_labels = True

    # -- options ------------------------------------------------------------------------------

    def _sanitize(self, options: dict) -> dict:
        out = {"aggregation_strategy": options.pop("aggregation_strategy", self.default_aggregation),
               "stride": options.pop("stride", None)}
        known = ["aggregation_strategy", "stride"]
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
        """Every text -> its windows: (item, ids, offsets, special tokens mask, type ids)."""
        tok = self.tokenizer
        window, stride = self.content_window, options["stride"]
        if window is not None and window < 1:
            raise ValueError(f"the model window ({self.max_length}) leaves no room for text after the special tokens")
        encodings = self._encode(list(items), stride)
        windows = []
        for i, enc in enumerate(encodings):
            if stride is None and enc.overflowing:
                warnings.warn(f"{self.task}: a text longer than the model window ({self.max_length} tokens) is "
                              "truncated to it; pass stride= to read all of it", stacklevel=4)
            parts = [enc] + (list(enc.overflowing) if stride is not None else [])
            for part in parts:
                windows.append((i, np.asarray(part.ids, np.int32), np.asarray(part.offsets, np.int32).reshape(-1, 2),
                                np.asarray(part.special_tokens_mask, bool), np.asarray(part.type_ids, np.int32)))
        width = length_bucket(max(len(w[1]) for w in windows), self.max_length)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        n = len(windows)
        arrays = {"input_ids": np.full((n, width), pad, np.int32), "attention_mask": np.zeros((n, width), np.int32),
                  "token_type_ids": np.zeros((n, width), np.int32)}
        for row, (_, ids, _, _, type_ids) in enumerate(windows):
            arrays["input_ids"][row, :len(ids)] = ids
            arrays["attention_mask"][row, :len(ids)] = 1
            arrays["token_type_ids"][row, :len(ids)] = type_ids
        if "token_type_ids" not in tok.model_input_names:
            del arrays["token_type_ids"]
        return {"arrays": arrays, "windows": windows}

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
        for row, (i, ids, offsets, special, _) in enumerate(inputs["windows"]):
            scores = _softmax(logits[row, :len(ids)])
            tokens = self._tokens(items[i], ids, offsets, special, scores, options["aggregation_strategy"])
            per_item[i].extend(self._entities(tokens, options))
            counts[i] += 1
        return [_overlapping(entities) if count > 1 else entities for entities, count in zip(per_item, counts)]

    # -- transformers' post-processing ----------------------------------------------------------

    def _label(self, index) -> str:
        return self.model.config.labels.get(int(index), f"LABEL_{int(index)}")

    def _tokens(self, text, ids, offsets, special, scores, strategy) -> list[dict]:
        """transformers' gather_pre_entities: the non-special tokens with their
        scores, offsets and whether they continue a word."""
        backend = self.tokenizer.backend
        wordpiece = bool(getattr(backend.model, "continuing_subword_prefix", None))
        unk = self.tokenizer.unk_token_id
        out = []
        for idx in range(len(ids)):
            if special[idx]:
                continue
            word = backend.id_to_token(int(ids[idx]))
            start, end = int(offsets[idx, 0]), int(offsets[idx, 1])
            ref = text[start:end]
            if wordpiece:
                is_subword = len(word) != len(ref)
            else:
                is_subword = start > 0 and " " not in text[start - 1:start + 1]
            if int(ids[idx]) == unk:
                word, is_subword = ref, False
            out.append({"word": word, "scores": scores[idx], "start": start, "end": end, "index": idx,
                        "is_subword": is_subword})
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
                          "start": group[0]["start"], "end": group[-1]["end"]})
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

    def _entities(self, tokens: list[dict], options: dict) -> list[dict]:
        return [{"word": w["word"], "start": w["start"], "end": w["end"], "label": w["entity"],
                 "score": float(w["score"])} for w in self._words(tokens, options["aggregation_strategy"])]
