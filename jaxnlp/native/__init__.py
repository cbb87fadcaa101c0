"""An optional native kernel for CPU: matrix products of a few rows against
weights stored a second time, pre-arranged in column tiles that stream from
memory front to back (packed_matmul.cc, called through `jax.ffi`;
bench/README.md, "what a hand-written kernel would buy", has the
measurements behind it). Two places use it:

- decoding steps of `generate` (batch x beams <= MAX_ROWS rows): the
  decoder's Dense calls and tied LM heads;
- a model's forward call (`Model.__call__`, so every pipeline) of at most
  MAX_ROWS rows (batch x positions): every Dense call and tied head.

Up to MAX_ROWS rows the kernel's products are faster than XLA's dot (2.5x at
8 rows, where XLA reads the weights in pieces; 1.13x at 128, where XLA
reaches 87% of the matmul peak and the kernel 98%); from 512 rows on they
are level (bench/native_rows.py, bench/README.md). Above MAX_ROWS, and for
the prefill and the encoder inside `generate`, XLA's dot runs.

It is built at first use with the machine's C++ compiler (`$CXX`, else c++,
g++ or clang++; `-O3 -march=native`) into a cache directory
(`$JAXNLP_CACHE_DIR/native`, default ~/.cache/jaxnlp/native) keyed by the
source, jaxlib's version, the compiler and the CPU's flags. Without a
compiler, on a build error, on another backend than CPU, for parameters
sharded over a mesh or stored in another dtype than float32, and with
`JAXNLP_CPU_KERNELS=0` (or `enable(False)`) nothing changes: XLA's dot runs
as before, and `status()` says why.

Cost: a model keeps a packed copy of the kernels these calls use (built at
the first call that needs them: for a forward call of <= MAX_ROWS rows
about all its Dense weights again, for `generate` the decoder's).
`JAXNLP_CPU_KERNELS=decode` (or `enable("decode")`) keeps the kernel for
decoding steps only; `JAXNLP_CPU_KERNELS=0` avoids every copy.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.traverse_util import flatten_dict

SOURCE = Path(__file__).resolve().parent / "packed_matmul.cc"
TARGET = "jaxnlp_packed_matmul"
MAX_ROWS = 256           # rows (batch x beams, batch x positions) up to which the kernel replaces XLA's dot

_lock = threading.Lock()
_state: dict = {}        # "tile": int once built and registered, or "error": str


_MODES = {"1": "all", "true": "all", "on": "all", "yes": "all", "all": "all",
          "decode": "decode", "decoding": "decode", "0": "off", "false": "off", "off": "off", "no": "off"}


def _mode(value, strict: bool = False) -> str:
    """"all" (decoding steps and small forward calls), "decode" or "off"; an
    unknown word means "all" (the environment) or a ValueError (`strict`)."""
    if not isinstance(value, str):
        return "all" if value else "off"
    word = value.strip().lower()
    if word not in _MODES and strict:
        raise ValueError(f"enable: {value!r} is not True, False or 'decode'")
    return _MODES.get(word, "all")


_enabled = _mode(os.environ.get("JAXNLP_CPU_KERNELS", "1"))


def enable(on: bool | str = True) -> None:
    """Turn the native kernel on (True), off (False) or on for decoding
    steps only ("decode"), for later calls."""
    global _enabled
    _enabled = _mode(on, strict=True)


def enabled(forward: bool = False) -> bool:
    """Whether the kernel is switched on (for forward calls: `forward=True`)."""
    return _enabled == "all" if forward else _enabled != "off"


def _cache_dir() -> Path:
    root = os.environ.get("JAXNLP_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "jaxnlp") / "native"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(march: str = "native") -> Path:
    """The compiled library for this machine (built once per key)."""
    import jaxlib

    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler (set CXX)")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, jaxlib.__version__.encode(), cxx.encode(), march.encode(),
                                      platform.machine().encode(), _cpu_flags().encode()])).hexdigest()[:16]
    out = _cache_dir() / f"packed_matmul-{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        part = Path(tmp) / out.name
        cmd = [cxx, "-O3", f"-march={march}", "-std=c++17", "-shared", "-fPIC", "-w",
               f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", str(part)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if res.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
        os.replace(part, out)            # atomic: a concurrent build of the same key writes the same file
    return out


def _load() -> None:
    """Build (once per key) and register the kernel; record why not on failure."""
    with _lock:
        if _state:
            return
        try:
            if jax.default_backend() != "cpu":
                raise RuntimeError(f"the default backend is {jax.default_backend()}, not cpu")
            lib = ctypes.CDLL(str(_build()))
            tile = int(lib.jaxnlp_packed_tile_width())
            jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.JaxnlpPackedMatmul), platform="cpu")
            _state.update(tile=tile, lib=lib)
        except Exception as e:        # noqa: BLE001 - any failure means: fall back to XLA's dot
            _state["error"] = f"{type(e).__name__}: {e}"


def status() -> str:
    """'on (tile N ...)', 'off (...)' or 'unavailable (...)': what later calls will do."""
    if _enabled == "off":
        return "off (JAXNLP_CPU_KERNELS=0 or jaxnlp.native.enable(False))"
    _load()
    if "error" in _state:
        return f"unavailable ({_state['error']})"
    where = "" if _enabled == "all" else ", decoding steps only"
    return f"on (tile {_state['tile']} columns{where})"


def usable(forward: bool = False) -> bool:
    """Enabled (for forward calls: `forward=True`), on the CPU backend, built and registered."""
    if not enabled(forward):
        return False
    _load()
    return "tile" in _state


def tile_width() -> int:
    _load()
    if "tile" not in _state:
        raise RuntimeError(f"the native kernel is unavailable: {_state.get('error')}")
    return _state["tile"]


def pack(kernel, tile: int | None = None) -> jax.Array:
    """A Dense kernel [K, N] -> [ceil(N / tile), K, tile], each column tile
    contiguous, the last one zero-padded (tile: the built kernel's width)."""
    tile = tile or tile_width()
    k, n = kernel.shape
    t = -(-n // tile)
    w = np.asarray(kernel, np.float32)
    padded = np.zeros((k, t * tile), np.float32)
    padded[:, :n] = w
    return jnp.asarray(np.ascontiguousarray(padded.reshape(k, t, tile).transpose(1, 0, 2)))


def packed_matmul(x, packed, n: int, target: str = TARGET):
    """x [..., K] @ the kernel `packed` came from ([K, n]) -> [..., n], float32."""
    lead = x.shape[:-1]
    rows = math.prod(lead)
    y = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct((rows, n), jnp.float32))(
        x.reshape(rows, x.shape[-1]), packed)
    return y.reshape(*lead, n)


# The packed kernels (or a Recorder) of the call being traced, for
# `tied_head`: the tied LM heads are a function of an Embed, not a Dense call.
_active = contextvars.ContextVar("jaxnlp_native_packed", default=None)
HEAD = ":attend"        # key suffix of a tied head: the embedding table, transposed and packed


class Recorder:
    """Stands in for the packed kernels while a program is traced abstractly:
    collects the Dense modules it calls with few enough float32 rows (their
    paths, "decoder/layers_0/fc1") and the embeddings whose tied head it
    computes ("transformer/wte:attend")."""

    def __init__(self):
        self.keys: set[str] = set()


def _fits(compute_dtype, x, weight) -> bool:
    """A product the kernel takes: float32 throughout, at most MAX_ROWS rows."""
    return (compute_dtype in (None, jnp.float32) and getattr(x, "dtype", None) == jnp.float32
            and x.ndim >= 2 and math.prod(x.shape[:-1]) <= MAX_ROWS
            and weight is not None and weight.ndim == 2 and weight.dtype == jnp.float32)


def tied_head(embed, x):
    """Inside `dense_kernels`: the tied LM head x @ embed.embedding^T on the
    packed copy of the table, or None (then the caller computes it)."""
    packed = _active.get()
    if packed is None or not _fits(embed.dtype, x, embed.embedding):
        return None
    key = "/".join(embed.path) + HEAD
    if isinstance(packed, Recorder):
        packed.keys.add(key)
        return None
    return packed_matmul(x, packed[key], embed.embedding.shape[0]) if key in packed else None


@contextlib.contextmanager
def dense_kernels(packed):
    """Context manager for tracing a decoding step or a forward call: Dense
    calls of at most MAX_ROWS rows whose path is in `packed` (a dict, or a
    Recorder to collect paths) run the native kernel on the packed copy
    instead of XLA's dot, and so do tied heads (`tied_head`); every other
    call is untouched. `packed=None`: nothing changes."""
    if packed is None:
        yield
        return

    def intercept(next_fun, args, kwargs, context):
        module = context.module
        if (context.method_name == "__call__" and isinstance(module, nn.Dense) and args and not kwargs
                and _fits(module.dtype, args[0], module.get_variable("params", "kernel"))):
            key = "/".join(module.path)
            if isinstance(packed, Recorder):
                packed.keys.add(key)
            elif key in packed:
                y = packed_matmul(args[0], packed[key], module.features)
                if module.use_bias:
                    y = y + module.get_variable("params", "bias")
                return y
        return next_fun(*args, **kwargs)

    token = _active.set(packed)
    try:
        with nn.intercept_methods(intercept):
            yield
    finally:
        _active.reset(token)


class Packed:
    """A model's packed kernels (kept on it as `_native_packed`): `arrays`,
    path -> packed copy, shared by all its calls; `keys`, a call signature ->
    the paths that call uses (recorded once per signature)."""

    def __init__(self, params):
        self.params = params
        self.arrays: dict[str, jax.Array] = {}
        self.keys: dict = {}

    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())


