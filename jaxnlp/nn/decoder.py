"""The GPT block: pre-LayerNorm (GPT-2) or post-LayerNorm (OpenAI GPT),
with an optional key/value cache for decoding."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.activations import get_activation
from jaxnlp.nn.attention import MultiHeadAttention
from jaxnlp.nn.norms import layer_norm

Dtype = Any


class MLP(nn.Module):
    """`c_fc` -> activation -> `c_proj`."""

    hidden_size: int
    intermediate_size: int
    activation: str = "gelu_new"
    dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool = True):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=nn.initializers.normal(0.02))
        h = get_activation(self.activation)(nn.Dense(self.intermediate_size, name="c_fc", **kw)(x))
        h = nn.Dense(self.hidden_size, name="c_proj", **kw)(h)
        return nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)


class GPTBlock(nn.Module):
    """pre_norm (GPT-2):   x + attn(ln_1(x)), then + mlp(ln_2(.))
    post_norm (GPT):     ln_1(x + attn(x)), then ln_2(. + mlp(.))"""

    hidden_size: int
    num_heads: int
    intermediate_size: int
    activation: str = "gelu_new"
    layer_norm_eps: float = 1e-5
    pre_norm: bool = True
    attention_scale: float | None = None
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, mask, deterministic: bool = True, cache=None, cache_index=None):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        ln_1 = layer_norm(self.layer_norm_eps, self.param_dtype, name="ln_1")
        ln_2 = layer_norm(self.layer_norm_eps, self.param_dtype, name="ln_2")
        attn = MultiHeadAttention(self.num_heads, self.hidden_size, fused_qkv=True,
                                  scale=self.attention_scale,
                                  dropout_rate=self.attention_dropout_rate, name="attn", **kw)
        mlp = MLP(self.hidden_size, self.intermediate_size, self.activation,
                  dropout_rate=self.dropout_rate, name="mlp", **kw)
        drop = nn.Dropout(self.dropout_rate)

        out = attn(ln_1(x) if self.pre_norm else x, mask, deterministic=deterministic,
                   cache=cache, cache_index=cache_index)
        h, new_cache = (out, None) if cache is None else out
        h = drop(h, deterministic=deterministic)
        if self.pre_norm:
            x = x + h
            x = x + mlp(ln_2(x), deterministic=deterministic)
        else:
            x = ln_1(x + h)
            x = ln_2(x + mlp(x, deterministic=deterministic))
        return x, new_cache
