"""Length-sorted batches: a list that spans several chunks is chunked longest
first (by characters), results come back in input order, errors name the
input index, and each chunk pads to its own items; the results still match
transformers' pipeline (which batches in input order) and our own unsorted
call."""

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

import jaxnlp
from jaxnlp.pipelines.base import Pipeline
from support.compare import assert_results_close
from support.pipelines import checkpoint, hf_pipeline

QA_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qa"


@dataclasses.dataclass
class Echo(Pipeline):
    """Results are the items themselves; `chunks` records what each run got."""
    sorts_by_length = True
    chunks: list = dataclasses.field(default_factory=list)

    def preprocess(self, items, options):
        self.chunks.append(list(items))
        return items

    def forward(self, inputs, options):
        return inputs

    def postprocess(self, items, inputs, outputs, options):
        return [f"<{x}>" for x in outputs]


ITEMS = ["bb", "a", "dddd", "ccc", "eeeee", "ff"]   # 2, 1, 4, 3, 5, 2 characters


def test_chunks_run_longest_first_and_results_come_back_in_input_order():
    pipe = Echo(model=None, tokenizer=None, batch_size=2)
    assert pipe(ITEMS) == [f"<{x}>" for x in ITEMS]
    # by length 5, 4, 3, then the two of 2 characters in input order ("bb" before "ff"), then 1
    assert pipe.chunks == [["eeeee", "dddd"], ["ccc", "bb"], ["ff", "a"]]


def test_input_order_is_kept_when_switched_off_in_one_chunk_or_for_other_tasks():
    off = Echo(model=None, tokenizer=None, batch_size=2, sort_by_length=False)
    assert off(ITEMS) == [f"<{x}>" for x in ITEMS]
    assert off.chunks == [["bb", "a"], ["dddd", "ccc"], ["eeeee", "ff"]]
    one = Echo(model=None, tokenizer=None, batch_size=6)      # one chunk: nothing to gain, order kept
    one(ITEMS)
    assert one.chunks == [ITEMS]

    @dataclasses.dataclass
    class Generating(Echo):   # a task that does not allow it (generation: batch composition matters)
        sorts_by_length = False

    gen = Generating(model=None, tokenizer=None, batch_size=2)
    gen(ITEMS)
    assert gen.chunks == [["bb", "a"], ["dddd", "ccc"], ["eeeee", "ff"]]


def test_dict_and_word_items_are_sized_by_all_their_text():
    pipe = Echo(model=None, tokenizer=None, batch_size=1)
    items = [{"question": "q", "context": "c" * 5}, {"question": "q" * 9, "context": "c"}, ("ab", "cd", "ef")]
    assert pipe.batch_order(items) == [1, 2, 0]     # 10, 9 (6 letters + 3 separators), 6 characters


def test_sort_by_length_must_be_a_bool():
    with pytest.raises(TypeError, match="sort_by_length must be a bool"):
        Echo(model=None, tokenizer=None, sort_by_length="yes")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    directory, _ = checkpoint("bert", "sequence-classification", tmp_path_factory.mktemp("bert"),
                              id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                              label2id={"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2})
    return directory


# 2 short and 2 long texts, interleaved: in input order every chunk of 2 holds a long one
MIXED = ["ok", "the quick brown fox jumps over the lazy dog " * 3, "bad plot",
         "john smith works in london and mary lives in paris " * 3]


def _padded_shapes(pipe, texts, **options):
    shapes = []
    pad_batch = pipe.pad_batch

    def recording(arrays):
        padded, n = pad_batch(arrays)
        shapes.append(padded["input_ids"].shape)
        return padded, n
    pipe.pad_batch = recording
    try:
        return pipe(texts, **options), shapes
    finally:
        del pipe.pad_batch


def test_sorted_chunks_pad_less_and_give_transformers_results(classifier):
    sorted_pipe = jaxnlp.pipeline("sentiment-analysis", model=classifier, batch_size=2)
    plain_pipe = jaxnlp.pipeline("sentiment-analysis", model=classifier, batch_size=2, sort_by_length=False)
    got, sorted_shapes = _padded_shapes(sorted_pipe, MIXED, top_k=None)
    plain, plain_shapes = _padded_shapes(plain_pipe, MIXED, top_k=None)
    # input order: both chunks hold a long text; sorted: the two long texts share one chunk
    assert min(plain_shapes[0][1], plain_shapes[1][1]) >= 32
    assert sorted_shapes[0][1] >= 32 and sorted_shapes[1][1] <= 8
    assert_results_close(got, hf_pipeline("text-classification", classifier, batch_size=2)(MIXED, top_k=None), 1e-4)
    assert_results_close(got, plain, 1e-5)


@functools.cache
def _qa():
    return jaxnlp.pipeline("question-answering", model=QA_FIXTURES / "bert", batch_size=1)


def test_an_error_names_the_input_index_of_a_sorted_item():
    context = "john smith works in london and mary lives in paris."
    items = [{"question": "who works?", "context": context}, {"question": "where?", "context": context},
             {"question": "the " * 30, "context": " ".join([context] * 4)}]
    # the third item is the longest, so it runs first; the message still calls it item 2
    with pytest.raises(ValueError, match="item 2: doc_stride=16 must be less than"):
        _qa()(items, max_seq_len=48, doc_stride=16)
    assert np.all([r["answer"] for r in _qa()(items[:2])])
