"""`jaxnlp.generate`: a model's decoder protocol + the searches, as ONE
jitted program (prefill, loop, finalisation) per (shape bucket, static config).

Encoder-decoder layout. The source is padded on the right to a length bucket
(masked), encoded once, and its cross-attention keys/values computed once in
`init_cache`; the decoder buffer starts with decoder_start_token_id, as
transformers' output does.

Decoder-only layout. The prompt (as the caller passed it, P columns) is
left-padded further to a length bucket Pb; the token buffer is
[Pb - P bucket columns | prompt | new tokens]. Bucket columns hold -1 in the
buffer the searches see (so no n-gram, bad-words or repetition rule can match
them) and the pad id in what the model sees, masked out. The output drops
them, so it is laid out exactly as transformers' `generate` output.

Many devices. When the model's parameters are sharded (`model.mesh`, from
`load_model(..., mesh=)`), the batch bucket is rounded up to a multiple of the
"data" axis size, the prompt / source arrays are placed batch-split
(`jaxnlp.sharding.shard_batch`), and the cache is constrained to batch over
"data" and heads over "model" (`constrain_cache`) after the prefill and at
every step, so the same while_loop runs as one SPMD program. The mesh is a
static argument: without one the program is traced exactly as before.

CPU. Where `jaxnlp.native` is usable, the program takes a `packed` argument:
pre-arranged copies of the Dense kernels a decoding step uses (found by
tracing the program once abstractly, built once per model), and inside the
step those Dense calls run the native kernel instead of XLA's dot.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxnlp import native
from jaxnlp.buckets import batch_bucket, length_bucket
from jaxnlp.errors import InputTooLongError
from jaxnlp.generation.config import GenerationConfig
from jaxnlp.generation.search import search
from jaxnlp.models.auto import check_mask_values
from jaxnlp.sharding import constrain_cache, replicate, rows_for, shard_batch

__all__ = ["generate", "enable_compilation_cache", "generation_config_for"]

# Beam search keeps every model's attention caches in place and reorders an
# index table (jaxnlp.nn.cache.group_beams); False copies the caches per beam
# instead (read when a program is traced; bench/ab_generate.py compares both).
GROUPED_BEAM_CACHE = True
# With it, a decoder-only prompt's keys/values stay one copy per batch row
# (group_beams(shared=prompt width)) instead of one per beam.
SHARED_PROMPT_CACHE = True


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> str:
    """Persist compiled programs in `directory` (default: $JAXNLP_COMPILATION_CACHE
    or ~/.cache/jaxnlp/xla) so that a new process reuses them. Called again
    with another directory, later programs go there (jax fixes its cache at
    first use, so the cache is reset)."""
    directory = os.fspath(directory or os.environ.get("JAXNLP_COMPILATION_CACHE")
                          or os.path.join(os.path.expanduser("~"), ".cache", "jaxnlp", "xla"))
    os.makedirs(directory, exist_ok=True)
    current = jax.config.jax_compilation_cache_dir
    if current and os.path.abspath(current) != os.path.abspath(directory):
        from jax.experimental.compilation_cache import compilation_cache
        compilation_cache.reset_cache()     # else jax keeps writing to the first directory, silently
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


if os.environ.get("JAXNLP_COMPILATION_CACHE"):
    enable_compilation_cache()


def generation_config_for(model) -> GenerationConfig:
    """The checkpoint's generation defaults (generation_config.json, else config.json)."""
    cached = getattr(model, "_generation_config", None)
    if cached is None:
        if model.model_dir is not None and (os.path.isfile(os.path.join(model.model_dir, "generation_config.json"))
                                            or os.path.isfile(os.path.join(model.model_dir, "config.json"))):
            cached = GenerationConfig.from_model_dir(model.model_dir)
        else:
            cached = GenerationConfig.from_model_config(model.config.to_dict())
        model._generation_config = cached
    return cached


