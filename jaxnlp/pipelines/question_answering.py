"""`question-answering`: extractive answers, as transformers 4.57's
QuestionAnsweringPipeline gives them (transformers 5 dropped the task).

Inputs: a {"question": ..., "context": ...} dict, a list of them, two
positional strs (question, context), or `question=` / `context=` keywords
(a str each; a list of questions with one context; or two lists of the same
length). A result is a dict {"score", "start", "end", "answer"}: `start` /
`end` are character offsets into the context (`context[start:end] ==
answer`, also for non-ASCII text), `score` the probability of the span. With
`top_k` > 1 the result is a list of such dicts, best first, unless only one
answer was found (then the dict itself, as in transformers).

Options (transformers' names and defaults):
- `top_k` (1): answers per item.
- `max_seq_len` (the model window, at most 384) and `doc_stride`
  (min(max_seq_len // 2, 128)): a context that does not fit beside the
  question is read in overlapping windows of `max_seq_len` tokens (question
  and special tokens included), each repeating `doc_stride` context tokens of
  the previous one (transformers' `truncation="only_second"` with
  `return_overflowing_tokens`); answers of all windows compete, the same text
  found twice adds its scores.
- `max_answer_len` (15): the longest answer, in tokens.
- `handle_impossible_answer` (False): also offer the empty answer
  {"answer": "", "start": 0, "end": 0}, scored by the first token (the lowest
  such score over the windows).
- `align_to_words` (True): widen an answer to whole words (else token offsets).
- `max_question_len` (64): accepted and checked, but, as in transformers'
  path for fast tokenizers (the one every jaxnlp tokenizer is), the question
  is not truncated.

Scoring is transformers' own numpy code (softmax over the context tokens and
the first token of each window, outer product of start and end
probabilities, argpartition over the candidates), so answers and their order
match it. Windows come from `Tokenizer.encode_windows` over (question,
context) pairs with transformers' truncation settings ("only_second" with
the stride), so their tokens, offsets and word ids are the ones transformers
sees.

Where jaxnlp differs, and why:
- A list always gives a list of results (transformers returns a bare result
  for a list of one item), as every jaxnlp pipeline does.
- Bad inputs fail before any work with the item's index: a non-dict item or a
  non-str question/context is a TypeError, a missing key a KeyError, an empty
  question or context a ValueError ("`context` cannot be empty"), an empty
  list a ValueError (transformers returns []). A question so long that no
  context token fits in `max_seq_len`, or a `doc_stride` not smaller than the
  context tokens a window holds, is a ValueError naming both numbers
  (transformers fails inside `tokenizers`, with a Rust panic for the latter).
  A context of blanks only is not refused: as in transformers it has no (or
  only blank) tokens and gets the empty answer with score 0 (or a blank one).
- Tokenizers that pad on the left (XLNet-style: context first) are refused;
  no architecture jaxnlp has with a question-answering head uses one.
- `padding` (a transformers option with no effect on answers) is not taken:
  windows are padded to length buckets for the jitted forward.
"""

from __future__ import annotations


import numpy as np

from jaxnlp.buckets import length_bucket
from jaxnlp.pipelines.base import Pipeline

DEFAULT_MAX_SEQ_LEN = 384
OPTIONS = {"top_k": 1, "doc_stride": None, "max_answer_len": 15, "max_seq_len": None, "max_question_len": 64,
           "handle_impossible_answer": False, "align_to_words": True}
KEYS = ("question", "context")


def select_spans(start, end, allowed, top_k: int, max_answer_len: int):
    """transformers' select_starts_ends + decode_spans for one window:
    `(starts, ends, scores, null score)`. `allowed` marks the tokens that may
    be in an answer (context tokens; the first token, whose probability is the
    null score, takes part in the softmax but starts no span)."""
    masked = ~allowed
    start = np.where(masked, -10000.0, start).astype(np.float32)       # [seq]
    end = np.where(masked, -10000.0, end).astype(np.float32)
    start = np.exp(start - start.max())
    start = start / start.sum()
    end = np.exp(end - end.max())
    end = end / end.sum()
    null = (start[0] * end[0]).item()
    start[0] = end[0] = 0.0
    # score of every (start, end) with start <= end < start + max_answer_len
    candidates = np.tril(np.triu(np.matmul(start[:, None], end[None, :])), max_answer_len - 1)   # [seq, seq]
    flat = candidates.flatten()
    if top_k == 1:
        order = np.array([np.argmax(flat)])
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        order = np.argpartition(-flat, top_k)[:top_k]
        order = order[np.argsort(-flat[order])]
    starts, ends = np.unravel_index(order, candidates.shape)
    # transformers' test also lets index 0 through (np.isin against a 2-D nonzero() holds the row index 0)
    ok = allowed.copy()
    ok[0] = True
    keep = ok[starts] & ok[ends]
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[starts, ends], null


