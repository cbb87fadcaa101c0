"""`jaxnlp run TASK`: lines of text / JSON in, one JSON line per input out,
equal to `jaxnlp.pipeline(...)` on the same inputs (same batch size, so the
same batches: results compare exactly after the JSON round trip), on tiny
text-classification and token-classification (ner) checkpoints. In process
(main() with stdin / stdout replaced) and end to end (`python -m jaxnlp.cli`).
Errors: unknown task, bad --option, a blank line, a line that is not JSON, an
input the pipeline refuses, a missing file, and no --model without the hub:
a message on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxnlp
from jaxnlp import cli
from jaxnlp.cli import main, parse_option, run, to_json
from support.pipelines import checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = ["john smith works in london", "I loved this movie!", "terrible acting, bad plot",
         "naïve café in 東京 with über straße", "mary lives in paris",
         "the quick brown fox jumps over the lazy dog", "hello world", "great film but the music was very bad"]
MANY = [f"{t} {i}" for i in range(5) for t in TEXTS]      # 40 lines: several blocks at batch size 2


@pytest.fixture(scope="module")
def clf_dir(tmp_path_factory):
    directory, _ = checkpoint("bert", "sequence-classification", tmp_path_factory.mktemp("clf"),
                              initializer_range=0.3, id2label={0: "NEGATIVE", 1: "NEUTRAL", 2: "POSITIVE"},
                              label2id={"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2})
    return directory


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory):
    directory, _ = checkpoint("bert", "token-classification", tmp_path_factory.mktemp("ner"), initializer_range=0.3,
                              id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, num_labels=len(LABELS))
    return directory


@pytest.fixture(scope="module")
def clf(clf_dir):
    """The reference: jaxnlp.pipeline on the same checkpoint (batch size 2, as the CLI calls below)."""
    return jaxnlp.pipeline("sentiment-analysis", model=clf_dir, batch_size=2)


def call(argv, stdin: str, monkeypatch, capsys):
    """(exit code, parsed output lines, stderr) of main(argv) with `stdin` as standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(argv)
    except SystemExit as e:       # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def roundtrip(results):
    return json.loads(json.dumps(results))


def test_text_classification_matches_pipeline(clf_dir, clf, monkeypatch, capsys):
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--batch-size", "2",
                           "--option", "top_k=2"], "\n".join(MANY) + "\n", monkeypatch, capsys)
    assert code == 0, err
    want = clf(MANY, top_k=2)
    assert got == roundtrip(want) and len(got) == len(MANY)
    assert len({round(r[0]["score"], 6) for r in got}) > 3          # outputs vary with the input


def test_ner_option_and_mixed_lines(ner_dir, monkeypatch, capsys):
    lines = [json.dumps(t) if i % 2 else t for i, t in enumerate(TEXTS)]    # auto: JSON strings and plain text
    code, got, err = call(["run", "ner", "--model", str(ner_dir), "-o", "aggregation_strategy=simple"],
                          "\r\n".join(lines), monkeypatch, capsys)       # CRLF, no final line break
    assert code == 0, err
    want = jaxnlp.pipeline("ner", model=ner_dir)(TEXTS, aggregation_strategy="simple")
    assert got == roundtrip(want)
    assert sum(len(r) for r in got) > len(TEXTS) and "entity_group" in got[0][0]


def test_jsonl_pairs_from_and_to_files(clf_dir, clf, tmp_path, monkeypatch, capsys):
    pairs = [{"text": a, "text_pair": b} for a, b in zip(TEXTS, TEXTS[1:])]
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    code, out, err = call(["run", "text-classification", "--model", str(clf_dir), "--format", "jsonl",
                           "--batch-size", "2", "--input", str(src), "--output", str(dst)], "", monkeypatch, capsys)
    assert code == 0 and out == [], err
    got = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert got == roundtrip(clf(pairs))


def test_format_text_takes_lines_as_they_are(clf_dir, clf, monkeypatch, capsys):
    lines = ['"quoted" said john', "{not json", "  leading spaces"]
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--format", "text", "--batch-size",
                           "2"], "\n".join(lines), monkeypatch, capsys)
    assert code == 0, err
    assert got == roundtrip(clf(lines))


def test_end_to_end_subprocess(ner_dir, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "jaxnlp.cli", "run", "ner", "--model", str(ner_dir),
                           "--batch-size", "3", "--input", str(src)],
                          cwd=REPO_ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    got = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert got == roundtrip(jaxnlp.pipeline("ner", model=ner_dir, batch_size=3)(TEXTS))
    out = proc.stdout.decode("utf-8")
    assert "\\u" not in out and any(ord(c) > 127 for c in out)          # UTF-8, not \\u escapes


