"""question-answering against transformers 4.57's QuestionAnsweringPipeline
(transformers 5 dropped it). The checkpoints (bert / WordPiece, roberta /
byte-level BPE, xlm-roberta / SentencePiece) and 4.57's outputs on them are
fixtures written by scripts/fixtures/qa_ref457.py, so this test needs neither
torch nor 4.57: every case gives the same answers, starts and ends (character
offsets, non-ASCII contexts included), in the same order and the same result
structure, with scores within 1e-4, and the same number of windows per item."""

import functools
import json
from pathlib import Path

import pytest

import jaxnlp
from support.compare import assert_results_close

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "qa"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text(encoding="utf-8"))
CASES = {(c["model"], c["name"]): c for c in REFERENCE["cases"]}
TOL = 1e-4
CONTEXT = "john smith works in london and mary lives in paris."


@functools.cache
def qa(model: str):
    return jaxnlp.pipeline("question-answering", model=FIXTURES / model)


def run(pipe, case):
    if case["call"] == "kwargs":
        return pipe(**case["inputs"], **case["options"])
    return pipe(case["inputs"], **case["options"])


def assert_same(ours, ref):
    """Same structure; answers, starts and ends exactly; scores within TOL."""
    def key_order(ours, ref):
        assert list(ours) == list(ref), (ours, ref)

    assert_results_close(ours, ref, TOL, check=key_order)


def test_reference_is_not_trivial():
    """The fixtures must exercise what they claim: varied answers, several
    windows for the long contexts, non-ASCII offsets, the empty answer."""
    assert REFERENCE["transformers"].startswith("4.57")
    for model in REFERENCE["models"]:
        cases = [c for c in REFERENCE["cases"] if c["model"] == model]
        texts = set()
        for c in cases:
            stack = [c["output"]]
            while stack:
                x = stack.pop()
                if isinstance(x, list):
                    stack.extend(x)
                else:
                    texts.add(x["answer"])
        assert len(texts) >= 10, texts
        assert all(min(c["windows"]) >= 3 for c in cases if c["name"].startswith("long")), model
        assert any(not a.isascii() for a in texts), model
    assert CASES[("bert", "impossible_null_wins")]["output"][0]["answer"] == ""
    assert "" in [a["answer"] for a in CASES[("roberta", "impossible_null_ranked")]["output"]]


@pytest.mark.parametrize("key", list(CASES), ids=[f"{m}-{n}" for m, n in CASES])
def test_matches_transformers(key):
    case = CASES[key]
    pipe = qa(case["model"])
    assert_same(run(pipe, case), case["output"])
    # the same windows as 4.57's preprocess
    options = pipe._sanitize(dict(case["options"]))
    inputs = pipe._gather((), **case["inputs"]) if case["call"] == "kwargs" else case["inputs"]
    items = [inputs] if isinstance(inputs, dict) else inputs
    windows = pipe.preprocess(items, options)["windows"]
    assert [sum(1 for w in windows if w[0] == i) for i in range(len(items))] == case["windows"]


def test_offsets_point_into_the_context():
    case = CASES[("xlm-roberta", "top_k5_non_ascii")]
    context = case["inputs"]["context"]
    for answer in qa("xlm-roberta")(case["inputs"], **case["options"]):
        assert context[answer["start"]:answer["end"]] == answer["answer"]


def test_call_forms_agree():
    """A list of one gives a list of one (transformers unwraps it); two
    positional strs, question=/context= and a dict are the same call."""
    pipe = qa("bert")
    case = CASES[("bert", "single")]
    question, context = case["inputs"]["question"], case["inputs"]["context"]
    assert_same(pipe([case["inputs"]]), [case["output"]])
    assert_same(pipe(question=[question], context=context), [case["output"]])
    assert_same(pipe(question, context), case["output"])
    assert_same(pipe(question=question, context=context), case["output"])


