"""Multi-head attention shared by every architecture.

Masks are boolean `[batch, 1 | heads, query, key]` arrays (True = may attend);
`make_attention_mask` builds them from `[batch, seq]` padding masks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.cache import BEAM

Dtype = Any


def make_attention_mask(query_mask: jax.Array, key_mask: jax.Array) -> jax.Array:
    """[batch, q] x [batch, k] padding masks -> [batch, 1, q, k] bool.

    Only keys are masked, as in transformers: a padded query row still attends
    to the real keys (its output is ignored downstream)."""
    del query_mask
    return key_mask[:, None, None, :].astype(bool)


def make_causal_mask(length: int) -> jax.Array:
    """[1, 1, length, length] lower-triangular bool mask."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))[None, None]


def dot_product_attention(q, k, v, mask, *, dtype=jnp.float32, dropout_rng=None,
                          dropout_rate=0.0, deterministic=True, scale=None, bias=None):
    """q [B, T, N, H], k/v [B, S, N, H], mask [B, 1|N, T, S] bool -> [B, T, N, H].

    `bias` [1|B, N, T, S] is added to the scores before masking (T5's
    relative positions). Scores and softmax run in float32 whatever the
    computation dtype."""
    kv = _cache_layout(k, v)
    return attend(q, kv["k"], kv["v"], mask, dtype=dtype,
                  dropout_rng=dropout_rng, dropout_rate=dropout_rate, deterministic=deterministic,
                  scale=scale, bias=bias)


def attend(q, k_t, v, mask, *, dtype=jnp.float32, dropout_rng=None, dropout_rate=0.0, deterministic=True,
           scale=None, bias=None):
    """`dot_product_attention` over keys/values in the cache layout: k_t
    [B, N, H, S] (keys transposed), v [B, N, S, H]. Both products are then
    plain batched matmuls ([T, H] x [H, S], [T, S] x [S, H] per batch and
    head), so XLA reads a cache in place instead of transposing all of it at
    every decoding step. Keys/values with fewer rows than q (a source shared
    by its beams, see jaxnlp.nn.cache) serve `rows // kv_rows` consecutive
    query rows each."""
    head_dim = q.shape[-1]
    scale = head_dim**-0.5 if scale is None else scale
    rows, length = q.shape[:2]
    if k_t.shape[0] != rows:
        # keys/values of one source shared by `group` consecutive query rows
        # (beams, returned sequences: jaxnlp.nn.cache): they become extra queries
        group = rows // k_t.shape[0]
        if group * k_t.shape[0] != rows or (mask is not None and mask.shape[0] not in (1, k_t.shape[0])):
            raise ValueError(f"{rows} query rows over keys/values of {k_t.shape[0]} rows")
        if bias is not None or (mask is not None and mask.shape[2] != 1) or (
                not deterministic and dropout_rate > 0.0):
            raise ValueError("shared keys/values take a key-padding mask only (no bias, no dropout)")
        q = q.reshape((k_t.shape[0], group * length) + q.shape[2:])
        out = attend(q, k_t, v, mask, dtype=dtype, scale=scale)
        return out.reshape((rows, length) + out.shape[2:])
    q = q.transpose(0, 2, 1, 3)                                           # [B, N, T, H]
    scores = jnp.einsum("BNTH,BNHS->BNTS", q, k_t, preferred_element_type=jnp.float32) * scale
    if bias is not None:
        scores = scores + bias.astype(jnp.float32)
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1)
    if not deterministic and dropout_rate > 0.0:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    out = jnp.einsum("BNTS,BNSH->BNTH", probs.astype(dtype), v)
    return out.transpose(0, 2, 1, 3)                                      # [B, T, N, H]


def init_kv_cache(batch_size: int, max_length: int, num_heads: int, head_dim: int, dtype=jnp.float32):
    """An empty key/value cache for one attention layer, in the layout `attend`
    reads: {"k": [B, N, H, L] (keys transposed), "v": [B, N, L, H]}."""
    return {"k": jnp.zeros((batch_size, num_heads, head_dim, max_length), dtype),
            "v": jnp.zeros((batch_size, num_heads, max_length, head_dim), dtype)}


def cached_causal_mask(attention_mask, cache_index, query_length: int):
    """Mask for queries at cache slots cache_index .. cache_index+T-1 over all
    L slots: a key slot is visible if it is not after the query and is real.
    attention_mask [B, L] (1 = real token) -> [B, 1, T, L] bool."""
    slots = jnp.arange(attention_mask.shape[1])
    query_slots = cache_index + jnp.arange(query_length)
    causal = slots[None, :] <= query_slots[:, None]                     # [T, L]
    return causal[None, None] & attention_mask[:, None, None, :].astype(bool)


