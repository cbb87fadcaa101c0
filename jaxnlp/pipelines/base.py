"""What every pipeline shares: loading, input checks, batching.

A pipeline is tokenizer + model (+ generation) + post-processing. `Pipeline`
does the part that is the same for every task, written once:

- inputs: one item or a list; a list gives a list of results, one item one
  result. An empty list, or an item of the wrong type (TypeError naming its
  index), is refused before any work.
- batching: items go through in chunks of `batch_size`; the tokenizer pads
  each chunk to a length bucket, so the jitted forward compiles once per
  (batch bucket, length bucket). A tqdm bar shows when a list spans more than
  `progress_after` chunks.
- length-sorted batches: where the task allows it (`sorts_by_length`: the
  one-forward tasks, not generation) and a list spans more than one chunk,
  the items are chunked longest first by character count (as
  sentence-transformers' `encode` does), so a chunk's padding follows its
  own items rather than the longest of a random mix; results come back in
  input order. `sort_by_length=False` keeps the input order.

Subclasses define `preprocess(items, options) -> model inputs`,
`forward(inputs) -> outputs` (numpy) and `postprocess(items, inputs, outputs,
options) -> results`, one per item, and `_sanitize(options)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from jaxnlp.buckets import batch_bucket


@dataclasses.dataclass
class Pipeline:
    model: Any                 # jaxnlp.models.auto.Model
    tokenizer: Any             # jaxnlp.tokenization.Tokenizer
    batch_size: int = 8
    progress_after: int = 4    # chunks before a progress bar shows
    task: str = ""
    defaults: dict = dataclasses.field(default_factory=dict)   # task options given to pipeline()
    sort_by_length: bool = True  # chunk a list longest first (where sorts_by_length), results in input order

    item_types: ClassVar[tuple] = (str,)          # what one input item may be
    item_name: ClassVar[str] = "text"
    sorts_by_length: ClassVar[bool] = False       # items are independent: their chunking may follow their length

    def __post_init__(self):
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if not isinstance(self.sort_by_length, (bool, np.bool_)):
            raise TypeError(f"sort_by_length must be a bool, got {self.sort_by_length!r}")
        self._sanitize(dict(self.defaults))          # bad task options fail at construction

    # -- the shared call --------------------------------------------------------------------

    def __call__(self, inputs, **options):
        options = self._sanitize({**self.defaults, **options})
        inputs = self._prepare_inputs(inputs, options)
        single = self._is_single(inputs)
        items = [inputs] if single else self._as_list(inputs)
        for i, item in enumerate(items):
            self._check_item(item, i)
        order = self.batch_order(items)
        results = []
        chunks = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for indices in self._progress(chunks):
            self._chunk_indices = indices
            results.extend(self._run([items[i] for i in indices], options))
        if order != list(range(len(items))):
            restored = [None] * len(items)
            for position, index in enumerate(order):
                restored[index] = results[position]
            results = restored
        return self._shape_output(results, single, options, inputs)

    def item_index(self, position: int) -> int:
        """The input index of the item at `position` in the chunk being run
        (for error messages: chunks may be sorted by length)."""
        indices = getattr(self, "_chunk_indices", None)
        return indices[position] if indices is not None and position < len(indices) else position

    def batch_order(self, items: list) -> list[int]:
        """The order in which items are chunked: longest first by character
        count (stable) where the task allows it and the list spans more than
        one chunk; else the input order."""
        if not (self.sorts_by_length and self.sort_by_length) or len(items) <= self.batch_size:
            return list(range(len(items)))
        sizes = [_size(item) for item in items]
        return sorted(range(len(items)), key=lambda i: -sizes[i])

    def _run(self, chunk: list, options: dict) -> list:
        inputs = self.preprocess(chunk, options)
        outputs = self.forward(inputs, options)
        return self.postprocess(chunk, inputs, outputs, options)

    def _prepare_inputs(self, inputs, options: dict):
        """The call's inputs as the item checks expect them, given the sanitized options (default: as passed)."""
        return inputs

    def _is_single(self, inputs) -> bool:
        return isinstance(inputs, self.item_types)

    def _as_list(self, inputs) -> list:
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
            if isinstance(inputs, np.ndarray):
                inputs = inputs.tolist()
            elif not isinstance(inputs, (list, tuple)):
                raise TypeError(f"{self.task} takes a {self.item_name} or a list of them, "
                                f"got {type(inputs).__name__}")
        items = list(inputs)
        if not items:
            raise ValueError(f"{self.task}: the input list is empty")
        return items

    def _check_item(self, item, index: int) -> None:
        if not isinstance(item, self.item_types):
            raise TypeError(f"{self.task}: item {index} is a {type(item).__name__}, expected a {self.item_name}")

    def _progress(self, chunks):
        if len(chunks) <= self.progress_after:
            return chunks
        from tqdm.auto import tqdm

        return tqdm(chunks, desc=self.task, unit="batch")

    def _shape_output(self, results: list, single: bool, options: dict, inputs):
        return results[0] if single else results

    # -- helpers for subclasses ---------------------------------------------------------------

    def pad_batch(self, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
        """Rows padded up to the batch bucket (copies of the last row), so a
        last, short chunk reuses a compiled shape. Returns (arrays, real rows)."""
        n = next(iter(arrays.values())).shape[0]
        target = batch_bucket(n)
        if target == n:
            return arrays, n
        return {k: np.concatenate([v, np.repeat(v[-1:], target - n, axis=0)]) for k, v in arrays.items()}, n

    def model_inputs(self, encoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        return {k: encoded[k] for k in keys if k in encoded}

    # -- to define ----------------------------------------------------------------------------

    def _sanitize(self, options: dict) -> dict:
        if options:
            raise TypeError(f"{self.task} takes no option(s) {sorted(options)}")
        return options

    def preprocess(self, items: list, options: dict):
        raise NotImplementedError

    def forward(self, inputs, options: dict):
        raise NotImplementedError

    def postprocess(self, items: list, inputs, outputs, options: dict) -> list:
        raise NotImplementedError


def _size(item) -> int:
    """Characters of an item's text(s): a str, a dict's str values (a QA
    question and context, a text and text_pair), a tuple of words."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return sum(len(v) for v in item.values() if isinstance(v, str))
    if isinstance(item, (tuple, list)):
        return sum(_size(x) + 1 for x in item)
    return 0
