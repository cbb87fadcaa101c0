"""`load_model`: a checkpoint directory or hub id -> a ready, jitted model."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnlp import native
from jaxnlp.errors import CheckpointError, InputTooLongError
from jaxnlp.models.conversion import convert_state_dict
from jaxnlp.models.registry import Architecture, check_task, get_architecture

_DTYPES = {"float32": jnp.float32, "fp32": jnp.float32, "bfloat16": jnp.bfloat16,
           "bf16": jnp.bfloat16, "float16": jnp.float16, "fp16": jnp.float16}


def as_dtype(dtype: Any) -> jnp.dtype:
    """A computation / parameter dtype: float32, bfloat16 or float16, by name
    (the keys of _DTYPES) or as a numpy / jax dtype. Anything else (float64,
    which jax would silently make float32 without x64; ints; complex; None)
    is a ValueError, not an error deep in flax or jax.random."""
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
        return jnp.dtype(_DTYPES[dtype])
    try:
        resolved = jnp.dtype(dtype) if dtype is not None else None
    except TypeError:
        resolved = None
    if resolved not in {jnp.dtype(d) for d in _DTYPES.values()}:
        raise ValueError(f"unsupported dtype {dtype!r}; use float32, bfloat16 or float16 "
                         f"(one of {sorted(_DTYPES)})")
    return resolved


@dataclasses.dataclass(eq=False)
class Model:
    """A Flax module with its converted parameters and config.

    Calling it runs the jitted forward: numpy or jax arrays in, the task's
    output (logits, or a (start, end) pair for question answering) out."""

    module: Any
    params: Any
    config: Any
    task: str
    architecture: Architecture
    model_dir: Path | None = None
    mesh: Any = None        # a jax Mesh ("data", "model") the params are sharded over, or None

    @functools.cached_property
    def _forward(self):
        return jax.jit(lambda params, inputs: self.module.apply({"params": params}, **inputs))

    def _apply_native(self, params, packed, inputs):
        with native.dense_kernels(packed):
            return self.module.apply({"params": params}, **inputs)

    @functools.cached_property
    def _native_forward(self):
        return jax.jit(self._apply_native)

    def _packed_for(self, inputs: dict):
        """jaxnlp.native's packed kernels for a forward call of at most
        MAX_ROWS rows (batch x positions) on CPU, or None."""
        rows = min(int(np.prod(inputs[k].shape)) for k in ("input_ids", "decoder_input_ids") if k in inputs)
        if rows > native.MAX_ROWS:
            return None
        signature = ("forward", tuple(sorted((k, v.shape) for k, v in inputs.items())))
        return native.kernels_for(self, lambda rec: jax.eval_shape(
            lambda p, i: self._apply_native(p, rec, i), self.params, inputs), signature, forward=True)

    @property
    def max_positions(self) -> int | None:
        """The longest input the model takes (None: no limit)."""
        return getattr(self.config, "max_input_length", None)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        inputs = {"input_ids": _check_ids(input_ids, "input_ids", self.config.get("vocab_size"))}
        batch, length = inputs["input_ids"].shape
        limit = self.max_positions
        if limit is not None and length > limit:
            raise InputTooLongError(
                f"input has {length} tokens but the model takes at most {limit} "
                "(truncate it, e.g. the tokenizer's truncation=True)")
        if attention_mask is not None:
            inputs["attention_mask"] = _check_mask(attention_mask, "attention_mask", (batch, length))
        if token_type_ids is not None:
            value = _as_array(token_type_ids, "token_type_ids")
            if value.shape != (batch, length):
                raise ValueError(f"token_type_ids has shape {value.shape}, input_ids {(batch, length)}")
            inputs["token_type_ids"] = jnp.asarray(value)
        unknown = sorted(set(kwargs) - {"decoder_input_ids", "decoder_attention_mask"})
        if unknown:
            raise TypeError(f"unexpected model input(s): {', '.join(unknown)}")
        if kwargs.get("decoder_input_ids") is not None:
            vocab = self.config.get("decoder_vocab_size") or self.config.get("vocab_size")
            dec = _check_ids(kwargs["decoder_input_ids"], "decoder_input_ids", vocab)
            if dec.shape[0] != batch:
                raise ValueError(f"decoder_input_ids has batch {dec.shape[0]}, input_ids {batch}")
            target_limit = getattr(self.config, "max_target_length", limit)
            if target_limit is not None and dec.shape[1] > target_limit:
                raise InputTooLongError(f"decoder_input_ids has {dec.shape[1]} tokens but the decoder takes "
                                        f"at most {target_limit}")
            inputs["decoder_input_ids"] = dec
            if kwargs.get("decoder_attention_mask") is not None:
                inputs["decoder_attention_mask"] = _check_mask(kwargs["decoder_attention_mask"],
                                                               "decoder_attention_mask", dec.shape)
        elif kwargs.get("decoder_attention_mask") is not None:
            raise ValueError("decoder_attention_mask given without decoder_input_ids")
        if token_type_ids is not None:
            types = self.config.get("type_vocab_size")
            if not types:
                del inputs["token_type_ids"]     # the model has no token types
            else:
                _check_ids(token_type_ids, "token_type_ids", types)
        if self.mesh is None:
            packed = self._packed_for(inputs)
            if packed is not None:
                return self._native_forward(self.params, packed, inputs)
            return self._forward(self.params, inputs)
        return self._sharded_forward(inputs, batch)

    def _sharded_forward(self, inputs: dict, batch: int):
        """Rows padded (last row repeated) to a multiple of the "data" size,
        placed batch-split, run, and the padding rows dropped."""
        from jaxnlp.sharding import rows_for, shard_batch

        rows = rows_for(batch, self.mesh)
        if rows != batch:
            inputs = {k: jnp.concatenate([v, jnp.repeat(v[-1:], rows - batch, axis=0)]) for k, v in inputs.items()}
        out = self._forward(self.params, shard_batch(inputs, self.mesh))
        return out if rows == batch else jax.tree.map(lambda a: a[:batch], out)


def _as_array(value, name: str):
    """A list / tuple as a numpy array; ragged rows named instead of numpy's
    "inhomogeneous shape" error."""
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except ValueError:
            raise ValueError(f"{name} rows have different lengths: pad them to one length "
                             "(and pass an attention_mask)") from None
    return value


def check_mask_values(mask, name: str = "attention_mask") -> None:
    """An attention mask must hold 0/1 (or booleans): the model reads any
    nonzero value as 1 and generate's positions count the mask, while
    transformers adds (1 - mask) x the dtype's minimum, so other values would
    silently differ. (Shared by the forward and `jaxnlp.generate`.)"""
    if mask.dtype == object or not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
        raise TypeError(f"{name} must hold 0/1 (or booleans), got dtype {mask.dtype}")
    if mask.dtype != bool:
        host = np.asarray(mask)
        bad = (host != 0) & (host != 1)
        if bad.any():
            raise ValueError(f"{name} must hold only 0 and 1, got {host[bad].flat[0]!r}")


def _check_mask(mask, name: str, shape: tuple):
    """An attention mask of exactly `shape` holding 0/1 (or booleans)."""
    mask = _as_array(mask, name)
    if not hasattr(mask, "dtype") or not hasattr(mask, "shape"):
        raise TypeError(f"{name} must be an array of 0/1, got {type(mask).__name__}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(mask.shape)}, expected {tuple(shape)} (as the ids)")
    check_mask_values(mask, name)
    return jnp.asarray(mask)


def _check_ids(ids, name: str, vocab_size: int | None):
    ids = _as_array(ids, name)
    if not hasattr(ids, "dtype") or not hasattr(ids, "shape"):
        raise TypeError(f"{name} must be an integer array, got {type(ids).__name__}")
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integers, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must be [batch, seq], got shape {tuple(ids.shape)}")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(ids.shape)})")
    if vocab_size is not None:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"{name} holds ids outside [0, {vocab_size}): min {lo}, max {hi}")
    return jnp.asarray(ids, jnp.int32)


def _default_param_dtype(state_dict) -> jnp.dtype:
    floats = {np.dtype(v.dtype) for v in state_dict.values() if np.issubdtype(v.dtype, np.floating)
              or str(v.dtype) == "bfloat16"}
    if len(floats) == 1:
        only = floats.pop()
        if str(only) in ("bfloat16", "float16"):
            return jnp.dtype(str(only))
    return jnp.dtype(jnp.float32)


def build_module(config_dict: dict, task: str, dtype="float32", param_dtype=None):
    """(architecture, config, module, expected parameter shapes) for a config."""
    arch = get_architecture(config_dict.get("model_type"))
    check_task(arch, task)
    config = arch.config_class.from_dict(config_dict)
    if task.endswith("-classification") and config.id2label is not None:
        ids = sorted(dict(config.id2label))
        if ids != list(range(len(ids))):     # a gap would report a class as LABEL_<i>, silently
            raise CheckpointError(f"config.json id2label ids must be 0 .. {len(ids) - 1} for the {task} head, "
                                  f"got {ids}")
    dtype = as_dtype(dtype)
    pdtype = as_dtype(param_dtype) if param_dtype is not None else jnp.dtype(jnp.float32)
    module = arch.make_module(config, task, dtype, pdtype)
    inputs = arch.example_inputs(config)
    expected = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), **inputs))["params"]
    return arch, config, module, expected


def load_model(path_or_id, task: str = "base", dtype="float32", param_dtype=None,
               revision: str | None = None, mesh=None) -> Model:
    """Load a Hugging Face checkpoint (directory or hub id) or a jaxnlp
    converted directory as a jaxnlp Model; see DESIGN.md's public API."""
    from jaxnlp.checkpoints import read_config, read_state_dict, resolve_model_dir
    from jaxnlp.checkpoints import converted

    if mesh is not None:
        from jaxnlp.sharding import as_mesh
        mesh = as_mesh(mesh)     # a bad mesh fails before anything is read
    model_dir = resolve_model_dir(path_or_id, revision=revision)
    config_dict = read_config(model_dir)
    if converted.is_converted(model_dir):
        flat = converted.read_params(model_dir)
        state_dtype = _default_param_dtype(flat)
    else:
        flat = None
        state_dict = read_state_dict(model_dir)
        state_dtype = _default_param_dtype(state_dict)
    pdtype = as_dtype(param_dtype) if param_dtype is not None else state_dtype
    arch, config, module, expected = build_module(config_dict, task, dtype, pdtype)
    if flat is not None:
        params = converted.to_tree(flat, expected, source=str(model_dir))
    else:
        params = convert_state_dict(state_dict, expected, arch.weight_rules(config, task),
                                    prefix=arch.prefix, backbone_children=arch.backbone_children,
                                    keep_layout=arch.keep_layout, source=str(model_dir))

    def cast(a):
        return pdtype if np.issubdtype(a.dtype, np.floating) or str(a.dtype) == "bfloat16" else a.dtype

    if mesh is None:
        params = jax.tree.map(lambda a: jnp.asarray(a, dtype=cast(a)), params)
    else:   # cast on the host, then each device receives only its shards
        from jaxnlp.sharding import attention_heads, shard_params
        params = shard_params(jax.tree.map(lambda a: np.asarray(a).astype(cast(a)), params), mesh,
                              num_heads=attention_heads(config))
    return Model(module=module, params=params, config=config, task=task, architecture=arch,
                 model_dir=model_dir, mesh=mesh)
