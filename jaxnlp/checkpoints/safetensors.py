"""Reading and writing the safetensors format without the `safetensors` package.

Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian
header length N, N bytes of JSON (possibly padded with spaces), then the data
buffer. The header maps each tensor name to ``{"dtype", "shape",
"data_offsets": [begin, end]}`` (offsets relative to the data buffer) and may
hold a ``"__metadata__"`` map of strings.

Arrays are returned as views of a copy-on-write memory map: nothing is read
until it is used, they are writable, and writes never reach the file.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Mapping

import ml_dtypes
import numpy as np

from jaxnlp.errors import CheckpointError

__all__ = ["read_safetensors", "read_safetensors_metadata", "write_safetensors", "SAFETENSORS_DTYPES"]

# safetensors dtype name -> numpy dtype (little-endian where it matters).
SAFETENSORS_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("bool"),
}
_NAME_OF_DTYPE = {dt: name for name, dt in SAFETENSORS_DTYPES.items()}

# The reference implementation refuses headers above 100 MB; so do we.
_MAX_HEADER_BYTES = 100_000_000


def _parse_header(path: Path) -> tuple[dict, int, int]:
    """Return (header dict, data buffer start, file size); validates the framing only."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise CheckpointError(
                    f"{path} is not a safetensors file: it has {size} bytes, fewer than the 8-byte header length"
                )
            (n,) = struct.unpack("<Q", prefix)
            if n > size - 8:
                raise CheckpointError(
                    f"{path} is truncated or not a safetensors file: its header length says {n} bytes "
                    f"but the file has only {size - 8} bytes after the length field"
                )
            if n > _MAX_HEADER_BYTES:
                raise CheckpointError(f"{path} has an implausible safetensors header length ({n} bytes)")
            raw = f.read(n)
    except FileNotFoundError:
        raise CheckpointError(f"no such safetensors file: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a safetensors file") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} has a corrupt safetensors header (not valid JSON: {e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(
            f"{path} has a corrupt safetensors header: expected a JSON object, got {type(header).__name__}"
        )
    return header, 8 + n, size


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file (empty if it has none)."""
    path = Path(path)
    header, _, _ = _parse_header(path)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} has a corrupt safetensors header: __metadata__ is not an object")
    return dict(meta)


def _entry(path: Path, name: str, info, data_start: int, size: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """Validate one header entry; return (dtype, shape, absolute begin, absolute end)."""
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} has a corrupt safetensors header: entry {name!r} is not an object")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise CheckpointError(f"{path} has a corrupt safetensors header: tensor {name!r} lacks {', '.join(missing)}")
    dtype_name = info["dtype"]
    if dtype_name not in SAFETENSORS_DTYPES:
        raise CheckpointError(
            f"{path}: tensor {name!r} has unsupported dtype {dtype_name!r} "
            f"(supported: {', '.join(SAFETENSORS_DTYPES)})"
        )
    dtype = SAFETENSORS_DTYPES[dtype_name]
    shape = info["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise CheckpointError(f"{path} has a corrupt safetensors header: tensor {name!r} has shape {shape!r}")
    offsets = info["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise CheckpointError(
            f"{path} has a corrupt safetensors header: tensor {name!r} has data_offsets {offsets!r}"
        )
    if math.prod(max(d, 1) for d in shape) * dtype.itemsize >= 2 ** 62:   # (numpy: "array is too big")
        raise CheckpointError(f"{path} has a corrupt safetensors header: tensor {name!r} has shape {shape!r}")
    begin, end = data_start + offsets[0], data_start + offsets[1]
    expected = math.prod(shape) * dtype.itemsize
    if end - begin != expected:
        raise CheckpointError(
            f"{path} has a corrupt safetensors header: tensor {name!r} ({dtype_name}, shape {shape}) "
            f"needs {expected} bytes but its data_offsets {offsets} span {end - begin}"
        )
    if end > size:
        raise CheckpointError(
            f"{path} is truncated: tensor {name!r} needs bytes [{begin}, {end}) but the file has {size}"
        )
    return dtype, tuple(shape), begin, end


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file as numpy arrays (zero-copy, memory-mapped).

    Raises CheckpointError naming the file and the problem when the file is
    missing, truncated, or its header is corrupt.
    """
    path = Path(path)
    header, data_start, size = _parse_header(path)
    entries = {}
    for name, info in header.items():
        if name == "__metadata__":
            if info is not None and not isinstance(info, dict):
                raise CheckpointError(f"{path} has a corrupt safetensors header: __metadata__ is not an object")
            continue
        entries[name] = _entry(path, name, info, data_start, size)
    if not entries:
        return {}
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items() if end > begin)
    for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
        if begin < end:      # (the safetensors library refuses these too)
            raise CheckpointError(f"{path} has a corrupt safetensors header: tensors {first!r} and {second!r} "
                                  "overlap in the data buffer")
    if size == 0:  # pragma: no cover - guarded by _parse_header
        return {}
    buffer = np.memmap(path, dtype=np.uint8, mode="c", shape=(size,))
    out: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        out[name] = buffer[begin:end].view(dtype).reshape(shape)
    return out


def _safetensors_dtype(name: str, arr: np.ndarray) -> tuple[str, np.ndarray]:
    dt = arr.dtype
    if dt.byteorder == ">" or (dt.byteorder == "=" and np.little_endian is False):
        arr = arr.astype(dt.newbyteorder("<"))
        dt = arr.dtype
    key = _NAME_OF_DTYPE.get(dt) or _NAME_OF_DTYPE.get(dt.newbyteorder("<"))
    if key is None:
        raise CheckpointError(
            f"cannot write tensor {name!r} to safetensors: unsupported dtype {dt} "
            f"(supported: {', '.join(str(d) for d in SAFETENSORS_DTYPES.values())})"
        )
    return key, arr


def write_safetensors(
    path: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``{name: array}`` (numpy or anything ``np.asarray`` accepts) as a safetensors file.

    Tensors are laid out in name order; the header is padded to 8 bytes as the
    reference implementation does. The input mapping is not modified.
    """
    path = Path(path)
    header: dict = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise CheckpointError("safetensors __metadata__ keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    arrays = []
    offset = 0
    for name in sorted(tensors):
        if not isinstance(name, str) or name == "__metadata__":
            raise CheckpointError(f"invalid safetensors tensor name {name!r}")
        arr = np.asarray(tensors[name])
        key, arr = _safetensors_dtype(name, arr)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
        nbytes = arr.nbytes
        header[name] = {"dtype": key, "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        arrays.append(arr)
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for arr in arrays:
            f.write(arr.reshape(-1).view(np.uint8).data if arr.size else b"")
    os.replace(tmp, path)
