"""The catalogue of default checkpoints (jaxnlp/catalogue.py): a default for
every pipeline task, architectures jaxnlp implements with the task's head,
weights/README.md's table equal to the catalogue, and `pipeline(task)`
without a model: it takes the default (checked with a local stand-in for the
hub id), and when the hub cannot give it (HF_HUB_OFFLINE=1, an endpoint
answering 404 / 500) it fails fast with an error naming the hub id and
asking for model=<local dir>. huggingface_hub reads HF_HUB_OFFLINE and
HF_ENDPOINT when imported, so those cases run in a fresh interpreter."""

from __future__ import annotations

import http.server
import logging
import os
import re
import runpy
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import jaxnlp
from jaxnlp import catalogue
from jaxnlp.catalogue import CATALOGUE, default_entry, defaults, markdown_table, translation_pairs
from jaxnlp.models.registry import MODEL_TYPES, get_architecture
from jaxnlp.pipelines import TASKS

REPO_ROOT = Path(__file__).resolve().parents[1]
SST2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
FAST_S = 60           # a failing hub lookup must end well within this


def test_every_task_has_a_default():
    assert set(defaults()) | {"translation"} == set(TASKS)
    pairs = translation_pairs()
    assert {("en", "fr"), ("fr", "en"), ("en", "de"), ("de", "en")} <= set(pairs)
    for (src, tgt), entry in pairs.items():
        assert entry.hub_id == f"Helsinki-NLP/opus-mt-{src}-{tgt}" and entry.architecture == "marian"
    assert default_entry("text-classification").hub_id == SST2
    assert default_entry("translation", {"src_lang": "en", "tgt_lang": "de"}).hub_id == "Helsinki-NLP/opus-mt-en-de"


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.hub_id)
def test_entry_is_loadable_by_jaxnlp(entry):
    assert entry.architecture in MODEL_TYPES
    head = TASKS[entry.task][2]
    assert head in get_architecture(entry.architecture).tasks, (entry.hub_id, head)
    assert re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*", entry.hub_id)
    assert entry.revision is None or re.fullmatch(r"[0-9a-f]{40}", entry.revision)   # a full commit hash
    assert entry.licence
    with pytest.raises(TypeError):
        entry.options["x"] = 1          # entries are immutable


def test_translation_needs_a_known_pair():
    with pytest.raises(ValueError, match="src_lang.*en-fr.*de-en"):
        default_entry("translation", {})
    with pytest.raises(ValueError, match="'xx' -> 'yy'.*en-fr"):
        default_entry("translation", {"src_lang": "xx", "tgt_lang": "yy"})
    # through pipeline(): refused before any hub access
    with pytest.raises(ValueError, match="'xx' -> 'yy'.*en-fr, fr-en"):
        jaxnlp.pipeline("translation_xx_to_yy")
    with pytest.raises(ValueError, match="src_lang= and tgt_lang="):
        jaxnlp.pipeline("translation")


def test_readme_table_is_the_catalogue(capsys):
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "catalogue_table.py"))
    readme = (REPO_ROOT / "weights" / "README.md").read_text(encoding="utf-8")
    assert script["readme_table"](readme) == markdown_table(), "run python scripts/catalogue_table.py --write"
    assert script["main"](["--check"]) == 0
    assert script["main"]([]) == 0 and capsys.readouterr().out == markdown_table()
    for entry in CATALOGUE:
        assert entry.hub_id in readme


def test_model_none_takes_the_default(tmp_path, monkeypatch, caplog):
    """The model=None branch end to end, the default's hub id replaced by a local directory."""
    from support.pipelines import checkpoint

    directory, _ = checkpoint("bert", "sequence-classification", tmp_path / "sst2", initializer_range=0.3)
    stand_in = catalogue.Entry("text-classification", str(directory), "bert", "apache-2.0",
                               options={"top_k": None})
    monkeypatch.setattr(catalogue, "CATALOGUE", (stand_in,) + CATALOGUE[1:])
    with caplog.at_level(logging.WARNING, logger="jaxnlp.pipelines"):
        default = jaxnlp.pipeline("sentiment-analysis")
    assert f"catalogue default {directory}" in caplog.text
    explicit = jaxnlp.pipeline("sentiment-analysis", model=directory)
    texts = ["i loved this movie", "terrible acting, bad plot", "the quick brown fox"]
    got, want = default(texts), explicit(texts, top_k=None)     # the entry's option applies
    assert got == want and len(got[0]) == 3
    assert len({round(r[0]["score"], 6) for r in got}) > 1      # the inputs give different scores
    assert default(texts, top_k=1) == explicit(texts, top_k=1)  # the caller's options win


# -- the hub cannot give the default ------------------------------------------------------------

SCRIPT = """
import time, jaxnlp
from jaxnlp.errors import CheckpointError
start = time.time()
try:
    jaxnlp.pipeline("sentiment-analysis")
except CheckpointError as e:
    print("SECONDS", time.time() - start)
    print("ERROR", e)
"""


def _clean_env(tmp_path: Path, **extra) -> dict:
    """An environment with an empty hub cache, no proxy and no offline flag, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               HF_HUB_DISABLE_TELEMETRY="1", JAX_PLATFORMS="cpu", **extra)
    return env


def _run_script(env) -> tuple[float, str]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    elapsed = time.time() - start
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" in proc.stdout, (proc.stdout, proc.stderr)
    assert f"catalogue default {SST2}" in proc.stderr            # the choice is logged
    return elapsed, proc.stdout.split("ERROR", 1)[1]


def _assert_clear(message: str, *causes: str):
    assert f"catalogue default {SST2!r}" in message
    assert "model=<local directory>" in message and "--model DIR" in message
    assert any(c in message for c in causes), message


def test_offline_fails_fast_with_a_clear_error(tmp_path):
    elapsed, message = _run_script(_clean_env(tmp_path, HF_HUB_OFFLINE="1"))
    _assert_clear(message, "HF_HUB_OFFLINE=1")
    assert elapsed < FAST_S


class _Refusing(http.server.BaseHTTPRequestHandler):
    status = 404

    def _answer(self):
        body = b'{"error": "refused by the test server"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.paths.append(self.path)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [404, 500])
def test_unreachable_endpoint_fails_fast_with_a_clear_error(tmp_path, status):
    handler = type("Handler", (_Refusing,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        elapsed, message = _run_script(_clean_env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
        server.server_close()
    assert any(SST2 in p for p in server.paths), server.paths      # it did ask our endpoint
    _assert_clear(message, str(status), "could not be reached")
    assert elapsed < FAST_S