def _as_prompts(input_ids, attention_mask, vocab: int | None = None):
    if isinstance(input_ids, (list, tuple)):
        if len(input_ids) == 0:
            raise ValueError("no prompts: input_ids is empty")
        if all(isinstance(r, (list, tuple, np.ndarray)) for r in input_ids):
            widths = {len(r) for r in input_ids}
            if len(widths) != 1:
                raise ValueError("prompts of different lengths: pad them (left) and pass an attention_mask, "
                                 "or use the tokenizer with padding_side='left'")
        input_ids = np.asarray(input_ids)
    ids = np.asarray(input_ids)
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be [batch, length], got shape {ids.shape}")
    if ids.shape[0] == 0:
        raise ValueError("no prompts: input_ids has batch size 0")
    if ids.shape[1] == 0:      # (before the dtype check: numpy makes `[[]]` float64)
        raise ValueError("empty input: generation needs at least one token per prompt / source")
    if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"input_ids must be integer token ids, got dtype {ids.dtype}")
    # (in the caller's dtype: an int64 2**32 + 7 must not wrap to 7 in int32)
    high = vocab if vocab is not None else 2 ** 31
    if ids.min() < 0 or ids.max() >= high:
        raise ValueError(f"input_ids hold ids outside [0, {high}): min {ids.min()}, max {ids.max()}")
    if attention_mask is None:
        mask = np.ones_like(ids)
    else:
        mask = np.asarray(attention_mask)
        if mask.ndim == 1:
            mask = mask[None]
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask shape {mask.shape} differs from input_ids {ids.shape}")
        check_mask_values(mask)
    if not mask.any(axis=1).all():
        raise ValueError("a prompt has no real token (its attention_mask is all zeros)")
    return ids.astype(np.int32), mask.astype(np.int32)


def _check_token_ids(config: GenerationConfig, vocab: int, seq2seq: bool) -> None:
    """Refuse special ids outside [0, vocab) by the field that holds them: the
    search would feed them to the embedding (pad fills the padding columns,
    decoder_start starts the decoder; an out-of-range row reads NaN there)
    or write them into the output, silently."""
    fields = ["pad_token_id", "eos_token_id", "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens",
              "begin_suppress_tokens"]
    if seq2seq:
        fields.append("decoder_start_token_id" if config.decoder_start_token_id is not None else "bos_token_id")
    for name in fields:
        value = getattr(config, name)
        for t in (value if isinstance(value, (tuple, list)) else () if value is None else (value,)):
            if not 0 <= t < vocab:
                raise ValueError(f"{name} holds {t}, outside the model's vocabulary [0, {vocab})")


def _check_left_padded(mask):
    """Decoder-only prompts must be left-padded: no 0 after a 1 in a row."""
    bad = np.nonzero((np.diff(mask, axis=1) < 0).any(axis=1))[0]
    if bad.size:
        raise ValueError(f"prompt row {int(bad[0])} is right-padded: decoder-only generation needs left "
                         "padding (tokenizer.padding_side = 'left')")


def _check_rng(rng):
    if rng is None:
        return jax.random.PRNGKey(0)
    if not isinstance(rng, (jax.Array, np.ndarray)) or not (
            jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
            or (rng.shape == (2,) and rng.dtype == np.uint32)):
        raise TypeError(f"rng must be a JAX PRNG key such as jax.random.PRNGKey(0), got {rng!r}")
    return rng


def _resolve_config(model, generation_config, overrides) -> GenerationConfig:
    base = generation_config if generation_config is not None else generation_config_for(model)
    if isinstance(base, dict):
        base = GenerationConfig.from_dict(base)
    elif not isinstance(base, GenerationConfig):
        if not callable(getattr(base, "to_dict", None)):   # e.g. a transformers GenerationConfig
            raise TypeError("generation_config must be a jaxnlp GenerationConfig, a dict, or an object with "
                            f".to_dict() (transformers' GenerationConfig); got {type(base).__name__}")
        base = GenerationConfig.from_dict(base.to_dict())
    return base.replace(**overrides) if overrides else base


