import json

import numpy as np
import pytest
import torch

from jaxnlp.checkpoints import read_config, read_state_dict, write_safetensors
from jaxnlp.errors import CheckpointError


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    return {
        "embeddings.weight": rng.standard_normal((10, 4)).astype(np.float32),
        "layer.0.weight": rng.standard_normal((4, 4)).astype(np.float32),
        "layer.0.bias": np.zeros(4, np.float32),
        "layer.1.weight": rng.standard_normal((4, 4)).astype(np.float16),
        "position_ids": np.arange(8, dtype=np.int64),
    }


def write_sharded(model_dir, tensors, fmt):
    names = sorted(tensors)
    halves = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, keys in enumerate(halves, start=1):
        if fmt == "safetensors":
            shard = f"model-{i:05d}-of-00002.safetensors"
            write_safetensors(model_dir / shard, {k: tensors[k] for k in keys})
        else:
            shard = f"pytorch_model-{i:05d}-of-00002.bin"
            torch.save({k: torch.from_numpy(tensors[k].copy()) for k in keys}, model_dir / shard)
        weight_map.update({k: shard for k in keys})
    index = "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    (model_dir / index).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return model_dir / index


def assert_equal_dicts(got, want):
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_single_file(tmp_path, tensors, fmt):
    if fmt == "safetensors":
        write_safetensors(tmp_path / "model.safetensors", tensors)
    else:
        torch.save({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, tmp_path / "pytorch_model.bin")
    assert_equal_dicts(read_state_dict(tmp_path), tensors)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_sharded(tmp_path, tensors, fmt):
    write_sharded(tmp_path, tensors, fmt)
    assert_equal_dicts(read_state_dict(str(tmp_path)), tensors)


def test_prefers_safetensors_over_bin(tmp_path, tensors):
    write_safetensors(tmp_path / "model.safetensors", tensors)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not even a checkpoint")
    assert_equal_dicts(read_state_dict(tmp_path), tensors)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_index_naming_a_missing_shard(tmp_path, tensors, fmt):
    write_sharded(tmp_path, tensors, fmt)
    shard = sorted(p for p in tmp_path.iterdir() if "-00002-of-" in p.name)[0]
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"missing from .*{shard.name}"):
        read_state_dict(tmp_path)


def test_index_listing_a_key_its_shard_lacks(tmp_path, tensors):
    index = write_sharded(tmp_path, tensors, "safetensors")
    data = json.loads(index.read_text())
    data["weight_map"]["ghost.weight"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors lacks 1 tensor.*ghost.weight"):
        read_state_dict(tmp_path)


def test_corrupt_index(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(CheckpointError, match="no valid 'weight_map'"):
        read_state_dict(tmp_path)


def test_no_weights_lists_what_it_looked_for(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tf_model.h5").write_bytes(b"")
    with pytest.raises(CheckpointError) as info:
        read_state_dict(tmp_path)
    msg = str(info.value)
    for name in (
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "config.json",
        "tf_model.h5",
    ):
        assert name in msg
    with pytest.raises(CheckpointError, match="no such model directory"):
        read_state_dict(tmp_path / "nope")


def test_read_config(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 8}')
    assert read_config(tmp_path) == {"model_type": "bert", "hidden_size": 8}
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(CheckpointError, match="not an object"):
        read_config(tmp_path)
    with pytest.raises(CheckpointError, match=r"no config.json: .*nope.config.json"):
        read_config(tmp_path / "nope")


def test_transformers_sharded_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    model = transformers.BertForMaskedLM(config)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    got = read_state_dict(tmp_path)
    ref = model.state_dict()
    # transformers drops tied copies (the decoder shares the word embeddings) when saving
    assert set(got) <= set(ref) and set(ref) - set(got) <= {
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }
    for k, v in got.items():
        np.testing.assert_array_equal(v, ref[k].numpy(), err_msg=k)
    assert read_config(tmp_path)["model_type"] == "bert"
