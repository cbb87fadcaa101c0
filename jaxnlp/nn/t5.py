"""T5's blocks (T5, T5 v1.1, mT5, Flan-T5): RMS norm, relu or gated
feed-forward, no biases, unscaled attention with relative position buckets
computed once per stack (by the first layer's `relative_attention_bias`
in PyTorch; here a stack-level `relative_attention_bias`) and shared by all
layers.

Parameter names: `block_i/{self_attn, self_attn_norm, cross_attn,
cross_attn_norm, ff/{wi | wi_0, wi_1, wo}, ff_norm}`, `final_layer_norm`,
`relative_attention_bias`; attention projections are `query`, `key`,
`value`, `output` as everywhere.

The decoding cache has the BART family's layout: per block
`{"self_attn": {"k", "v"}, "cross_attn": {"k", "v"}}`, the cross-attention
part kept under `jaxnlp.nn.cache.SOURCE` by `T5Seq2SeqModel.init_cache`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.activations import get_activation
from jaxnlp.nn.attention import init_kv_cache
from jaxnlp.nn.positions import relative_position_buckets
from jaxnlp.nn.seq2seq import Seq2SeqAttention

Dtype = Any


@dataclasses.dataclass(frozen=True)
class T5Options:
    vocab_size: int
    d_model: int
    d_kv: int
    d_ff: int
    num_layers: int
    num_decoder_layers: int
    num_heads: int
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    activation: str = "relu"            # transformers' dense_act_fn
    gated: bool = False                 # "gated-gelu": act(wi_0 x) * wi_1 x
    tie_word_embeddings: bool = True    # LM head = `shared` (else its own `lm_head`)
    scale_decoder_outputs: bool = True  # decoder output * d_model ** -0.5 before the LM head
    initializer_factor: float = 1.0
    pad_token_id: int = 0
    decoder_start_token_id: int = 0


class RMSNorm(nn.Module):
    """T5LayerNorm: x / sqrt(mean(x^2) + eps) * scale; no mean, no bias;
    computed and returned in float32 (like jaxnlp's LayerNorm)."""

    epsilon: float = 1e-6
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],), self.param_dtype)
        x = x.astype(jnp.float32)
        x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.epsilon)
        return scale.astype(jnp.float32) * x


