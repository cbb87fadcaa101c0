"""Multi-head attention shared by every architecture.

Masks are boolean `[batch, 1 | heads, query, key]` arrays (True = may attend);
`make_attention_mask` builds them from `[batch, seq]` padding masks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

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
                          dropout_rate=0.0, deterministic=True, scale=None):
    """q [B, T, N, H], k/v [B, S, N, H], mask [B, 1|N, T, S] bool -> [B, T, N, H].

    Scores and softmax run in float32 whatever the computation dtype."""
    head_dim = q.shape[-1]
    scale = head_dim**-0.5 if scale is None else scale
    scores = jnp.einsum("BTNH,BSNH->BNTS", q, k, preferred_element_type=jnp.float32) * scale
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1)
    if not deterministic and dropout_rate > 0.0:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    return jnp.einsum("BNTS,BSNH->BTNH", probs.astype(dtype), v)


class MultiHeadAttention(nn.Module):
    """Projections `query`, `key`, `value`, `output` around scaled dot-product
    attention. Self-attention when `kv` is None, cross-attention otherwise."""

    num_heads: int
    hidden_size: int
    head_dim: int | None = None
    use_bias: bool = True
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
        self.query = dense(inner, "query")
        self.key = dense(inner, "key")
        self.value = dense(inner, "value")
        self.output = dense(self.hidden_size, "output")

    def __call__(self, x, mask, kv=None, deterministic: bool = True):
        head_dim = self.head_dim or self.hidden_size // self.num_heads
        kv = x if kv is None else kv
        split = lambda t: t.reshape(t.shape[:2] + (self.num_heads, head_dim))  # noqa: E731
        q = split(self.query(x))    # [B, T, N, H]
        k = split(self.key(kv))     # [B, S, N, H]
        v = split(self.value(kv))   # [B, S, N, H]
        rng = None if deterministic or self.dropout_rate == 0.0 else self.make_rng("dropout")
        out = dot_product_attention(q, k, v, mask, dtype=self.dtype, dropout_rng=rng,
                                    dropout_rate=self.dropout_rate, deterministic=deterministic)
        return self.output(out.reshape(out.shape[:2] + (-1,)))