def _write_grouped(cache, k, v, cache_index):
    """This call's keys k [R, N, H, T] and values v [R, N, T, H] (R = B * K beam
    rows) written into a grouped cache at slots cache_index .. +T-1 of every
    beam (slot l of beam j at l * K + j: one contiguous block), and BEAM set to
    the writing beam there."""
    kc, vc, ancestry = cache["k"], cache["v"], cache[BEAM]     # [B, N, H, L * K], [B, N, L * K, H], [R, L]
    rows, length = ancestry.shape
    b = kc.shape[0]
    beams = rows // b
    t = k.shape[-1]
    # (slots before a shared prefix's end are never written again: see group_beams)
    index = jnp.asarray(cache_index, jnp.int32) - (cache["k_shared"].shape[-1] if "k_shared" in cache else 0)
    k = k.reshape((b, beams) + k.shape[1:]).transpose(0, 2, 3, 4, 1).reshape(kc.shape[:3] + (t * beams,))
    v = v.reshape((b, beams) + v.shape[1:]).transpose(0, 2, 3, 1, 4).reshape(
        (b, vc.shape[1], t * beams, vc.shape[-1]))
    zero = jnp.zeros((), jnp.int32)
    kc = jax.lax.dynamic_update_slice(kc, k.astype(kc.dtype), (zero, zero, zero, index * beams))
    vc = jax.lax.dynamic_update_slice(vc, v.astype(vc.dtype), (zero, zero, index * beams, zero))
    own = jnp.arange(rows, dtype=ancestry.dtype) % beams
    ancestry = jax.lax.dynamic_update_slice(ancestry, jnp.broadcast_to(own[:, None], (rows, t)), (zero, index))
    return {**cache, "k": kc, "v": vc, BEAM: ancestry}


def _attend_grouped(q, cache, mask, bias, *, dtype, scale):
    """Attention of beam rows q [R, T, N, H] over a grouped cache: the K beams of
    a source row become K * T queries over its L * K slots, slot (l, j')
    visible to beam j where `mask` [R|1, 1|N, T, L] allows l and BEAM[j, l] = j'.
    `bias` [1|R, N, T, L] is repeated over the K beams of each slot. Returns [R, T, N, H]."""
    if "k_shared" in cache:
        return _attend_grouped_shared(q, cache, mask, bias, dtype=dtype, scale=scale)
    kc, vc, ancestry = cache["k"], cache["v"], cache[BEAM]
    rows, length = ancestry.shape
    b = kc.shape[0]
    beams = rows // b
    t = q.shape[1]
    m = _grouped_mask(ancestry, mask, beams, t)
    if bias is not None:
        bias = jnp.repeat(bias, beams, axis=-1)                                          # [1|R, N, T, L * K]
        if bias.shape[0] == 1:
            bias = jnp.tile(bias, (1, 1, beams, 1))                                      # [1, N, K*T, L*K]
        else:
            bias = bias.reshape((b, beams) + bias.shape[1:]).transpose(0, 2, 1, 3, 4)
            bias = bias.reshape(b, bias.shape[1], beams * t, length * beams)
    out = attend(q.reshape((b, beams * t) + q.shape[2:]), kc.astype(dtype), vc.astype(dtype), m,
                 dtype=dtype, scale=scale, bias=bias)
    return out.reshape((rows, t) + out.shape[2:])


