"""resolve_model_dir: local paths, and hub ids served by the loopback hub in hub_server.py."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jaxnlp.checkpoints import read_state_dict, resolve_model_dir, write_safetensors
from jaxnlp.errors import CheckpointError

from .hub_server import REPO_ROOT, HubServer, hub_env

# Resolves each (id, revision) of argv[1] and prints, per query, the snapshot's files and a
# digest of every tensor read_state_dict returns, or the error.
RESOLVE = r"""
import hashlib, json, os, sys
from jaxnlp.checkpoints import read_config, read_state_dict, resolve_model_dir
from jaxnlp.errors import CheckpointError
results = []
for repo_id, revision in json.loads(sys.argv[1]):
    try:
        d = resolve_model_dir(repo_id, revision=revision)
        sd = read_state_dict(d)
        results.append({
            "dir": str(d),
            "files": sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()),
            "config": read_config(d),
            "tensors": {k: [str(v.dtype), list(v.shape), hashlib.sha256(v.tobytes()).hexdigest()]
                        for k, v in sd.items()},
        })
    except CheckpointError as e:
        results.append({"error": type(e).__name__, "message": str(e)})
print("RESULT " + json.dumps(results))
"""


def resolve_in_subprocess(queries, env):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", RESOLVE, json.dumps(queries)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def digests(tensors):
    import hashlib

    return {
        k: [str(v.dtype), list(v.shape), hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()]
        for k, v in tensors.items()
    }


@pytest.fixture
def repos(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "bert.embeddings.word_embeddings.weight": rng.standard_normal((12, 4)).astype(np.float32),
        "bert.pooler.dense.bias": np.zeros(4, np.float32),
        "bert.embeddings.position_ids": np.arange(6, dtype=np.int64),
    }
    # tiny-bert: model.safetensors, plus a .bin, a flax file and a subfolder that must not be fetched
    bert = tmp_path / "tiny-bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))
    (bert / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    write_safetensors(bert / "model.safetensors", tensors)
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, bert / "pytorch_model.bin")
    (bert / "flax_model.msgpack").write_bytes(b"\0" * 64)
    (bert / "onnx").mkdir()
    (bert / "onnx" / "config.json").write_text("{}")
    # tiny-sharded: two safetensors shards + index, and a stray .bin index
    sharded = tmp_path / "tiny-sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(json.dumps({"model_type": "bert"}))
    names = sorted(tensors)
    weight_map = {}
    for i, keys in enumerate([names[:1], names[1:]], start=1):
        shard = f"model-{i:05d}-of-00002.safetensors"
        write_safetensors(sharded / shard, {k: tensors[k] for k in keys})
        weight_map.update({k: shard for k in keys})
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, sharded / "pytorch_model-00001-of-00001.bin")
    # tiny-bin: only a pytorch_model.bin
    only_bin = tmp_path / "tiny-bin"
    only_bin.mkdir()
    (only_bin / "config.json").write_text(json.dumps({"model_type": "bert"}))
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, only_bin / "pytorch_model.bin")
    # tiny-st: a sentence-transformers repo; its module folders are fetched, other subfolders are not
    st = tmp_path / "tiny-st"
    st.mkdir()
    (st / "config.json").write_text(json.dumps({"model_type": "bert"}))
    write_safetensors(st / "model.safetensors", tensors)
    (st / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    for sub, names in (("1_Pooling", ["config.json"]), ("2_Dense", ["config.json", "model.safetensors"]),
                       ("onnx", ["model.onnx"])):
        (st / sub).mkdir()
        for name in names:
            (st / sub / name).write_text(json.dumps({"file": f"{sub}/{name}"}))   # distinct blobs
    return {"tiny-org/tiny-bert": bert, "tiny-org/tiny-sharded": sharded, "tiny-org/tiny-bin": only_bin,
            "tiny-org/tiny-st": st}, tensors


def test_hub_download_then_offline_cache(tmp_path, repos):
    dirs, tensors = repos
    want = digests(tensors)
    hf_home = tmp_path / "hf_home"
    queries = [[repo_id, None] for repo_id in dirs]
    with HubServer(dirs) as hub:
        online = resolve_in_subprocess(
            queries + [["tiny-org/nope", None], ["tiny-org/tiny-bert", "no-such-branch"]],
            hub_env(hf_home, hub.url),
        )
        fetched: dict[str, set[str]] = {}
        downloads = hub.requested("GET", "/resolve/")
        assert len(downloads) == len(set(downloads))
        for path in downloads:
            repo_id, rest = path.lstrip("/").split("/resolve/")
            fetched.setdefault(repo_id, set()).add(rest.split("/", 1)[1])
    bert, sharded, only_bin, st, unknown, bad_rev = online
    for result in (bert, sharded, only_bin, st):
        assert "error" not in result, result
        assert result["tensors"] == want
        assert Path(result["dir"]).is_relative_to(hf_home)
    assert bert["config"] == {"model_type": "bert", "hidden_size": 4}
    assert bert["files"] == ["config.json", "model.safetensors", "vocab.txt"]
    assert sharded["files"] == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]
    assert only_bin["files"] == ["config.json", "pytorch_model.bin"]
    # one weights format per repo (no .bin where safetensors exist, no flax), each file once
    assert fetched == {
        "tiny-org/tiny-bert": set(bert["files"]),
        "tiny-org/tiny-sharded": set(sharded["files"]),
        "tiny-org/tiny-bin": set(only_bin["files"]),
        "tiny-org/tiny-st": set(st["files"]),
    }
    assert st["files"] == ["1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors",
                           "config.json", "model.safetensors", "modules.json"]
    assert unknown["error"] == "CheckpointError"
    assert "'tiny-org/nope'" in unknown["message"] and "no such repo" in unknown["message"]
    assert bad_rev["error"] == "CheckpointError" and "'no-such-branch' was not found" in bad_rev["message"]

    # The server is gone: HF_HUB_OFFLINE=1 serves the same files from the cache ...
    offline = resolve_in_subprocess(queries + [["tiny-org/never-fetched", None]], hub_env(hf_home, offline=True))
    for before, after in zip(online[:4], offline[:4]):
        assert after == before
    never = offline[4]
    assert never["error"] == "CheckpointError"
    assert "'tiny-org/never-fetched'" in never["message"]
    assert "could not be reached (HF_HUB_OFFLINE=1)" in never["message"]
    # ... and so does an unreachable endpoint without the offline flag
    unreachable = resolve_in_subprocess(queries[:1], hub_env(hf_home, offline=False))
    assert unreachable[0] == online[0]


def test_local_directory_is_returned_as_is(tmp_path):
    write_safetensors(tmp_path / "model.safetensors", {"w": np.ones(2, np.float32)})
    assert resolve_model_dir(tmp_path) == tmp_path
    assert resolve_model_dir(str(tmp_path)) == tmp_path
    assert list(read_state_dict(resolve_model_dir(str(tmp_path)))) == ["w"]


@pytest.mark.parametrize("given", ["./no-such-model", "/no/such/model", "../x", "a/b/c", "~/nope-jaxnlp-model"])
def test_path_that_does_not_exist(given):
    with pytest.raises(CheckpointError, match="no such directory"):
        resolve_model_dir(given)


def test_path_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such directory"):
        resolve_model_dir(tmp_path / "missing")  # a Path is never a repo id
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="is a file, not a model directory"):
        resolve_model_dir(str(tmp_path / "file.txt"))
    with pytest.raises(CheckpointError, match="nor a valid hub repo id"):
        resolve_model_dir("not a repo id!")
    with pytest.raises(CheckpointError, match="revision"):
        resolve_model_dir(tmp_path, revision="main")