def char_span(enc, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
    """transformers' get_indices: the context characters of tokens s..e,
    widened to whole words with `align_to_words` (token offsets where a token
    has no word, e.g. a special token)."""
    if align_to_words:
        try:
            start = enc.word_to_chars(enc.token_to_word(s), sequence_index=1)[0]
            end = enc.word_to_chars(enc.token_to_word(e), sequence_index=1)[1]
            return start, end
        except Exception:  # noqa: BLE001 -- transformers falls back on any failure (None word, no chars)
            pass
    return enc.offsets[s][0], enc.offsets[e][1]


class QuestionAnsweringPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk
    item_types = (dict,)
    item_name = "{'question': str, 'context': str} dict"

    def __post_init__(self):
        if self.tokenizer.padding_side != "right":
            raise ValueError("question-answering needs a tokenizer that pads on the right (question first); "
                             f"this one pads on the {self.tokenizer.padding_side}")
        super().__post_init__()

    # -- inputs -------------------------------------------------------------------------------

    def __call__(self, *args, question=None, context=None, **options):
        return super().__call__(self._gather(args, question, context), **options)

    def _gather(self, args, question, context):
        """transformers' argument forms -> one dict or a list of dicts."""
        if args:
            if question is not None or context is not None:
                raise TypeError(f"{self.task}: pass the inputs either positionally or as question=/context=")
            if len(args) == 1:
                return args[0]
            if len(args) == 2 and all(isinstance(a, str) for a in args):
                return {"question": args[0], "context": args[1]}
            raise TypeError(f"{self.task} takes one input (a dict or a list of dicts) or two strs (question, "
                            f"context), got {len(args)} positional arguments")
        if question is None or context is None:
            raise TypeError(f"{self.task} needs a question and a context: a {{'question', 'context'}} dict, a "
                            "list of them, or question= and context=")
        if isinstance(question, str) and isinstance(context, str):
            return {"question": question, "context": context}
        if isinstance(question, (list, tuple)) and isinstance(context, str):
            return [{"question": q, "context": context} for q in question]
        if isinstance(question, (list, tuple)) and isinstance(context, (list, tuple)):
            if len(question) != len(context):
                raise ValueError(f"{self.task}: {len(question)} questions but {len(context)} contexts")
            return [{"question": q, "context": c} for q, c in zip(question, context)]
        raise TypeError(f"{self.task}: question= and context= take two strs, a list of questions and one context, "
                        f"or two lists; got {type(question).__name__} and {type(context).__name__}")

    def _check_item(self, item, index: int) -> None:
        super()._check_item(item, index)
        for key in KEYS:
            if key not in item:
                raise KeyError(f"{self.task}: item {index} has no {key!r} (a dict with keys 'question' and "
                               "'context' is expected)")
            if not isinstance(item[key], str):
                raise TypeError(f"{self.task}: item {index}: `{key}` is a {type(item[key]).__name__}, expected a str")
            if not item[key]:
                raise ValueError(f"`{key}` cannot be empty (item {index})")
        unknown = sorted(set(item) - set(KEYS))
        if unknown:
            raise TypeError(f"{self.task}: item {index} has unexpected key(s) {unknown}; "
                            "expected 'question' and 'context'")

    # -- options ------------------------------------------------------------------------------

    @property
    def window_limit(self) -> int | None:
        """The longest window the model and the tokenizer take (None: no limit)."""
        limits = [x for x in (self.tokenizer.model_max_length, getattr(self.model, "max_positions", None))
                  if x is not None]
        return min(limits) if limits else None

    def _sanitize(self, options: dict) -> dict:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"{self.task} got unknown option(s) {unknown}; known: {', '.join(OPTIONS)}")
        out = {**OPTIONS, **options}
        for name in ("top_k", "max_answer_len", "max_question_len", "max_seq_len", "doc_stride"):
            value, low = out[name], 0 if name == "doc_stride" else 1
            if value is None and name in ("max_seq_len", "doc_stride"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
            out[name] = int(value)
        for name in ("handle_impossible_answer", "align_to_words"):
            if not isinstance(out[name], (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {out[name]!r}")
            out[name] = bool(out[name])
        limit = self.window_limit
        if out["max_seq_len"] is None:
            out["max_seq_len"] = min(limit, DEFAULT_MAX_SEQ_LEN) if limit is not None else DEFAULT_MAX_SEQ_LEN
        elif limit is not None and out["max_seq_len"] > limit:
            raise ValueError(f"max_seq_len={out['max_seq_len']} is over the model window ({limit} tokens)")
        max_seq_len = out["max_seq_len"]
        if out["doc_stride"] is None:
            out["doc_stride"] = min(max_seq_len // 2, 128)
        if out["doc_stride"] > max_seq_len:
            raise ValueError(f"`doc_stride` ({out['doc_stride']}) is larger than `max_seq_len` ({max_seq_len})")
        n_special = self.tokenizer.backend.num_special_tokens_to_add(True)
        if max_seq_len <= n_special + 1:
            raise ValueError(f"max_seq_len={max_seq_len} leaves no room for a question and a context beside the "
                             f"{n_special} special tokens of a pair")
        if out["doc_stride"] >= max_seq_len - n_special:
            raise ValueError(f"doc_stride={out['doc_stride']} must be less than max_seq_len={max_seq_len} less the "
                             f"{n_special} special tokens of a question-context pair")
        return out

    # -- the three steps ----------------------------------------------------------------------

    def preprocess(self, items, options):
        """Every (question, context) -> its windows: (item, tokenizers.Encoding, answer-token mask)."""
        max_seq_len, stride = options["max_seq_len"], options["doc_stride"]
        questions, contexts = [item["question"] for item in items], [item["context"] for item in items]
        encodings = self.tokenizer.encode_windows(questions, None, pairs=contexts)
        too_long = [i for i, enc in enumerate(encodings) if len(enc.ids) > max_seq_len]
        for i in too_long:  # what transformers leaves to tokenizers (an error, or a Rust panic)
            sequence_ids = encodings[i].sequence_ids
            question = sequence_ids.count(0)
            room = max_seq_len - (len(sequence_ids) - sequence_ids.count(1))
            if room <= 0:
                raise ValueError(f"item {self.item_index(i)}: the question takes {question} tokens, which leaves "
                                 f"no room for the context in max_seq_len={max_seq_len} tokens; raise max_seq_len "
                                 "or shorten the question")
            if stride >= room:
                raise ValueError(f"item {self.item_index(i)}: doc_stride={stride} must be less than the {room} "
                                 f"context tokens a window holds beside the question (max_seq_len={max_seq_len}); "
                                 "lower doc_stride")
        if too_long:
            long = self.tokenizer.encode_windows([questions[i] for i in too_long], max_seq_len, stride=stride,
                                                 pairs=[contexts[i] for i in too_long], strategy="only_second")
            for i, enc in zip(too_long, long):
                encodings[i] = enc
        cls = self.tokenizer.cls_token_id
        windows = []
        for i, enc in enumerate(encodings):
            for part in [enc] + list(enc.overflowing):
                ids = np.asarray(part.ids, np.int32)
                # context tokens, and the cls token (which scores "no answer")
                allowed = np.array([s == 1 for s in part.sequence_ids]) | (ids == cls if cls is not None else False)
                windows.append((i, part, allowed))
        width = length_bucket(max(len(w[1].ids) for w in windows), max_seq_len)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        n = len(windows)
        arrays = {"input_ids": np.full((n, width), pad, np.int32), "attention_mask": np.zeros((n, width), np.int32),
                  "token_type_ids": np.zeros((n, width), np.int32)}
        for row, (_, enc, _) in enumerate(windows):
            k = len(enc.ids)
            arrays["input_ids"][row, :k] = enc.ids
            arrays["attention_mask"][row, :k] = 1
            arrays["token_type_ids"][row, :k] = enc.type_ids
        if "token_type_ids" not in self.tokenizer.model_input_names:
            del arrays["token_type_ids"]
        return {"arrays": arrays, "windows": windows}

    def forward(self, inputs, options):
        """(start logits, end logits), float32 [windows, width]."""
        arrays = inputs["arrays"]
        starts, ends = [], []
        for first in range(0, arrays["input_ids"].shape[0], self.batch_size):
            part, rows = self.pad_batch({k: v[first:first + self.batch_size] for k, v in arrays.items()})
            start, end = self.model(**part)
            starts.append(np.asarray(start, np.float32)[:rows])
            ends.append(np.asarray(end, np.float32)[:rows])
        return np.concatenate(starts), np.concatenate(ends)

    def postprocess(self, items, inputs, outputs, options):
        """transformers' postprocess, per item over its windows."""
        start_logits, end_logits = outputs
        top_k, align = options["top_k"], options["align_to_words"]
        pre_top_k = top_k * 2 + 10 if align else top_k    # aligning to words merges some candidates
        answers = [[] for _ in items]
        null_scores = [1000000.0] * len(items)
        for row, (i, enc, allowed) in enumerate(inputs["windows"]):
            k = len(enc.ids)
            starts, ends, scores, null = select_spans(start_logits[row, :k], end_logits[row, :k], allowed,
                                                      pre_top_k, options["max_answer_len"])
            null_scores[i] = min(null_scores[i], null)
            context = items[i]["context"]
            for s, e, score in zip(starts, ends, scores):
                first, last = char_span(enc, int(s), int(e), align)
                text = context[first:last]
                same = next((a for a in answers[i] if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score.item()
                else:
                    answers[i].append({"score": score.item(), "start": first, "end": last, "answer": text})
        results = []
        for found, null in zip(answers, null_scores):
            if options["handle_impossible_answer"]:
                found.append({"score": null, "start": 0, "end": 0, "answer": ""})
            found = sorted(found, key=lambda a: a["score"], reverse=True)[:top_k]
            results.append(found[0] if len(found) == 1 else found)
        return results