class T5FeedForward(nn.Module):
    """`wi` -> act -> `wo`, or gated: act(`wi_0` x) * `wi_1` x -> `wo`."""

    d_model: int
    d_ff: int
    activation: str = "relu"
    gated: bool = False
    dropout_rate: float = 0.0
    init_scale: float = 1.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        kw = dict(use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
        wi_init = nn.initializers.normal(self.init_scale * self.d_model**-0.5)
        act = get_activation(self.activation)
        if self.gated:
            h = act(nn.Dense(self.d_ff, kernel_init=wi_init, name="wi_0", **kw)(x))
            h = h * nn.Dense(self.d_ff, kernel_init=wi_init, name="wi_1", **kw)(x)
        else:
            h = act(nn.Dense(self.d_ff, kernel_init=wi_init, name="wi", **kw)(x))
        h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        return nn.Dense(self.d_model, kernel_init=nn.initializers.normal(self.init_scale * self.d_ff**-0.5),
                        name="wo", **kw)(h)


class T5Block(nn.Module):
    """Pre-norm: x + self_attn(norm(x)) [+ cross_attn(norm(.))] + ff(norm(.))."""

    opts: T5Options
    cross_attention: bool = False
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        attention = lambda: Seq2SeqAttention(  # noqa: E731
            o.num_heads, o.d_model, head_dim=o.d_kv, use_bias=False, scale=1.0, dropout_rate=o.dropout_rate,
            kernel_init=nn.initializers.normal(o.initializer_factor * o.d_model**-0.5), **kw)
        self.self_attn = attention()
        self.self_attn_norm = RMSNorm(o.layer_norm_epsilon, self.param_dtype)
        if self.cross_attention:
            self.cross_attn = attention()
            self.cross_attn_norm = RMSNorm(o.layer_norm_epsilon, self.param_dtype)
        self.ff = T5FeedForward(o.d_model, o.d_ff, o.activation, o.gated, o.dropout_rate,
                                o.initializer_factor, **kw)
        self.ff_norm = RMSNorm(o.layer_norm_epsilon, self.param_dtype)
        self.dropout = nn.Dropout(o.dropout_rate)

    def cross_kv(self, encoder_hidden):
        return self.cross_attn.project_kv(encoder_hidden)

    def __call__(self, x, mask, bias, encoder_hidden=None, encoder_mask=None, *, cache=None, cache_index=None,
                 deterministic: bool = True):
        """x [B, T, D]; mask [B, 1, T, T|L] bool; bias [1, N, T, T|L] (relative
        positions); encoder_mask [B, 1, 1, S]. With `cache` ({"self_attn",
        "cross_attn"}) as in jaxnlp.nn.seq2seq.Seq2SeqLayer. Returns (x, cache)."""
        drop = lambda h: self.dropout(h, deterministic=deterministic)  # noqa: E731
        h = self.self_attn_norm(x)
        if cache is None:
            h = self.self_attn(h, mask, deterministic=deterministic, bias=bias)
        else:
            h, self_cache = self.self_attn(h, mask, deterministic=deterministic, cache=cache["self_attn"],
                                           cache_index=cache_index, bias=bias)
            cache = {**cache, "self_attn": self_cache}
        x = x + drop(h)
        if self.cross_attention:
            h = self.cross_attn_norm(x)
            if cache is None:
                h = self.cross_attn(h, encoder_mask, kv=encoder_hidden, deterministic=deterministic)
            else:
                h = self.cross_attn(h, encoder_mask, deterministic=deterministic, kv_cache=cache["cross_attn"])
            x = x + drop(h)
        x = x + drop(self.ff(self.ff_norm(x), deterministic=deterministic))
        return x, cache


class T5Stack(nn.Module):
    """Embedding (the parent's `shared`), blocks, `final_layer_norm`; the
    encoder (bidirectional buckets) or, with `decoder`, the decoder
    (causal buckets, cross-attention)."""

    opts: T5Options
    decoder: bool = False
    shared: nn.Module | None = None
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.relative_attention_bias = nn.Embed(
            o.relative_attention_num_buckets, o.num_heads,
            embedding_init=nn.initializers.normal(o.initializer_factor * o.d_model**-0.5), **kw)
        self.block = [T5Block(o, cross_attention=self.decoder, **kw)
                      for _ in range(o.num_decoder_layers if self.decoder else o.num_layers)]
        self.final_layer_norm = RMSNorm(o.layer_norm_epsilon, self.param_dtype)
        self.dropout = nn.Dropout(o.dropout_rate)

    def position_bias(self, query_positions, key_positions):
        """[T], [S] int positions -> [1, N, T, S] float32 score bias."""
        o = self.opts
        buckets = relative_position_buckets(key_positions[None, :] - query_positions[:, None],
                                            bidirectional=not self.decoder,
                                            num_buckets=o.relative_attention_num_buckets,
                                            max_distance=o.relative_attention_max_distance)   # [T, S]
        values = self.relative_attention_bias(buckets).astype(jnp.float32)                    # [T, S, N]
        return jnp.transpose(values, (2, 0, 1))[None]

    def __call__(self, input_ids, mask, encoder_hidden=None, encoder_mask=None, *, cache=None, cache_index=None,
                 deterministic=True):
        """input_ids [B, T] (at cache slots cache_index.. when decoding);
        mask [B, 1, T, T|L] bool. Returns (hidden [B, T, D] float32, cache)."""
        length = input_ids.shape[1]
        start = 0 if cache_index is None else cache_index
        keys = mask.shape[-1]
        bias = self.position_bias(start + jnp.arange(length), jnp.arange(keys))
        x = self.dropout(self.shared(input_ids), deterministic=deterministic)
        new_cache = None if cache is None else {}
        for i, block in enumerate(self.block):
            name = f"block_{i}"
            x, block_cache = block(x, mask, bias, encoder_hidden, encoder_mask, deterministic=deterministic,
                                   cache=None if cache is None else cache[name], cache_index=cache_index)
            if cache is not None:
                new_cache[name] = block_cache
        x = self.dropout(self.final_layer_norm(x), deterministic=deterministic)
        return x, new_cache

    def init_cache(self, batch_size: int, max_length: int, encoder_hidden):
        o = self.opts
        return {f"block_{i}": {
            "self_attn": init_kv_cache(batch_size, max_length, o.num_heads, o.d_kv, self.dtype),
            "cross_attn": jax.tree.map(lambda a: a.astype(self.dtype), block.cross_kv(encoder_hidden)),
        } for i, block in enumerate(self.block)}