def test_options_at_construction():
    pipe = jaxnlp.pipeline("question-answering", model=FIXTURES / "bert", top_k=3)
    case = CASES[("bert", "top_k3")]
    assert_same(pipe(case["inputs"]), case["output"])
    assert_same(pipe(case["inputs"], top_k=1), CASES[("bert", "single")]["output"])
    with pytest.raises(ValueError, match="top_k"):
        jaxnlp.pipeline("question-answering", model=FIXTURES / "bert", top_k=0)


def test_very_long_context():
    """Hundreds of windows: the answer still points into the context."""
    context = " ".join([CONTEXT] * 300)
    item = {"question": "where does mary live?", "context": context}
    before = dict(item)
    out = qa("roberta")(item, max_seq_len=64, doc_stride=16, top_k=2)
    assert item == before                               # the input is not changed
    assert len(out) == 2 and all(context[a["start"]:a["end"]] == a["answer"] for a in out)
    assert out[0]["score"] >= out[1]["score"] > 0


def test_bad_items():
    pipe = qa("bert")
    good = {"question": "who?", "context": CONTEXT}
    with pytest.raises(ValueError, match="`context` cannot be empty"):
        pipe({"question": "who?", "context": ""})
    with pytest.raises(ValueError, match="`question` cannot be empty"):
        pipe(question="", context=CONTEXT)
    with pytest.raises(ValueError, match=r"`context` cannot be empty \(item 1\)"):
        pipe([good, {"question": "who?", "context": ""}])
    with pytest.raises(KeyError, match="item 1 has no 'context'"):
        pipe([good, {"question": "who?"}])
    with pytest.raises(TypeError, match="item 1 is a str"):
        pipe([good, "who?"])
    with pytest.raises(TypeError, match="item 2: `question` is a int"):
        pipe(question=["who?", "where?", 3], context=CONTEXT)
    with pytest.raises(TypeError, match="item 0: `context` is a NoneType"):
        pipe({"question": "who?", "context": None})
    with pytest.raises(TypeError, match="unexpected key"):
        pipe({**good, "answer": "john"})
    with pytest.raises(ValueError, match="empty"):
        pipe([])
    with pytest.raises(ValueError, match="empty"):
        pipe(question=[], context=CONTEXT)
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        pipe(question=["who?", "where?"], context=[CONTEXT])
    with pytest.raises(TypeError, match="needs a question and a context"):
        pipe(question="who?")
    with pytest.raises(TypeError, match="takes one input"):
        pipe("who?", CONTEXT, "extra")
    with pytest.raises(TypeError, match="question= and context= take"):
        pipe(question="who?", context=[CONTEXT])


def test_bad_options():
    pipe = qa("bert")
    item = {"question": "who?", "context": CONTEXT}
    with pytest.raises(TypeError, match="unknown option"):
        pipe(item, topk=2)
    for name in ("top_k", "max_answer_len", "max_question_len", "max_seq_len"):
        with pytest.raises(ValueError, match=name):
            pipe(item, **{name: 0})
    with pytest.raises(TypeError, match="handle_impossible_answer"):
        pipe(item, handle_impossible_answer="yes")
    with pytest.raises(ValueError, match="max_seq_len=4 leaves no room"):
        pipe(item, max_seq_len=4)
    with pytest.raises(ValueError, match="over the model window"):
        pipe(item, max_seq_len=1000)
    with pytest.raises(ValueError, match=r"`doc_stride` \(60\) is larger than `max_seq_len` \(48\)"):
        pipe(item, max_seq_len=48, doc_stride=60)
    with pytest.raises(ValueError, match="special tokens"):
        pipe(item, max_seq_len=48, doc_stride=47)


def test_question_too_long_for_the_window():
    pipe = qa("bert")
    long_context = " ".join([CONTEXT] * 4)
    with pytest.raises(ValueError, match="leaves no room for the context"):
        pipe(question="who " * 70, context=long_context)
    with pytest.raises(ValueError, match="doc_stride=16 must be less than the 15 context tokens"):
        pipe(question="the " * 30, context=long_context, max_seq_len=48, doc_stride=16)
    # a long question is fine while question and context fit (max_question_len does not cut it, as in 4.57)
    assert pipe(question="the " * 40, context=CONTEXT, max_question_len=4)["answer"]