def kernels_for(model, trace, signature=None, forward: bool = False) -> dict | None:
    """The packed kernels one kind of call of `model` uses (`signature`: any
    hashable value that fixes the shapes it sees; `trace(recorder)` traces it
    abstractly with a Recorder, once per signature). Each kernel is packed
    once per params object and kept on the model. None when the kernel is not
    usable (for forward calls: `forward=True`), the model is sharded over a
    mesh or the call uses no kernel (XLA's dot then, as without it)."""
    if getattr(model, "mesh", None) is not None or not usable(forward):
        return None
    held = model.__dict__.get("_native_packed")
    if held is None or held.params is not model.params:
        held = model.__dict__["_native_packed"] = Packed(model.params)
    keys = held.keys.get(signature)
    if keys is None:
        recorder = Recorder()
        trace(recorder)
        keys = tuple(sorted(recorder.keys))
        missing = [key for key in keys if key not in held.arrays]
        if missing:
            flat = flatten_dict(model.params)
            for key in missing:
                source = (np.asarray(flat[(*key[:-len(HEAD)].split("/"), "embedding")]).T if key.endswith(HEAD)
                          else flat[(*key.split("/"), "kernel")])
                held.arrays[key] = pack(source)
        held.keys[signature] = keys
    return {key: held.arrays[key] for key in keys} or None