def generate(model, input_ids, attention_mask=None, generation_config=None, rng=None, *,
             return_scores: bool = False, debug: bool = False, **overrides):
    """Generate continuations: see DESIGN.md. Returns numpy int sequences
    [batch * num_return_sequences, length] (prompt + new tokens, padded with
    pad_token_id after a sequence ends), and with return_scores=True also the
    scores [batch * num_return_sequences] float32."""
    if not hasattr(model, "module") or not hasattr(model.module, "decode"):
        raise TypeError(f"{type(model).__name__} cannot generate: load a causal-lm model "
                        "(jaxnlp.load_model(path, task='causal-lm'))")
    if getattr(model, "task", "causal-lm") not in ("causal-lm", "seq2seq-lm"):
        raise ValueError(f"generate needs a causal-lm or seq2seq-lm model, this one is {model.task!r}")
    vocab = model.config.get("vocab_size")
    ids, mask = _as_prompts(input_ids, attention_mask, vocab)
    rng = _check_rng(rng)
    config = _resolve_config(model, generation_config, overrides)
    config.validate()          # also: num_return_sequences <= num_beams, finite penalties, ...
    config.check_supported()
    target_vocab = model.config.get("decoder_vocab_size") or vocab    # (Marian's target vocabulary)
    if target_vocab is not None:
        _check_token_ids(config, target_vocab, seq2seq=hasattr(model.module, "encode"))
    if hasattr(model.module, "encode"):
        return _generate_seq2seq(model, ids, mask, config, rng, return_scores, debug)
    _check_left_padded(mask)
    batch, width = ids.shape
    limit = getattr(model.config, "max_input_length", None)
    if limit is not None and width > limit:
        raise InputTooLongError(f"prompt has {width} tokens but the model has {limit} positions")
    config = config.resolve_lengths(width, max_position_embeddings=limit)
    if config.max_length <= width:
        raise ValueError(f"max_length ({config.max_length}) leaves no room after the {width}-token prompt: "
                         "raise max_new_tokens / max_length")
    # the last token is never fed to the model: positions 0 .. max_length - 2 are used
    if limit is not None and config.max_length - 1 > limit:
        raise InputTooLongError(
            f"prompt ({width} tokens) + {config.max_length - width} new tokens = {config.max_length} "
            f"needs {config.max_length - 1} positions but the model has {limit} positions: lower max_new_tokens")

    # Shape buckets: prompt width -> Pb, batch -> power of two.
    pb = length_bucket(width, limit)
    shift = pb - width
    mesh = getattr(model, "mesh", None)
    bb = _rows(batch_bucket(batch), mesh)
    config = dataclasses.replace(config, max_length=config.max_length + shift,
                                 min_length=config.min_length + shift if config.min_length else 0)
    pad = config.effective_pad_token_id
    pad = 0 if pad is None else pad
    model_ids = np.full((bb, pb), pad, np.int32)
    model_mask = np.zeros((bb, pb), np.int32)
    model_ids[:batch, shift:], model_mask[:batch, shift:] = ids, mask
    model_ids[batch:], model_mask[batch:] = model_ids[batch - 1], model_mask[batch - 1]   # filler rows
    search_ids = model_ids.copy()
    search_ids[:, :shift] = -1

    static, dynamic = config.split()
    args = (model.params, *_place((model_ids, model_mask, search_ids), dynamic, rng, mesh))
    kw = dict(module=model.module, config=static, mesh=mesh)
    packed = native.kernels_for(model, lambda rec: jax.eval_shape(
        lambda *a: _program.__wrapped__(*a, packed=rec, **kw), *args), _signature("causal", static, args))
    run = _program if not debug else functools.partial(_program.__wrapped__, debug=True)
    sequences, scores, length = run(*args, packed=packed, **kw)
    rows = batch * (config.num_return_sequences if (config.num_beams > 1 or config.do_sample) else 1)
    sequences = np.asarray(sequences)[:rows, shift:int(length)]
    if return_scores:
        return sequences, np.asarray(scores)[:rows]
    return sequences


