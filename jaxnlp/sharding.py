"""Many devices: place parameters, inputs and decoding caches on a
`jax.sharding.Mesh` with axes "data" (batch) and "model" (heads and
feed-forward), so that the jitted forward and `generate` run as one SPMD
program over all devices (GSPMD inserts the collectives) with the same
results as on one device.

Parameters are split Megatron-style by a rule table over their path in the
param tree (the module's name, and whether it sits under an attention module),
generic over every architecture here (BERT family, GPT-2, BART family, T5):

  attention q/k/v (query|key|value|qkv)  kernel [in, heads*hd] -> (-, model), bias -> (model)
  attention output (output)              kernel [heads*hd, out] -> (model, -), bias replicated
  feed-forward in (intermediate|c_fc|fc1|wi|wi_0|wi_1)
                                         kernel [in, ff]  -> (-, model), bias -> (model)
  feed-forward out (output|c_proj|fc2|wo) kernel [ff, out] -> (model, -), bias replicated
  word embeddings (word_embeddings|wte|shared|embed_tokens) [vocab, d] -> (model, -)
  LM head (lm_head/kernel) [d, vocab]    -> (-, model)
  everything else (norms, positions, token types, T5's relative bias,
  classifier heads, final_logits_bias)   replicated

Decisions:
- Embeddings and LM heads are split over the vocabulary on "model": they are
  the largest matrices of small models, and a tied head (`attend`) then yields
  vocabulary-split logits without a gather. XLA partitions the lookup.
- A dimension that does not divide by its axis size is replicated along that
  axis (never padded). Attention projections additionally need every head
  count of the model (`num_heads`) to divide by the "model" size, so that each
  device holds whole heads; otherwise they are replicated (e.g. 6 heads on
  model=4), even when heads*head_dim would divide.
- GPT-2's fused `qkv` kernel [d, 3*heads*hd] is split contiguously: the
  q/k/v thirds do not line up with the shards, and XLA exchanges them after
  the projection (correct, one collective per layer; memory still split).
- Inputs (`shard_batch`) and caches (`cache_specs`): the leading (batch, or
  batch x beams) axis over "data"; a cache leaf of rank 4 (keys [B, N, H, L],
  values [B, N, L, H], or beam search's grouped ones) also has its heads axis
  over "model".
- A sharded Model's forward and `generate` pad the batch (rows repeated,
  then dropped) to a multiple of the "data" size, so the batch always splits.
- Meshes are used with Auto axis types (GSPMD propagation): a mesh from
  `jax.make_mesh` (Explicit axes by default in this jax) is rebuilt over the
  same devices with Auto axes.

Multi-host: call `jax.distributed.initialize()` in every process first, then
build the mesh over `jax.devices()` (all hosts' devices; `make_mesh` does
this) and run the same program in every process. Inputs given as host numpy
arrays must then be identical in every process (each process places its
addressable shards). Only single-process meshes are tested here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable

import jax
import numpy as np
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec as P

__all__ = ["DATA", "MODEL", "make_mesh", "as_mesh", "param_specs", "shard_params", "shard_batch",
           "batch_spec", "cache_specs", "constrain_cache", "replicate", "attention_heads", "data_size",
           "rows_for", "shard_model"]

DATA, MODEL = "data", "model"

_ATTENTION_PARENT = re.compile(r"attn|attention", re.IGNORECASE)
_ATTN_IN = {"query", "key", "value", "qkv"}
_ATTN_OUT = {"output"}
_FF_IN = {"intermediate", "c_fc", "fc1", "wi", "wi_0", "wi_1"}
_FF_OUT = {"output", "c_proj", "fc2", "wo"}
_EMBEDDINGS = {"word_embeddings", "wte", "shared", "embed_tokens"}
_HEAD_FIELDS = ("num_attention_heads", "n_head", "n_heads", "num_heads",
                "encoder_attention_heads", "decoder_attention_heads")


def make_mesh(data: int | None = None, model: int = 1, devices=None) -> Mesh:
    """A ("data", "model") mesh over `devices` (default `jax.devices()`, every
    host's). `data=None` takes all devices left: len(devices) // model. Uses the
    first data * model devices."""
    devices = list(jax.devices() if devices is None else devices)
    for name, value in (("model", model), ("data", data)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or value < 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if len({id(d) for d in devices}) != len(devices):
        raise ValueError("devices lists a device more than once")
    if data is None:
        data = len(devices) // model
        if data < 1:
            raise ValueError(f"model={model} needs {model} devices, there are {len(devices)}")
    if data * model > len(devices):
        raise ValueError(f"a data={data} x model={model} mesh needs {data * model} devices, "
                         f"there are {len(devices)}")
    grid = np.empty(data * model, dtype=object)
    grid[:] = devices[:data * model]
    return Mesh(grid.reshape(data, model), (DATA, MODEL), axis_types=(AxisType.Auto, AxisType.Auto))


def as_mesh(mesh, *, abstract_ok: bool = False) -> Mesh:
    """Check that `mesh` is a jax Mesh (or, with abstract_ok, an AbstractMesh)
    with "data" and "model" axes; return it with Auto axis types (see the
    module notes)."""
    if abstract_ok and isinstance(mesh, AbstractMesh):
        pass
    elif not isinstance(mesh, Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh (jaxnlp.sharding.make_mesh builds one), "
                        f"got {type(mesh).__name__}")
    missing = [a for a in (DATA, MODEL) if a not in mesh.axis_names]
    if missing:
        raise ValueError(f"mesh axes are {mesh.axis_names}; jaxnlp needs axes named 'data' and 'model' "
                         f"(missing {missing}; use size 1 for an axis you do not split)")
    if isinstance(mesh, Mesh) and any(t != AxisType.Auto for t in mesh.axis_types):
        mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
    return mesh


def data_size(mesh) -> int:
    return 1 if mesh is None else mesh.shape[DATA]


def attention_heads(config) -> tuple[int, ...]:
    """The attention head counts a config declares (any of the HF field names)."""
    get = config.get if hasattr(config, "get") else (lambda k: getattr(config, k, None))
    return tuple(sorted({int(v) for v in (get(k) for k in _HEAD_FIELDS) if isinstance(v, (int, np.integer))}))


def _axis(mesh, name: str, size: int) -> str | None:
    """`name` if a dimension of `size` splits over it (axis size > 1 dividing it), else None."""
    n = mesh.shape[name]
    return name if n > 1 and size % n == 0 else None


def _names(path) -> list[str]:
    return [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]


def _leaf_spec(names: list[str], shape: tuple[int, ...], mesh: Mesh, heads_ok: bool) -> P:
    leaf, module = names[-1], names[-2] if len(names) > 1 else ""
    in_attention = any(_ATTENTION_PARENT.search(n) for n in names[:-2])
    if in_attention:
        split_in, split_out = module in _ATTN_IN and heads_ok, module in _ATTN_OUT and heads_ok
    else:
        split_in, split_out = module in _FF_IN, module in _FF_OUT
    if leaf == "kernel" and len(shape) == 2:
        if split_in or (module == "lm_head"):
            return P(None, _axis(mesh, MODEL, shape[1]))
        if split_out:
            return P(_axis(mesh, MODEL, shape[0]), None)
    elif leaf == "bias" and len(shape) == 1 and split_in:
        return P(_axis(mesh, MODEL, shape[0]))
    elif leaf == "embedding" and len(shape) == 2 and module in _EMBEDDINGS:
        return P(_axis(mesh, MODEL, shape[0]), None)
    return P()


def param_specs(params, mesh, *, num_heads: int | Iterable[int] | None = None):
    """A PartitionSpec per parameter leaf (same tree), by the module notes' rule
    table. `num_heads` (the model's attention head counts, `attention_heads(config)`):
    attention projections are split only when each divides by the "model" size;
    None: only the dimension's divisibility counts. `mesh` may be an
    AbstractMesh (plan a layout without the devices); leaves may be
    ShapeDtypeStructs (`jax.eval_shape`)."""
    mesh = as_mesh(mesh, abstract_ok=True)
    if num_heads is None:
        heads_ok = True
    else:
        counts = (num_heads,) if isinstance(num_heads, (int, np.integer)) else tuple(num_heads)
        heads_ok = all(int(h) % mesh.shape[MODEL] == 0 for h in counts)
    return jax.tree_util.tree_map_with_path(
        lambda path, x: _leaf_spec(_names(path), tuple(np.shape(x)), mesh, heads_ok), params)


def shard_params(params, mesh, *, num_heads: int | Iterable[int] | None = None):
    """`params` placed on `mesh` per `param_specs` (jax Arrays with NamedSharding)."""
    mesh = as_mesh(mesh)
    specs = param_specs(params, mesh, num_heads=num_heads)
    return jax.device_put(params, jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                                               is_leaf=lambda s: isinstance(s, P)))


def shard_model(model, mesh):
    """A copy of a loaded jaxnlp Model with its parameters placed on `mesh`
    (what `load_model(..., mesh=)` returns); the original is left as it is."""
    mesh = as_mesh(mesh)
    params = shard_params(model.params, mesh, num_heads=attention_heads(model.config))
    return dataclasses.replace(model, params=params, mesh=mesh)


def batch_spec(shape, mesh) -> P:
    """Leading axis over "data" when it divides, the rest replicated."""
    if len(shape) == 0:
        return P()
    return P(_axis(mesh, DATA, shape[0]), *([None] * (len(shape) - 1)))


def shard_batch(arrays, mesh):
    """Every array of the pytree `arrays` (numpy or jax, batch first) placed
    with its batch axis over "data" (replicated where it does not divide)."""
    mesh = as_mesh(mesh)
    return jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, batch_spec(np.shape(a), mesh))), arrays)


def replicate(tree, mesh):
    """Every leaf of `tree` copied to every device of `mesh`."""
    return jax.device_put(tree, NamedSharding(as_mesh(mesh), P()))


def cache_specs(cache, mesh):
    """Specs for a decoding cache: leading (row) axis over "data", and for
    rank-4 leaves (keys [B, N, H, L], values [B, N, L, H]; beam search's
    grouped [B, N, H, L * K], [B, N, L * K, H]) heads over "model"; each only
    where it divides."""
    def spec(x):
        shape = np.shape(x)
        s = batch_spec(shape, mesh)
        if len(shape) == 4:
            s = P(s[0], _axis(mesh, MODEL, shape[1]), None, None)
        return s
    return jax.tree.map(spec, cache)


def constrain_cache(cache, mesh):
    """`cache` with `cache_specs` sharding constraints (inside jit), so that the
    layout stays put through the decoding loop. Identity without a mesh."""
    if mesh is None:
        return cache
    specs = cache_specs(cache, mesh)
    return jax.tree.map(lambda x, s: jax.lax.with_sharding_constraint(x, NamedSharding(mesh, s)),
                        cache, specs, is_leaf=lambda s: isinstance(s, P))


def rows_for(batch: int, mesh) -> int:
    """`batch` rounded up to a multiple of the "data" size (so the batch splits)."""
    n = data_size(mesh)
    return batch if n == 1 else math.ceil(batch / n) * n
