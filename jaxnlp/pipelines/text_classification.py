"""`text-classification` / `sentiment-analysis`: transformers'
TextClassificationPipeline results.

An item is a text, or a dict {"text", "text_pair"} for sentence pairs. The
result per item: {"label", "score"} (the best label), or with `top_k` a list
of the k best (`top_k=None`: every label), best first. Scores go through
`function_to_apply`: "softmax", "sigmoid" or "none"; by default sigmoid for
multi-label checkpoints (problem_type "multi_label_classification") and
single-logit ones, softmax otherwise — as transformers decides. As in
transformers, a single text (a str) with no `top_k` given returns a one-element list.

Texts longer than the model window are truncated (`truncation=True`, the
default here; transformers fails on them), or refused with
InputTooLongError when `truncation=False`.
"""

from __future__ import annotations

import numpy as np

from jaxnlp.pipelines.base import Pipeline

_UNSET = object()
FUNCTIONS = ("softmax", "sigmoid", "none")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class TextClassificationPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk
    item_types = (str, dict)
    item_name = "text (or {'text', 'text_pair'} dict)"

    def _sanitize(self, options: dict) -> dict:
        out = {"top_k": options.pop("top_k", _UNSET), "truncation": options.pop("truncation", True),
               "function_to_apply": options.pop("function_to_apply", None)}
        if options:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(options)}; "
                            "known: top_k, function_to_apply, truncation")
        top_k = out["top_k"]
        if top_k is not _UNSET and top_k is not None and (
                isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        fn = out["function_to_apply"]
        if fn is not None:
            fn = str(getattr(fn, "value", fn)).lower()
            if fn not in FUNCTIONS:
                raise ValueError(f"function_to_apply must be one of {FUNCTIONS}, got {out['function_to_apply']!r}")
            out["function_to_apply"] = fn
        return out

    def _check_item(self, item, index: int) -> None:
        super()._check_item(item, index)
        if isinstance(item, dict):
            if set(item) - {"text", "text_pair"} or not isinstance(item.get("text"), str) or not isinstance(
                    item.get("text_pair", ""), str):
                raise TypeError(f"{self.task}: item {index} must be a str or a dict with str 'text' "
                                "(and optional 'text_pair')")
        text = item if isinstance(item, str) else item["text"]
        if not text.strip():
            raise ValueError(f"{self.task}: item {index} is an empty text")

    def preprocess(self, items, options):
        texts = [x if isinstance(x, str) else x["text"] for x in items]
        pairs = [None if isinstance(x, str) else x.get("text_pair") for x in items]
        if any(p is not None for p in pairs):
            if any(p is None for p in pairs):
                # mixed single texts and pairs: encode one at a time, same padding per chunk
                return [self.tokenizer([t], None if p is None else [p], truncation=options["truncation"])
                        for t, p in zip(texts, pairs)]
            return self.tokenizer(texts, pairs, truncation=options["truncation"])
        return self.tokenizer(texts, truncation=options["truncation"])

    def forward(self, encoded, options):
        if isinstance(encoded, list):
            return np.concatenate([self.forward(e, options) for e in encoded])
        arrays, n = self.pad_batch(self.model_inputs(encoded))
        return np.asarray(self.model(**arrays), np.float32)[:n]

    def function_for(self, num_labels: int) -> str:
        problem = self.model.config.get("problem_type")
        if problem == "multi_label_classification" or num_labels == 1:
            return "sigmoid"
        return "softmax"

    def postprocess(self, items, encoded, logits, options):
        labels = self.model.config.labels
        fn = options["function_to_apply"] or self.function_for(logits.shape[-1])
        scores = _softmax(logits) if fn == "softmax" else _sigmoid(logits) if fn == "sigmoid" else logits
        results = []
        for row in scores:
            if options["top_k"] is _UNSET:
                best = int(np.argmax(row))
                results.append({"label": labels.get(best, f"LABEL_{best}"), "score": float(row[best])})
                continue
            order = np.argsort(-row, kind="stable")
            if options["top_k"] is not None:
                order = order[:options["top_k"]]
            results.append([{"label": labels.get(int(i), f"LABEL_{int(i)}"), "score": float(row[i])}
                            for i in order])
        return results

    def _shape_output(self, results, single, options, inputs):
        if single:   # transformers' legacy: one str without top_k -> a one-element list
            return [results[0]] if options["top_k"] is _UNSET and isinstance(inputs, str) else results[0]
        return results