def _rows(bb: int, mesh) -> int:
    """The batch bucket, rounded up to a multiple of the mesh's "data" size."""
    return bb if mesh is None else rows_for(bb, mesh)


def _place(arrays, dynamic, rng, mesh):
    """(*arrays, dynamic, rng) as the program's arguments: batch-split on the
    mesh, or plain device arrays without one."""
    if mesh is None:
        return (*(jnp.asarray(a) for a in arrays), dynamic, rng)
    return (*shard_batch(tuple(arrays), mesh), *replicate((dynamic, rng), mesh))


def _signature(kind: str, static, args) -> tuple:
    """What fixes the Dense calls a generate program makes (its static
    config and its inputs' shapes, not the params): jaxnlp.native records
    them once per signature."""
    return kind, static, tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(args[1:]))


@functools.partial(jax.jit, static_argnames=("module", "config", "mesh", "debug"))
def _program(params, model_ids, model_mask, search_ids, dynamic, rng, *, module, config, mesh=None, debug=False,
             packed=None):
    """Prefill + search for a decoder-only module (one compiled program).
    `packed`: Dense kernels pre-arranged for jaxnlp.native, or None."""
    batch, pb = model_ids.shape
    total = config.max_length                                     # cache slots = buffer columns
    positions = jnp.maximum(jnp.cumsum(model_mask, axis=1) - 1, 0) * model_mask
    n_real = model_mask.sum(axis=1)
    slot_mask = jnp.concatenate([model_mask, jnp.ones((batch, total - pb), jnp.int32)], axis=1)
    kv = module.init_cache(batch, total)
    apply = lambda ids, kv, index, mask, pos, last_only=False: module.apply(  # noqa: E731
        {"params": params}, ids, kv, index, mask, pos, last_only, method="decode")
    # (prompts are left-padded: the last column is every row's last real token)
    logits, kv = apply(model_ids, constrain_cache(kv, mesh), 0, slot_mask, positions, last_only=True)
    # cache: the model's keys/values plus, per row, its slot mask and position offset
    cache = constrain_cache({"kv": kv, "mask": slot_mask, "offset": pb - n_real}, mesh)

    def step_fn(tokens, cache, step):
        # `tokens` sit at buffer column / cache slot `step`
        cache = constrain_cache(cache, mesh)
        pos = (step - cache["offset"])[:, None]
        with native.dense_kernels(packed):
            logits, kv = apply(tokens[:, None], cache["kv"], step, cache["mask"], pos)
        return logits[:, -1], constrain_cache({**cache, "kv": kv}, mesh)

    buffer = jnp.concatenate([search_ids, jnp.zeros((batch, total - pb), jnp.int32)], axis=1)
    prompt_start = jnp.argmax(model_mask, axis=1)     # first real column (transformers' prompt_ignore_length)
    out = search(step_fn, logits[:, -1], cache, buffer, pb, config, dynamic, rng=rng,
                 prompt_start=prompt_start, debug=debug, grouped_kv=GROUPED_BEAM_CACHE,
                 shared_prefix=pb if SHARED_PROMPT_CACHE else 0)
    return out.sequences, out.scores, out.length


