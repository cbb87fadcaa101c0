import collections
import io
import json
import os
import pickle
import zipfile

import ml_dtypes
import numpy as np
import pytest
import torch

from jaxnlp.checkpoints import read_torch_bin
from jaxnlp.checkpoints import torch_bin
from jaxnlp.errors import CheckpointError, UnsafePickleError

from .hub_server import REPO_ROOT, run_python


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 4)
        self.proj = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(4, 11, bias=False)
        self.head.weight = self.embed.weight  # tied: one storage, two names
        self.norm = torch.nn.LayerNorm(3).to(torch.bfloat16)
        self.half = torch.nn.Linear(2, 2).half()
        self.register_buffer("position_ids", torch.arange(6).unsqueeze(0))


@pytest.fixture(scope="module")
def state_dict():
    torch.manual_seed(0)
    sd = dict(Tiny().state_dict())
    sd["proj_t"] = sd["proj.weight"].t()  # non-contiguous view of a shared storage
    sd["row"] = sd["embed.weight"][3]  # view with a storage offset
    sd["scalar"] = torch.tensor(1.5, dtype=torch.float64)
    sd["mask"] = torch.tensor([True, False])
    sd["empty"] = torch.zeros(0, 2)
    return sd


def assert_matches(out, sd):
    assert set(out) == set(sd)
    for name, t in sd.items():
        want = to_numpy(t)
        assert out[name].dtype == want.dtype, name
        assert out[name].shape == want.shape, name
        assert out[name].tobytes() == want.tobytes(), name
        assert out[name].flags.c_contiguous


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_reads_torch_save(tmp_path, state_dict, zip_format):
    path = tmp_path / "pytorch_model.bin"
    torch.save(state_dict, path, _use_new_zipfile_serialization=zip_format)
    out = read_torch_bin(path)
    assert_matches(out, state_dict)
    assert out["embed.weight"].dtype == np.float32
    assert out["norm.weight"].dtype == ml_dtypes.bfloat16
    assert out["half.weight"].dtype == np.float16
    assert out["position_ids"].dtype == np.int64
    # tied weights share memory as they did in torch
    assert np.shares_memory(out["embed.weight"], out["head.weight"])


def test_reads_nn_parameters(tmp_path):
    torch.manual_seed(1)
    params = collections.OrderedDict(w=torch.nn.Parameter(torch.randn(2, 3)), b=torch.nn.Parameter(torch.zeros(3)))
    path = tmp_path / "params.bin"
    torch.save(params, path)
    assert_matches(read_torch_bin(path), params)


def test_reading_never_imports_torch(tmp_path, state_dict):
    path = tmp_path / "pytorch_model.bin"
    torch.save(state_dict, path)
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'transformers'):
            raise ImportError('blocked import of ' + name)
sys.meta_path.insert(0, Block())
from jaxnlp.checkpoints import read_torch_bin
out = read_torch_bin({str(path)!r})
assert 'torch' not in sys.modules and 'transformers' not in sys.modules
print(json.dumps({{k: v.tolist() for k, v in out.items() if v.dtype.kind in 'fib'}}))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    got = json.loads(run_python("import json\n" + code, env).stdout)
    assert got["proj_t"] == state_dict["proj_t"].tolist()
    assert got["position_ids"] == state_dict["position_ids"].tolist()


# --- hand-made archives ---------------------------------------------------------------


class _Ref:
    """Pickled as a persistent storage id."""

    def __init__(self, key, storage_type, numel):
        self.pid = ("storage", storage_type, key, "cpu", numel)


class _TensorRecord:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Ref) else None


