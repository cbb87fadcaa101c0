"""`fill-mask`: transformers' FillMaskPipeline results.

An item is a text holding the tokenizer's mask token (`tokenizer.mask_token`:
"[MASK]", "<mask>", ...). Its result is the `top_k` (default 5) most likely
fillers, best first, each {"score", "token", "token_str", "sequence"}:
`score` is the softmax probability over the whole vocabulary, `token` the
id, `token_str` its text (`decode([token])`), `sequence` the text with the
filler in place (special tokens and padding removed). A text with several
mask tokens gives one such list per mask, in text order; each mask is filled
on its own (the other masks are kept, so `sequence` then keeps the special
tokens too, as transformers does).

Options:
- `top_k`: how many fillers (a positive int; capped at the number of targets).
- `targets`: a str or a list of str; only these tokens are scored (their
  probabilities are still over the whole vocabulary). A target that is not a
  token of the vocabulary is tokenized (no special tokens) and its first token
  taken, with a warning; one that gives no token is dropped, with a warning
  (ValueError if none is left). As in transformers, duplicates count once.
- `tokenizer_kwargs`: {"truncation": bool, "max_length": int}. By default a
  text is not truncated (as transformers): a text over the model window raises
  InputTooLongError.

Results: a str gives its list (of dicts, or of lists for several masks), a
list of texts a list of those. (transformers returns the bare result for a
one-element list; here a list always gives a list.) A text without the mask
token raises ValueError naming the mask token.
"""

from __future__ import annotations

import warnings

import numpy as np

from jaxnlp.pipelines.base import Pipeline

TOKENIZER_KWARGS = ("truncation", "max_length")


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class FillMaskPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk
    item_types = (str,)
    item_name = "text"

    def _sanitize(self, options: dict) -> dict:
        if self.tokenizer.mask_token_id is None:
            raise ValueError(f"{self.task}: the tokenizer has no mask token")
        out = {"top_k": options.pop("top_k", 5), "targets": options.pop("targets", None),
               "tokenizer_kwargs": options.pop("tokenizer_kwargs", None)}
        if options:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(options)}; "
                            "known: top_k, targets, tokenizer_kwargs")
        top_k = out["top_k"]
        if top_k is None:
            out["top_k"] = 5
        elif isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        kwargs = out["tokenizer_kwargs"] or {}
        if not isinstance(kwargs, dict):
            raise TypeError(f"tokenizer_kwargs must be a dict, got {type(kwargs).__name__}")
        unknown = sorted(set(kwargs) - set(TOKENIZER_KWARGS))
        if unknown:
            raise TypeError(f"{self.task}: unsupported tokenizer_kwargs {unknown}; "
                            f"known: {', '.join(TOKENIZER_KWARGS)}")
        out["tokenizer_kwargs"] = {"truncation": bool(kwargs.get("truncation", False)),
                                   "max_length": kwargs.get("max_length")}
        if out["targets"] is not None:
            out["target_ids"] = self.target_ids(out["targets"])
        else:
            out["target_ids"] = None
        return out

    def target_ids(self, targets) -> np.ndarray:
        """Ids of `targets`, as transformers' `get_target_ids`."""
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
            raise TypeError(f"targets must be a str or a list of str, got {targets!r}")
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            id_ = vocab.get(target)
            if id_ is None:
                pieces = self.tokenizer.encode(target, add_special_tokens=False)
                if not pieces:
                    warnings.warn(f"The specified target token `{target}` does not exist in the model vocabulary. "
                                  "We cannot replace it with anything meaningful, ignoring it", stacklevel=4)
                    continue
                id_ = pieces[0]
                warnings.warn(f"The specified target token `{target}` does not exist in the model vocabulary. "
                              f"Replacing with `{self.tokenizer.convert_ids_to_tokens(id_)}`.", stacklevel=4)
            ids.append(int(id_))
        ids = sorted(set(ids))
        if not ids:
            raise ValueError("At least one target must be provided when passed.")
        return np.asarray(ids, np.int64)

    def _check_item(self, item, index: int) -> None:
        super()._check_item(item, index)
        if self.tokenizer.mask_token not in item:
            raise ValueError(f"{self.task}: item {index} has no mask token ({self.tokenizer.mask_token})")

    def preprocess(self, items, options):
        kw = options["tokenizer_kwargs"]
        encoded = self.tokenizer(items, truncation=kw["truncation"], max_length=kw["max_length"])
        mask_id = self.tokenizer.mask_token_id
        for i, row in enumerate(encoded["input_ids"]):
            if not (row == mask_id).any():     # the mask token was truncated away
                raise ValueError(f"{self.task}: no mask token ({self.tokenizer.mask_token}) left in "
                                 f"{items[i]!r} after truncation")
        return encoded

    def forward(self, encoded, options):
        arrays, n = self.pad_batch(self.model_inputs(encoded))
        return np.asarray(self.model(**arrays), np.float32)[:n]

    def postprocess(self, items, encoded, logits, options):
        tok = self.tokenizer
        target_ids = options["target_ids"]
        top_k = options["top_k"] if target_ids is None else min(options["top_k"], len(target_ids))
        results = []
        for ids, mask, row_logits in zip(encoded["input_ids"], encoded["attention_mask"], logits):
            ids = ids[mask.astype(bool)].astype(np.int64)
            positions = np.nonzero(ids == tok.mask_token_id)[0]
            probs = _softmax(row_logits[mask.astype(bool)][positions])      # [masks, vocab]
            if target_ids is not None:
                probs = probs[:, target_ids]
            single = len(positions) == 1
            per_mask = []
            for pos, p in zip(positions, probs):
                order = np.argsort(-p, kind="stable")[:top_k]
                fills = []
                for j in order:
                    token = int(j if target_ids is None else target_ids[j])
                    filled = ids.copy()
                    filled[pos] = token
                    if tok.pad_token_id is not None:
                        filled = filled[filled != tok.pad_token_id]
                    fills.append({"score": float(p[j]), "token": token,
                                  "token_str": tok.decode([token], skip_special_tokens=False),
                                  "sequence": tok.decode(filled, skip_special_tokens=single)})
                per_mask.append(fills)
            results.append(per_mask[0] if single else per_mask)
        return results