def _generate_seq2seq(model, ids, mask, config, rng, return_scores, debug):
    # Only what the checkpoint (generation_config.json / config.json) or the call
    # sets counts, as in transformers: never a config class default.
    start = config.decoder_start_token_id
    if start is None:
        start = config.bos_token_id
    if start is None:
        raise ValueError("decoder_start_token_id is not set (nor bos_token_id): pass decoder_start_token_id=")
    batch, width = ids.shape
    limit = getattr(model.config, "max_input_length", None)
    if limit is not None and width > limit:
        raise InputTooLongError(f"source has {width} tokens but the encoder takes at most {limit} "
                                "(truncate it, e.g. the tokenizer's truncation=True)")
    decoder_limit = getattr(model.config, "max_target_length", limit)
    config = config.resolve_lengths(1, max_position_embeddings=decoder_limit)
    if config.max_length <= 1:
        raise ValueError(f"max_length ({config.max_length}) leaves no room for new tokens")
    # the last token is never fed to the decoder: positions 0 .. max_length - 2 are used
    if decoder_limit is not None and config.max_length - 1 > decoder_limit:
        raise InputTooLongError(f"max_length {config.max_length} needs {config.max_length - 1} decoder positions "
                                f"but the decoder has {decoder_limit} positions: "
                                "lower max_new_tokens")
    sb = length_bucket(width, limit)
    mesh = getattr(model, "mesh", None)
    bb = _rows(batch_bucket(batch), mesh)
    pad = config.effective_pad_token_id
    pad = 0 if pad is None else pad
    src = np.full((bb, sb), pad, np.int32)
    src_mask = np.zeros((bb, sb), np.int32)
    src[:batch, :width], src_mask[:batch, :width] = ids, mask
    src[batch:], src_mask[batch:] = src[batch - 1], src_mask[batch - 1]      # filler rows
    static, dynamic = config.split()
    args = (model.params, *_place((src, src_mask), dynamic, rng, mesh))
    kw = dict(module=model.module, config=static, start=int(start), mesh=mesh)
    packed = native.kernels_for(model, lambda rec: jax.eval_shape(
        lambda *a: _seq2seq_program.__wrapped__(*a, packed=rec, **kw), *args), _signature("seq2seq", static, args))
    run = _seq2seq_program if not debug else functools.partial(_seq2seq_program.__wrapped__, debug=True)
    sequences, scores, length = run(*args, packed=packed, **kw)
    rows = batch * (config.num_return_sequences if (config.num_beams > 1 or config.do_sample) else 1)
    sequences = np.asarray(sequences)[:rows, :int(length)]
    if return_scores:
        return sequences, np.asarray(scores)[:rows]
    return sequences


@functools.partial(jax.jit, static_argnames=("module", "config", "start", "mesh", "debug"))
def _seq2seq_program(params, src, src_mask, dynamic, rng, *, module, config, start, mesh=None, debug=False,
                     packed=None):
    """Encode once, prefill the decoder start token, search (one compiled program).
    `packed`: Dense kernels pre-arranged for jaxnlp.native, or None."""
    batch = src.shape[0]
    total = config.max_length
    variables = {"params": params}
    encoded = module.apply(variables, src, src_mask, method="encode")
    cache = constrain_cache(module.apply(variables, batch, total, encoded, src_mask, method="init_cache"), mesh)

    def step_fn(tokens, cache, step):
        # the decoder has no padding: every slot is real, positions are slots
        rows = tokens.shape[0]                   # batch, or batch * beams
        with native.dense_kernels(packed):
            logits, cache = module.apply(variables, tokens[:, None], constrain_cache(cache, mesh), step,
                                         jnp.ones((rows, total), jnp.int32), jnp.full((rows, 1), step, jnp.int32),
                                         method="decode")
        return logits[:, -1], constrain_cache(cache, mesh)

    first_logits, cache = step_fn(jnp.full((batch,), start, jnp.int32), cache, 0)   # the decoder start token

    buffer = jnp.zeros((batch, total), jnp.int32).at[:, 0].set(start)
    out = search(step_fn, first_logits, cache, buffer, 1, config, dynamic, rng=rng, debug=debug,
                 grouped_kv=GROUPED_BEAM_CACHE)
    return out.sequences, out.scores, out.length
