"""Reading PyTorch ``torch.save`` checkpoints without torch and without running pickle code.

A ``pytorch_model.bin`` is a pickle, and unpickling calls whatever global the
file names. We never let it: :class:`_RestrictedUnpickler` resolves only the
handful of globals a tensor state dict needs (tensor rebuild functions, typed
storage classes, ``OrderedDict``), each mapped to a local stand-in written
here; any other global raises :class:`UnsafePickleError` while the pickle is
being parsed, before any call it describes is made.

Two layouts are read:

* the zip archive that ``torch.save`` writes since torch 1.6:
  ``<archive>/data.pkl`` (the pickle), ``<archive>/data/<key>`` (one entry per
  storage, raw bytes), ``<archive>/byteorder`` (``little``/``big``, absent in
  old files meaning little);
* the legacy stream (``_use_new_zipfile_serialization=False``): magic number,
  protocol version, system info and the main object as four pickles, then
  the list of storage keys as a fifth, then each storage as an 8-byte element
  count followed by its bytes.

Tensors sharing a storage (tied weights) come back as views of the same bytes;
non-contiguous tensors (``w.t()``) are copied into C order.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from jaxnlp.errors import CheckpointError, UnsafePickleError

__all__ = ["read_torch_bin", "ALLOWED_GLOBALS"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co: only carries the element dtype."""

    def __init__(self, name: str, dtype: np.dtype):
        self.name = name
        self.dtype = np.dtype(dtype)

    def __call__(self, *args, **kwargs):
        raise CheckpointError(f"the pickle tries to construct torch.{self.name} directly; not a tensor state dict")

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
    "UntypedStorage": np.uint8,
}
_STORAGE_TYPES = {name: _StorageType(name, dt) for name, dt in _STORAGE_DTYPES.items()}


class _Storage:
    """A storage named by the pickle; its bytes are bound now (zip) or later (legacy)."""

    def __init__(self, key: str, stype: _StorageType, numel: int):
        self.key = key
        self.stype = stype
        self.numel = numel
        self.array: np.ndarray | None = None  # 1-D, dtype stype.dtype, native byte order


class _View:
    """A legacy-format storage view: elements [offset, offset + size) of a root storage."""

    def __init__(self, root: _Storage, offset: int, size: int):
        self.root = root
        self.offset = offset
        self.size = size


