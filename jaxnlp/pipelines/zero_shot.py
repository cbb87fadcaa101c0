"""`zero-shot-classification`: transformers' ZeroShotClassificationPipeline
results over an NLI sequence classifier.

Each text is paired with every candidate label as a premise / hypothesis pair
(`hypothesis_template.format(label)`, default "This example is {}."), and the
classifier's entailment logit says how well the label fits. The entailment
id is the first label of `config.label2id` starting with "entail" (any case),
else -1 (the last logit), as transformers. Scores: with one label or
`multi_label=True`, a softmax over [contradiction, entailment] per label
(contradiction: id 0, or -1 when entailment is 0); otherwise a softmax of the
entailment logits over the labels. The result per text: {"sequence",
"labels", "scores"}, best first; a str gives one dict, a list a list.
`candidate_labels` is a list of str or one comma-separated str (split and
stripped, empty parts dropped), and may be the second positional argument.

Batching: the pairs of a chunk of `batch_size` texts are flattened (text
major, label minor) and go through the model `batch_size` pairs per forward
call, as transformers' `batch_size` counts model rows for this pipeline; each
call is padded to a length bucket and a batch bucket, so it reuses a compiled
shape. Pairs are tokenized with truncation="only_first" as transformers: a
long text is cut to fit the model window, the hypothesis never is.

Where we differ: an empty text, non-str, empty or repeated labels, a non-bool multi_label and
a template that does not insert the label (e.g. "{{}}"; transformers only
refuses one that formats to itself) are refused; a hypothesis that alone
does not fit the window raises ValueError (transformers then runs
untruncated and fails in the model).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from jaxnlp.pipelines.base import Pipeline
from jaxnlp.pipelines.text_classification import _softmax

DEFAULT_TEMPLATE = "This example is {}."


def parse_labels(labels) -> list[str] | None:
    """candidate_labels as a list of str (None stays None: not given)."""
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [x.strip() for x in labels.split(",") if x.strip()]
    elif isinstance(labels, np.ndarray) or (isinstance(labels, Sequence) and not isinstance(labels, bytes)):
        labels = list(labels)
    else:
        raise TypeError(f"candidate_labels must be a str or a list of str, got {type(labels).__name__}")
    if not labels:
        raise ValueError("candidate_labels is empty: give at least one label")
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise TypeError(f"candidate_labels[{i}] is a {type(label).__name__}, expected a str")
        if not label.strip():
            raise ValueError(f"candidate_labels[{i}] is empty (the hypothesis would name no label)")
    labels = [str(label) for label in labels]     # (numpy's str_ as str in the result)
    seen = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ValueError(f"candidate_labels[{i}] repeats candidate_labels[{seen[label]}] ({label!r}): "
                             "each label once")
        seen[label] = i
    return labels


def check_template(template) -> str:
    if not isinstance(template, str):
        raise TypeError(f"hypothesis_template must be a str, got {type(template).__name__}")
    try:
        inserted = "\u00abLABEL\u00bb" in template.format("\u00abLABEL\u00bb")   # "{}", "{0}", "{!r}" all insert
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"hypothesis_template {template!r} cannot be formatted with one label: {e!r}") from None
    if not inserted:
        raise ValueError(f"hypothesis_template {template!r} does not insert the label: put {{}} where it goes, "
                         f"as in {DEFAULT_TEMPLATE!r}")
    return template


class ZeroShotClassificationPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk

    def __post_init__(self):
        super().__post_init__()
        if self.entailment_id == -1:
            warnings.warn("no label of the model's label2id starts with 'entail': taking the last logit (-1) as "
                          "entailment, as transformers; define label2id in config.json for correct scores",
                          stacklevel=3)

    @property
    def entailment_id(self) -> int:
        config = self.model.config
        label2id = config.get("label2id") or {label: i for i, label in config.labels.items()}
        return next((int(i) for label, i in label2id.items() if label.lower().startswith("entail")), -1)

    def __call__(self, inputs, *args, **options):
        """`p(texts, candidate_labels, hypothesis_template=..., multi_label=...)`."""
        if len(args) == 1 and "candidate_labels" not in options:
            options["candidate_labels"] = args[0]
        elif args:
            raise TypeError(f"{self.task} takes the texts and candidate_labels as positional arguments, "
                            f"got {1 + len(args)}")
        if options.get("candidate_labels", self.defaults.get("candidate_labels")) is None:
            raise ValueError(f"{self.task} needs candidate_labels (a list of str or a comma-separated str)")
        return super().__call__(inputs, **options)

    def _sanitize(self, options: dict) -> dict:
        out = {"candidate_labels": parse_labels(options.pop("candidate_labels", None)),
               "hypothesis_template": check_template(options.pop("hypothesis_template", DEFAULT_TEMPLATE)),
               "multi_label": options.pop("multi_label", False)}
        if options:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(options)}; "
                            "known: candidate_labels, hypothesis_template, multi_label")
        if not isinstance(out["multi_label"], (bool, np.bool_)):
            raise TypeError(f"multi_label must be a bool, got {out['multi_label']!r}")
        return out

    def _check_item(self, item, index: int) -> None:
        super()._check_item(item, index)
        if not item.strip():
            raise ValueError(f"{self.task}: item {index} is an empty text")

    def preprocess(self, items, options):
        labels = options["candidate_labels"]
        hypotheses = [options["hypothesis_template"].format(label) for label in labels]
        premises = [text for text in items for _ in labels]        # [texts x labels], text major
        hypotheses = hypotheses * len(items)
        n = self.batch_size
        try:
            return [self.tokenizer(premises[i:i + n], hypotheses[i:i + n], truncation="only_first")
                    for i in range(0, len(premises), n)]
        except ValueError as e:
            if "only_first" not in str(e):
                raise
            raise ValueError(f"{self.task}: a hypothesis ({options['hypothesis_template']!r} with a label) "
                             f"leaves no room for the text in the model's {self.tokenizer.model_max_length} "
                             f"tokens: {e}") from None

    def forward(self, encoded: list, options):
        logits = []
        for batch in encoded:
            arrays, n = self.pad_batch(self.model_inputs(batch))
            logits.append(np.asarray(self.model(**arrays), np.float32)[:n])
        return np.concatenate(logits)

    def postprocess(self, items, encoded, logits, options):
        labels = options["candidate_labels"]
        logits = logits.reshape(len(items), len(labels), -1)     # [texts, labels, classes]
        entail = self.entailment_id
        if options["multi_label"] or len(labels) == 1:
            contradiction = -1 if entail == 0 else 0
            scores = _softmax(logits[..., [contradiction, entail]])[..., 1]
        else:
            scores = _softmax(logits[..., entail])
        results = []
        for text, row in zip(items, scores):
            order = np.argsort(row, kind="stable")[::-1]         # ties: the later label first, as transformers
            results.append({"sequence": text, "labels": [labels[i] for i in order],
                            "scores": [float(row[i]) for i in order]})
        return results