def _grouped_mask(ancestry, mask, beams: int, t: int):
    """The mask of a grouped block's L * K slots for the K * T queries of each
    source row: slot (l, j') visible to beam j where `mask` [R|1, 1|N, T, L]
    (None: all) allows l and BEAM[j, l] = j'. Returns [B, 1|N, K * T, L * K]."""
    rows, length = ancestry.shape
    own_slot = ancestry[:, :, None] == jnp.arange(beams, dtype=ancestry.dtype)[None, None, :]   # [R, L, K]
    m = own_slot[:, None, None] if mask is None else mask[..., None].astype(bool) & own_slot[:, None, None]
    m = jnp.broadcast_to(m, (rows, m.shape[1], t, length, beams))                       # [R, 1|N, T, L, K]
    m = m.reshape(rows // beams, beams, m.shape[1], t, length * beams).transpose(0, 2, 1, 3, 4)
    return m.reshape(rows // beams, m.shape[1], beams * t, length * beams)


def _attend_grouped_shared(q, cache, mask, bias, *, dtype, scale):
    """`_attend_grouped` over a cache whose first S slots are one copy per
    source row (`group_beams(shared=S)`): the K * T queries of a source row
    score its S shared keys and its grouped block, one softmax over both."""
    if bias is not None:
        raise ValueError("a grouped cache with a shared prefix takes no attention bias")
    ks, vs = cache["k_shared"], cache["v_shared"]                     # [B, N, H, S], [B, N, S, H]
    rows, t = q.shape[:2]
    b, shared = ks.shape[0], ks.shape[-1]
    beams = rows // b
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    mask = jnp.ones((1, 1, t, shared + cache[BEAM].shape[1]), bool) if mask is None else mask.astype(bool)
    # the shared slots' mask, as extra queries of the source row: [B, 1|N, K * T, S]
    m_shared = jnp.broadcast_to(mask[..., :shared], (rows,) + mask.shape[1:3] + (shared,))
    m_shared = m_shared.reshape((b, beams) + m_shared.shape[1:]).transpose(0, 2, 1, 3, 4)
    m_shared = m_shared.reshape(b, m_shared.shape[1], beams * t, shared)
    m = _grouped_mask(cache[BEAM], mask[..., shared:], beams, t)      # [B, 1|N, K * T, (L - S) * K]
    qg = q.reshape((b, beams * t) + q.shape[2:]).transpose(0, 2, 1, 3)   # [B, N, K * T, H]
    low = jnp.finfo(jnp.float32).min
    s1 = jnp.einsum("BNTH,BNHS->BNTS", qg, ks.astype(dtype), preferred_element_type=jnp.float32) * scale
    s2 = jnp.einsum("BNTH,BNHS->BNTS", qg, cache["k"].astype(dtype), preferred_element_type=jnp.float32) * scale
    probs = jax.nn.softmax(jnp.concatenate([jnp.where(m_shared, s1, low), jnp.where(m, s2, low)], axis=-1),
                           axis=-1).astype(dtype)
    out = (jnp.einsum("BNTS,BNSH->BNTH", probs[..., :shared], vs.astype(dtype))
           + jnp.einsum("BNTS,BNSH->BNTH", probs[..., shared:], cache["v"].astype(dtype)))
    return out.transpose(0, 2, 1, 3).reshape((rows, t) + out.shape[1:2] + out.shape[3:])


def _cache_layout(k, v):
    """k, v [B, S, N, H] -> {"k": [B, N, H, S], "v": [B, N, S, H]} (`attend`'s layout)."""
    return {"k": k.transpose(0, 2, 3, 1), "v": v.transpose(0, 2, 1, 3)}


class MultiHeadAttention(nn.Module):
    """Projections `query`, `key`, `value` (or one fused `qkv`) and `output`
    around scaled dot-product attention. Self-attention when `kv` is None,
    cross-attention otherwise. With `cache` (`init_kv_cache`: k [B, N, H, L],
    v [B, N, L, H]) the new keys/values are written at `cache_index` and the
    call returns `(output, cache)`."""

    num_heads: int
    hidden_size: int
    head_dim: int | None = None
    use_bias: bool = True
    fused_qkv: bool = False
    scale: float | None = None          # None: head_dim ** -0.5
    dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    kernel_init: Any = nn.initializers.normal(0.02)

    def setup(self):
        head_dim = self.head_dim or self.hidden_size // self.num_heads
        inner = self.num_heads * head_dim
        dense = lambda features, name: nn.Dense(  # noqa: E731
            features, use_bias=self.use_bias, dtype=self.dtype,
            param_dtype=self.param_dtype, kernel_init=self.kernel_init, name=name)
        if self.fused_qkv:
            self.qkv = dense(3 * inner, "qkv")
        else:
            self.query = dense(inner, "query")
            self.key = dense(inner, "key")
            self.value = dense(inner, "value")
        self.output = dense(self.hidden_size, "output")

    def project_kv(self, kv):
        """[B, S, D] -> {"k": [B, N, H, S], "v": [B, N, S, H]} (the cache
        layout): cross-attention keys/values, computed once per source (the
        encoder-decoders' init_cache)."""
        return _cache_layout(self._split(self.key(kv)), self._split(self.value(kv)))

    def _split(self, t):
        head_dim = self.head_dim or self.hidden_size // self.num_heads
        return t.reshape(t.shape[:2] + (self.num_heads, head_dim))       # [B, T, N, H]

    def __call__(self, x, mask, kv=None, deterministic: bool = True, cache=None, cache_index=None, *,
                 kv_cache=None, bias=None):
        """`kv_cache`: keys/values from `project_kv` (cross-attention without
        projecting the source again); `bias` [1|B, N, T, S]: added to the scores."""
        if self.fused_qkv:
            q, k, v = (self._split(t) for t in jnp.split(self.qkv(x), 3, axis=-1))
            kv = _cache_layout(k, v)
        else:
            q = self._split(self.query(x))                                # [B, T, N, H]
            kv = kv_cache if kv_cache is not None else self.project_kv(x if kv is None else kv)
        k, v = kv["k"], kv["v"]                                           # [B, N, H, S], [B, N, S, H]
        if cache is not None and BEAM in cache:
            # beam search's grouped cache (jaxnlp.nn.cache.group_beams)
            cache = _write_grouped(cache, k, v, cache_index)
            out = _attend_grouped(q, cache, mask, bias, dtype=self.dtype, scale=self.scale)
            return self.output(out.reshape(out.shape[:2] + (-1,))), cache
        if cache is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache["k"], k.astype(cache["k"].dtype), cache_index, axis=3)
            v = jax.lax.dynamic_update_slice_in_dim(cache["v"], v.astype(cache["v"].dtype), cache_index, axis=2)
            cache = {"k": k, "v": v}
        rng = None if deterministic or self.dropout_rate == 0.0 else self.make_rng("dropout")
        out = attend(q, k.astype(self.dtype), v.astype(self.dtype), mask, dtype=self.dtype,
                     dropout_rng=rng, dropout_rate=self.dropout_rate,
                     deterministic=deterministic, scale=self.scale, bias=bias)
        out = self.output(out.reshape(out.shape[:2] + (-1,)))
        return out if cache is None else (out, cache)
