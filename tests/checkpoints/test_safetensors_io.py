import json
import struct

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from jaxnlp.checkpoints import read_safetensors, write_safetensors
from jaxnlp.checkpoints.safetensors import read_safetensors_metadata
from jaxnlp.errors import CheckpointError


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def assert_same(a: np.ndarray, b: np.ndarray):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.fixture
def torch_tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "f64": torch.randn(2, generator=g).double(),
        "i64": torch.arange(7),
        "i32": torch.arange(3, dtype=torch.int32),
        "i8": torch.tensor([-1, 2], dtype=torch.int8),
        "u8": torch.tensor([255, 1], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }


def test_reads_files_written_by_safetensors(tmp_path, torch_tensors):
    path = tmp_path / "model.safetensors"
    save_file(torch_tensors, path, metadata={"format": "pt"})
    out = read_safetensors(path)
    assert set(out) == set(torch_tensors)
    for name, t in torch_tensors.items():
        assert_same(out[name], to_numpy(t))
    assert out["bf16"].dtype == ml_dtypes.bfloat16
    assert read_safetensors_metadata(path) == {"format": "pt"}


def test_arrays_are_writable_but_never_write_the_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(4)}, path)
    before = path.read_bytes()
    out = read_safetensors(path)
    out["w"][0] = 7.0
    assert path.read_bytes() == before
    assert read_safetensors(path)["w"][0] == 1.0


def test_write_round_trips_through_safetensors(tmp_path, torch_tensors):
    arrays = {k: to_numpy(t) for k, t in torch_tensors.items()}
    arrays["transposed"] = np.arange(6, dtype=np.float32).reshape(2, 3).T  # not C-contiguous
    arrays["big_endian"] = np.arange(3, dtype=">i4")
    snapshot = {k: (v.dtype, v.strides, v.tobytes()) for k, v in arrays.items()}
    path = tmp_path / "out.safetensors"
    write_safetensors(path, arrays, metadata={"format": "np"})
    assert {k: (v.dtype, v.strides, v.tobytes()) for k, v in arrays.items()} == snapshot  # input untouched
    loaded = load_file(path)
    for name, t in torch_tensors.items():
        assert torch.equal(loaded[name], t)
    assert loaded["transposed"].tolist() == arrays["transposed"].tolist()
    assert loaded["big_endian"].tolist() == [0, 1, 2]
    back = read_safetensors(path)
    assert back["scalar"].shape == ()
    assert back["big_endian"].dtype == np.dtype("<i4")
    assert read_safetensors_metadata(path) == {"format": "np"}


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(CheckpointError, match="'s'.*unsupported dtype"):
        write_safetensors(tmp_path / "x.safetensors", {"s": np.array(["a"])})


def test_truncated_file_names_file_and_tensor(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.zeros(4), "x": torch.zeros(10)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    with pytest.raises(CheckpointError) as info:
        read_safetensors(path)
    msg = str(info.value)
    assert "model.safetensors is truncated" in msg and "'x'" in msg and f"has {len(data) - 5}" in msg


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: b"\x01\x02", "fewer than the 8-byte"),
        (lambda: struct.pack("<Q", 10_000) + b"{}", "header length says 10000"),
        (lambda: struct.pack("<Q", 6) + b"{nope}", "not valid JSON"),
        (lambda: struct.pack("<Q", 2) + b"[]", "expected a JSON object"),
        (
            lambda: _file({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 8),
            "needs 8 bytes but its data_offsets",
        ),
        (lambda: _file({"w": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, 4), "unsupported dtype 'Q9'"),
        (lambda: _file({"w": {"dtype": "F32", "shape": [1]}}, 4), "lacks data_offsets"),
        (lambda: _file({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, 4), "shape"),
        (lambda: _file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, 4), "data_offsets"),
        # a zero-size tensor numpy cannot shape ("array is too big" from numpy)
        (lambda: _file({"w": {"dtype": "F32", "shape": [0, 2 ** 62], "data_offsets": [0, 0]}}, 4), "shape"),
        (lambda: _file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12), "'a' and 'b' overlap"),
    ],
)
def test_corrupt_header(tmp_path, make, expected):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make())
    with pytest.raises(CheckpointError, match=expected) as info:
        read_safetensors(path)
    assert "bad.safetensors" in str(info.value)


def _file(header: dict, data_bytes: int) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data_bytes


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such safetensors file"):
        read_safetensors(tmp_path / "nope.safetensors")
