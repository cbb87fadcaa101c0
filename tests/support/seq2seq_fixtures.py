"""The committed seq2seq fixtures (tests/fixtures/seq2seq/, written by
scripts/fixtures/seq2seq_ref457.py with transformers 4.57): checkpoint
directories and reference.json, the 4.57 translation / summarization
pipeline outputs on them. Pipelines are built once per (fixture, task,
pipeline kwargs) and shared by the tests of a session."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import jaxnlp

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "seq2seq"


@cache
def reference() -> dict:
    return json.loads((ROOT / "reference.json").read_text(encoding="utf-8"))


def cases(task: str) -> list[dict]:
    return reference()[task]


def case_ids(task: str) -> list[str]:
    return [c["id"] for c in cases(task)]


def case(task: str, name: str) -> dict:
    return next(c for c in cases(task) if c["id"] == name)


@cache
def _pipeline(fixture: str, task: str, kwargs: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # "translation" without languages: the first translation_* key
        return jaxnlp.pipeline(task, model=ROOT / fixture, **json.loads(kwargs))


def pipeline_for(c: dict):
    return _pipeline(c["fixture"], c["task"], json.dumps(c["pipeline_kwargs"], sort_keys=True))


def run(c: dict, **extra):
    """Our output for a reference case (truncation warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline_for(c)(c["inputs"], **c["options"], **extra)


def encoder_ids(c: dict) -> list[list[int]]:
    """The encoder input ids our pipeline builds for each input of a case."""
    pipe = pipeline_for(c)
    items = [c["inputs"]] if isinstance(c["inputs"], str) else c["inputs"]
    options = pipe._sanitize({**pipe.defaults, **c["options"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ids, mask, _ = pipe.preprocess(items, options)
    return [row[m == 1].tolist() for row, m in zip(ids, mask)]


def first_results(output) -> list[str]:
    """The first result of each input of a pipeline output, as JSON strings."""
    return [json.dumps(item[0] if isinstance(item, list) else item, sort_keys=True) for item in output]