class _Tensor:
    """What a rebuild call returns; turned into an ndarray once all storage bytes are known."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage = storage
        self.storage_offset = storage_offset
        self.size = size
        self.stride = stride


def _check_ints(name: str, value) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise CheckpointError(f"malformed tensor record: {name} is {value!r}")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, (_Storage, _View)):
        raise CheckpointError(f"malformed tensor record: storage is {type(storage).__name__}, not a storage")
    if not isinstance(storage_offset, int) or isinstance(storage_offset, bool) or storage_offset < 0:
        raise CheckpointError(f"malformed tensor record: storage offset {storage_offset!r}")
    size = _check_ints("size", size)
    stride = _check_ints("stride", stride)
    if len(size) != len(stride):
        raise CheckpointError(f"malformed tensor record: size {size} and stride {stride} differ in length")
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, _Tensor):
        raise CheckpointError(f"malformed parameter record: data is {type(data).__name__}, not a tensor")
    return data


def _rebuild_parameter_with_state(data, requires_grad=False, backward_hooks=None, state=None):
    return _rebuild_parameter(data)


class _TensorClass:
    """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` in ``_rebuild_from_type_v2``."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise CheckpointError(f"the pickle tries to construct {self.name} directly; not a tensor state dict")


_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_parameter, _rebuild_parameter_with_state)


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in _REBUILDERS or not isinstance(new_type, _TensorClass) or not isinstance(args, tuple):
        raise CheckpointError("malformed _rebuild_from_type_v2 record in a tensor state dict")
    return func(*args)


# (module, name) -> stand-in. Everything a tensor state dict pickles, nothing else.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorClass("torch.Tensor"),
    ("torch._tensor", "Tensor"): _TensorClass("torch.Tensor"),
    ("torch.nn.parameter", "Parameter"): _TensorClass("torch.nn.Parameter"),
    **{("torch", name): st for name, st in _STORAGE_TYPES.items()},
    ("torch.storage", "UntypedStorage"): _STORAGE_TYPES["UntypedStorage"],
}


def _load_build(self):
    # BUILD sets attributes on the object below it. Torch only uses it to attach ``_metadata``
    # to the state dict (an OrderedDict); allowing it on anything else would let a pickle
    # rewrite our stand-ins (a tensor's stride after validation, a storage type's dtype).
    stack = self.stack
    state = stack.pop()
    inst = stack[-1]
    if type(inst) is not collections.OrderedDict or not isinstance(state, dict):
        raise CheckpointError(
            f"{self._source}: the pickle sets state on a {type(inst).__name__}; only plain state dicts are supported"
        )
    for k, v in state.items():
        if not isinstance(k, str):
            raise CheckpointError(f"{self._source}: malformed state dict attribute {k!r}")
        inst.__dict__[k] = v


class _RestrictedUnpickler(pickle._Unpickler):
    """Resolves only ALLOWED_GLOBALS; storages come from ``load_storage(key, stype, numel, view)``.

    The pure-Python unpickler is used so that BUILD can be restricted too (the
    pickle of a state dict is small: one record per tensor).
    """

    dispatch = dict(pickle._Unpickler.dispatch)
    dispatch[pickle.BUILD[0]] = _load_build

    def __init__(self, file, source: str, load_storage=None):
        super().__init__(file, encoding="utf-8")
        self._source = source
        self._load_storage = load_storage

    def find_class(self, module: str, name: str):
        if self.proto < 3 and self.fix_imports:  # Python 2 names in protocol 0-2 pickles (__builtin__ -> builtins)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name} from {self._source}: only tensor state dicts "
                "(torch tensor rebuild functions, storage types, OrderedDict) are allowed, and nothing was run"
            ) from None

    def persistent_load(self, pid):
        if self._load_storage is None:
            raise CheckpointError(f"{self._source}: unexpected persistent id {pid!r} outside the tensor data")
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] not in ("storage", b"storage"):
            raise CheckpointError(f"{self._source}: unsupported persistent id {pid!r} (only storages are supported)")
        _, stype, key, _location, numel, *rest = pid
        if not isinstance(stype, _StorageType):
            raise CheckpointError(f"{self._source}: persistent id names {stype!r}, not a storage type")
        if isinstance(key, bytes):
            key = key.decode("ascii", "replace")
        if not isinstance(key, str) or not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise CheckpointError(f"{self._source}: malformed storage record {pid!r}")
        view = rest[0] if rest else None
        return self._load_storage(key, stype, numel, view)


def _native(raw: np.ndarray, dtype: np.dtype, big_endian: bool) -> np.ndarray:
    """Reinterpret a 1-D uint8 array as ``dtype`` (byte-swapping from big-endian when asked)."""
    if big_endian and dtype.itemsize > 1:
        if dtype.kind == "c":
            half = np.dtype(f"<f{dtype.itemsize // 2}")
            return raw.view(half.newbyteorder(">")).astype(half).view(dtype)
        uint = np.dtype(f"<u{dtype.itemsize}")
        return raw.view(uint.newbyteorder(">")).astype(uint).view(dtype)
    return raw.view(dtype)


def _materialize(t: _Tensor, source: str, name: str) -> np.ndarray:
    if isinstance(t.storage, _View):
        root, base, limit = t.storage.root, t.storage.offset, t.storage.size
    else:
        root, base, limit = t.storage, 0, None
    arr = root.array
    if arr is None:
        raise CheckpointError(f"{source}: storage {root.key!r} of tensor {name!r} has no data")
    if root.stype.name == "UntypedStorage":
        raise CheckpointError(f"{source}: tensor {name!r} uses an untyped storage; its dtype is unknown")
    if limit is None:
        limit = arr.shape[0]
    elif base + limit > arr.shape[0]:
        raise CheckpointError(
            f"{source}: a view of storage {root.key!r} covers elements [{base}, {base + limit}) "
            f"of {arr.shape[0]}"
        )
    shape, stride, offset = t.size, t.stride, t.storage_offset
    n = math.prod(shape)
    if n == 0:
        return np.zeros(shape, dtype=arr.dtype)
    last = offset + sum((d - 1) * s for d, s in zip(shape, stride))
    if last >= limit or base + limit > arr.shape[0]:
        raise CheckpointError(
            f"{source}: tensor {name!r} (size {list(shape)}, stride {list(stride)}, offset {offset}) "
            f"reaches element {last} of a storage with {limit} elements"
        )
    start = base + offset
    contiguous = all(
        s == math.prod(shape[i + 1 :]) for i, (d, s) in enumerate(zip(shape, stride)) if d != 1
    )
    if contiguous:
        return arr[start : start + n].reshape(shape)
    item = arr.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        arr[start:], shape=shape, strides=tuple(s * item for s in stride), writeable=False
    )
    return view.copy(order="C")


def _finish(obj, source: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{source} holds a {type(obj).__name__}, not a state dict (a mapping of names to tensors)"
        )
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise CheckpointError(f"{source}: state dict key {name!r} is not a string")
        if not isinstance(value, _Tensor):
            raise CheckpointError(
                f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor; "
                "only flat state dicts of tensors are supported"
            )
        out[name] = _materialize(value, source, name)
    return out


def _read_zip(path: Path, zf: zipfile.ZipFile) -> dict[str, np.ndarray]:
    source = str(path)
    names = zf.namelist()
    pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    if len(pkls) != 1:
        raise CheckpointError(
            f"{source} is a zip archive but not a torch.save checkpoint (expected one <archive>/data.pkl, "
            f"found {pkls or 'none'})"
        )
    prefix = pkls[0][: -len("data.pkl")]
    big_endian = False
    if prefix + "byteorder" in names:
        order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise CheckpointError(f"{source}: unknown byteorder {order!r}")
        big_endian = order == "big"

    infos = {i.filename: i for i in zf.infolist()}
    file_size = os.path.getsize(path)
    mm = None
    storages: dict[str, _Storage] = {}

    def raw_bytes(info: zipfile.ZipInfo) -> np.ndarray:
        nonlocal mm
        if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            if mm is None:
                mm = np.memmap(path, dtype=np.uint8, mode="c", shape=(file_size,))
            h = info.header_offset
            local = bytes(mm[h : h + 30])
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise CheckpointError(f"{source} is a corrupt zip: bad local header for {info.filename}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = h + 30 + name_len + extra_len
            end = start + info.file_size
            if end > file_size:
                raise CheckpointError(
                    f"{source} is truncated: {info.filename} needs bytes [{start}, {end}) but the file has {file_size}"
                )
            return mm[start:end]
        return np.frombuffer(zf.read(info.filename), dtype=np.uint8)

    def load_storage(key, stype, numel, view):
        if key not in storages:
            entry = f"{prefix}data/{key}"
            info = infos.get(entry)
            if info is None:
                raise CheckpointError(f"{source} is corrupt: storage {key!r} has no {entry} entry")
            raw = raw_bytes(info)
            item = stype.dtype.itemsize
            if raw.shape[0] < numel * item:
                raise CheckpointError(
                    f"{source} is corrupt: storage {entry} has {raw.shape[0]} bytes, "
                    f"{numel} x {stype.dtype} elements need {numel * item}"
                )
            st = _Storage(key, stype, numel)
            st.array = _native(raw[: numel * item], stype.dtype, big_endian)
            storages[key] = st
        st = storages[key]
        if st.stype.dtype != stype.dtype:
            raise CheckpointError(f"{source}: storage {key!r} is used as both {st.stype} and {stype}")
        return st

    try:
        data = zf.read(pkls[0])
    except (zipfile.BadZipFile, zlib.error, OSError) as e:
        raise CheckpointError(f"{source} is a corrupt zip: cannot read {pkls[0]} ({e})") from None
    obj = _unpickle(io.BytesIO(data), source, load_storage)
    return _finish(obj, source)


def _unpickle(f, source: str, load_storage):
    try:
        return _RestrictedUnpickler(f, source, load_storage).load()
    except (CheckpointError, MemoryError):
        raise
    except Exception as e:  # malformed pickle: UnpicklingError, EOFError, TypeError from a bad call, ...
        raise CheckpointError(f"{source} has a corrupt pickle: {type(e).__name__}: {e}") from None


def _read_legacy(path: Path) -> dict[str, np.ndarray]:
    source = str(path)
    with open(path, "rb") as f:
        magic = _unpickle(f, source, None)
        if magic != _LEGACY_MAGIC:
            raise CheckpointError(f"{source} is neither a zip archive nor a legacy torch.save file (bad magic number)")
        protocol = _unpickle(f, source, None)
        if protocol != _LEGACY_PROTOCOL:
            raise CheckpointError(f"{source}: unsupported legacy torch.save protocol {protocol!r}")
        sys_info = _unpickle(f, source, None)
        little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
        roots: dict[str, _Storage] = {}

        def load_storage(key, stype, numel, view):
            st = roots.get(key)
            if st is None:
                st = roots[key] = _Storage(key, stype, numel)
            elif st.stype.dtype != stype.dtype:
                raise CheckpointError(f"{source}: storage {key!r} is used as both {st.stype} and {stype}")
            if view is None:
                return st
            if not (isinstance(view, tuple) and len(view) == 3):
                raise CheckpointError(f"{source}: malformed storage view {view!r}")
            _view_key, offset, size = view
            return _View(st, *_check_ints("storage view", (offset, size)))

        obj = _unpickle(f, source, load_storage)
        keys = _unpickle(f, source, None)
        if not isinstance(keys, list):
            raise CheckpointError(f"{source} is corrupt: storage key list is a {type(keys).__name__}")
        for key in keys:
            st = roots.get(key)
            if st is None:
                raise CheckpointError(f"{source} is corrupt: storage {key!r} is listed but never used")
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{source} is truncated: storage {key!r} is missing")
            (numel,) = struct.unpack("<q" if little else ">q", head)
            item = st.stype.dtype.itemsize
            raw = f.read(numel * item) if numel >= 0 else b""
            if numel < 0 or len(raw) < numel * item:
                raise CheckpointError(
                    f"{source} is truncated: storage {key!r} needs {numel * item} bytes, the file has {len(raw)}"
                )
            st.array = _native(np.frombuffer(raw, dtype=np.uint8).copy(), st.stype.dtype, not little)
    return _finish(obj, source)


def read_torch_bin(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``torch.save``-d state dict (``pytorch_model.bin``) as ``{name: np.ndarray}``.

    Never imports torch and never calls a global outside :data:`ALLOWED_GLOBALS`:
    a pickle naming anything else raises :class:`UnsafePickleError` (naming the
    global and the file) before it can run. A corrupt or truncated file raises
    :class:`CheckpointError`.
    """
    path = Path(path)
    source = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"no such checkpoint file: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a torch checkpoint file") from None
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as zf:
                return _read_zip(path, zf)
        except zipfile.BadZipFile as e:
            raise CheckpointError(f"{source} is a corrupt or truncated zip archive ({e})") from None
    if head[:1] == b"\x80":  # a pickle protocol opcode: the legacy (pre-1.6) stream format
        return _read_legacy(path)
    raise CheckpointError(
        f"{source} is not a torch.save checkpoint (neither a zip archive nor a pickle; first bytes {head!r})"
    )