def test_output_is_streamed_block_by_block(clf_dir):
    """The first results are written before the input is read to its end."""
    consumed = []

    def lines():
        for i, text in enumerate(MANY):
            consumed.append(i)
            yield text + "\n"

    class Sink(io.StringIO):
        first_write_after = None

        def write(self, s):
            if self.first_write_after is None:
                self.first_write_after = len(consumed)
            return super().write(s)

    sink = Sink()
    assert run("sentiment-analysis", lines(), sink, model=clf_dir, batch_size=2) == len(MANY)
    assert sink.first_write_after <= 2 * cli.BLOCK_BATCHES + 1 < len(MANY)
    assert len(sink.getvalue().splitlines()) == len(MANY)


# -- errors ----------------------------------------------------------------------------------------

def test_unknown_task(clf_dir, monkeypatch, capsys):
    code, out, err = call(["run", "no-such-task", "--model", str(clf_dir)], "hello\n", monkeypatch, capsys)
    assert code == 2 and out == []
    assert "unknown pipeline task 'no-such-task'" in err and "sentiment-analysis" in err and "Traceback" not in err


@pytest.mark.parametrize("option, message", [("top_k", "KEY=VALUE"), ("=2", "KEY=VALUE"), ("top k=2", "KEY=VALUE"),
                                             ("batch_size=2", "not a task option")])
def test_bad_option_syntax(clf_dir, monkeypatch, capsys, option, message):
    code, out, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--option", option], "hi\n",
                          monkeypatch, capsys)
    assert code == 2 and out == [] and message in err and "Traceback" not in err


def test_unknown_option_is_the_pipelines_error(clf_dir, monkeypatch, capsys):
    code, out, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--option", "colour=red"],
                          "hi\n", monkeypatch, capsys)
    assert code == 1 and out == [] and "colour" in err and "Traceback" not in err


def test_parse_option_values():
    assert parse_option("top_k=2") == ("top_k", 2)
    assert parse_option("aggregation_strategy=simple") == ("aggregation_strategy", "simple")
    assert parse_option("top_k=null") == ("top_k", None)
    assert parse_option('prefix="2"') == ("prefix", "2")
    assert parse_option("targets=[\"a\", \"b\"]") == ("targets", ["a", "b"])
    assert parse_option("prefix=") == ("prefix", "")
    assert parse_option("src_lang=en=x") == ("src_lang", "en=x")


def test_blank_line_is_an_error_after_the_lines_before(clf_dir, clf, monkeypatch, capsys):
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--batch-size", "2"],
                          "i loved it\n \nbad plot\n", monkeypatch, capsys)
    assert code == 1 and "line 2 is blank" in err and "Traceback" not in err
    assert got == roundtrip(clf(["i loved it"]))
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir)], '""\n', monkeypatch, capsys)
    assert code == 1 and "input lines 1-1" in err and "empty" in err          # the JSON "": the pipeline's error


def test_bad_json_and_refused_items(clf_dir, monkeypatch, capsys):
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir)], '{"text": \n',
                          monkeypatch, capsys)
    assert code == 1 and got == [] and "line 1 is not valid JSON" in err and "--format text" in err
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--format", "jsonl"],
                          '"fine"\n5\n', monkeypatch, capsys)
    assert code == 1 and got == [] and "input lines 1-2" in err and "item 1 is a int" in err
    assert "Traceback" not in err


def test_missing_input_file(clf_dir, tmp_path, monkeypatch, capsys):
    code, got, err = call(["run", "sentiment-analysis", "--model", str(clf_dir), "--input",
                           str(tmp_path / "absent.txt")], "", monkeypatch, capsys)
    assert code == 1 and "absent.txt" in err and "Traceback" not in err


def test_no_model_and_no_hub(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "jaxnlp.cli", "run", "sentiment-analysis"], input="hello\n",
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in proc.stderr
    assert "--model DIR" in proc.stderr and "Traceback" not in proc.stderr


def test_to_json_converts_arrays():
    assert json.loads(to_json(np.arange(3, dtype=np.float32) / 2)) == [0.0, 0.5, 1.0]
    assert json.loads(to_json({"score": np.float32(0.25), "ids": np.array([[1, 2]]), "t": (1, 2)})) == \
        {"score": 0.25, "ids": [[1, 2]], "t": [1, 2]}
    with pytest.raises(TypeError, match="object"):
        to_json({"x": object()})