def write_archive(path, obj, storages=None, byteorder=None, raw_pickle=None):
    """A torch.save-style zip: archive/data.pkl plus archive/data/<key> entries."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", raw_pickle if raw_pickle is not None else buf.getvalue())
        if byteorder:
            zf.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", data)
        zf.writestr("archive/version", "3\n")


def test_big_endian_archive(tmp_path):
    f32 = _Ref("0", torch.FloatStorage, 6)
    i64 = _Ref("1", torch.LongStorage, 3)
    bf16 = _Ref("2", torch.BFloat16Storage, 2)
    bf16_values = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    obj = collections.OrderedDict(
        a=_TensorRecord(f32, 0, (2, 3), (3, 1)),
        at=_TensorRecord(f32, 0, (3, 2), (1, 3)),
        b=_TensorRecord(i64, 1, (2,), (1,)),
        c=_TensorRecord(bf16, 0, (2,), (1,)),
    )
    storages = {
        "0": np.arange(6, dtype=">f4").tobytes(),
        "1": np.array([7, 8, 9], dtype=">i8").tobytes(),
        "2": bf16_values.view(np.uint16).astype(">u2").tobytes(),
    }
    path = tmp_path / "be.bin"
    write_archive(path, obj, storages, byteorder="big")
    out = read_torch_bin(path)
    assert out["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out["at"].tolist() == [[0, 3], [1, 4], [2, 5]]
    assert out["b"].tolist() == [8, 9] and out["b"].dtype == np.int64
    assert out["c"].tolist() == [1.5, -2.0] and out["c"].dtype == ml_dtypes.bfloat16


def test_out_of_bounds_stride_is_rejected(tmp_path):
    ref = _Ref("0", torch.FloatStorage, 4)
    obj = {"w": _TensorRecord(ref, 0, (2, 2), (1000, 1))}
    path = tmp_path / "oob.bin"
    write_archive(path, obj, {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(CheckpointError, match="'w'.*reaches element 1001 of a storage with 4"):
        read_torch_bin(path)


def test_storage_shorter_than_declared(tmp_path):
    ref = _Ref("0", torch.FloatStorage, 8)
    path = tmp_path / "short.bin"
    write_archive(path, {"w": _TensorRecord(ref, 0, (8,), (1,))}, {"0": b"\0" * 16})
    with pytest.raises(CheckpointError, match="storage archive/data/0 has 16 bytes"):
        read_torch_bin(path)


def test_missing_storage_entry(tmp_path):
    ref = _Ref("5", torch.FloatStorage, 1)
    path = tmp_path / "nostorage.bin"
    write_archive(path, {"w": _TensorRecord(ref, 0, (1,), (1,))}, {})
    with pytest.raises(CheckpointError, match="storage '5' has no archive/data/5 entry"):
        read_torch_bin(path)


def test_non_tensor_entries_are_reported(tmp_path):
    path = tmp_path / "mixed.bin"
    torch.save({"model": {"w": torch.zeros(1)}, "epoch": 3}, path)
    with pytest.raises(CheckpointError, match="entry 'model' is a dict, not a tensor"):
        read_torch_bin(path)


# --- malicious pickles ----------------------------------------------------------------


class _System:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return os.system, (self.cmd,)


class _Eval:
    def __init__(self, expr):
        self.expr = expr

    def __reduce__(self):
        import builtins

        return builtins.eval, (self.expr,)


@pytest.mark.parametrize("container", ["zip", "legacy"])
@pytest.mark.parametrize("kind", ["system", "eval"])
def test_malicious_pickle_is_refused_before_running(tmp_path, kind, container):
    marker = tmp_path / "pwned"
    if kind == "system":
        payload, global_name = _System(f"touch {marker}"), f"{os.system.__module__}.system"
    else:
        payload, global_name = _Eval(f"open({str(marker)!r}, 'w').close()"), "builtins.eval"
    # the payload hides inside an otherwise normal state dict
    obj = collections.OrderedDict(w=_TensorRecord(_Ref("0", torch.FloatStorage, 1), 0, (1,), (1,)), x=payload)
    path = tmp_path / "pytorch_model.bin"
    if container == "zip":
        write_archive(path, obj, {"0": b"\0" * 4})
    else:  # legacy stream: magic number, protocol, system info, then the state dict
        buf = io.BytesIO()
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, buf, protocol=2)
        _Pickler(buf, protocol=2).dump(obj)
        path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafePickleError) as info:
        read_torch_bin(path)
    assert f"refusing to load global {global_name} from" in str(info.value)
    assert "pytorch_model.bin" in str(info.value)
    assert not marker.exists()
    assert global_name in ("posix.system", "nt.system", "os.system", "builtins.eval")


def test_pickle_cannot_rewrite_allowed_globals(tmp_path):
    # GLOBAL torch.FloatStorage; BUILD {'dtype': 1}: would corrupt the stand-in for later loads
    raw = b"\x80\x02ctorch\nFloatStorage\n}X\x05\x00\x00\x00dtypeK\x01sb."
    path = tmp_path / "build.bin"
    write_archive(path, None, raw_pickle=raw)
    with pytest.raises(CheckpointError, match="sets state on a _StorageType"):
        read_torch_bin(path)
    assert torch_bin.ALLOWED_GLOBALS[("torch", "FloatStorage")].dtype == np.float32


# --- corrupt files --------------------------------------------------------------------


def test_truncated_zip(tmp_path, state_dict):
    path = tmp_path / "pytorch_model.bin"
    torch.save(state_dict, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="pytorch_model.bin is a corrupt or truncated zip"):
        read_torch_bin(path)


def test_corrupt_pickle_in_zip(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    write_archive(path, None, raw_pickle=b"\x80\x02(garbage")
    with pytest.raises(CheckpointError, match="corrupt pickle"):
        read_torch_bin(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_text(json.dumps({"not": "torch"}))
    with pytest.raises(CheckpointError, match="not a torch.save checkpoint"):
        read_torch_bin(path)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(CheckpointError, match="not a torch.save checkpoint"):
        read_torch_bin(other)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        read_torch_bin(tmp_path / "missing.bin")
