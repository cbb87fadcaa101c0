"""The post-LayerNorm transformer encoder of the BERT family.

One layer is: self-attention -> residual -> `attention_norm` -> feed-forward
(`intermediate`, activation, `output`) -> residual -> `output_norm`.
Parameter names are ours; each model's weights.py maps its PyTorch names
onto them (BERT's `attention.self.query` -> `query`, DistilBERT's `q_lin`, ...).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.activations import get_activation
from jaxnlp.nn.attention import MultiHeadAttention
from jaxnlp.nn.norms import layer_norm

Dtype = Any


class EncoderLayer(nn.Module):
    hidden_size: int
    num_heads: int
    intermediate_size: int
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, mask, deterministic: bool = True):
        # x: [batch, seq, hidden]; mask: [batch, 1, seq, seq] bool
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(0.02)
        attn = MultiHeadAttention(self.num_heads, self.hidden_size,
                                  dropout_rate=self.attention_dropout_rate, name="attention", **kw)
        h = attn(x, mask, deterministic=deterministic)
        h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        x = layer_norm(self.layer_norm_eps, self.param_dtype, name="attention_norm")(x + h)
        h = nn.Dense(self.intermediate_size, kernel_init=init, name="intermediate", **kw)(x)
        h = get_activation(self.activation)(h)
        h = nn.Dense(self.hidden_size, kernel_init=init, name="output", **kw)(h)
        h = nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)
        return layer_norm(self.layer_norm_eps, self.param_dtype, name="output_norm")(x + h)


class Encoder(nn.Module):
    """`num_layers` applications of EncoderLayer.

    Layer sharing (ALBERT): with `num_unique_layers` < `num_layers`, layer i
    applies the parameters of `layers_{i * num_unique_layers // num_layers}`."""

    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    num_unique_layers: int | None = None
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        unique = self.num_unique_layers or self.num_layers
        self.layers = [
            EncoderLayer(self.hidden_size, self.num_heads, self.intermediate_size,
                         activation=self.activation, layer_norm_eps=self.layer_norm_eps,
                         dropout_rate=self.dropout_rate,
                         attention_dropout_rate=self.attention_dropout_rate,
                         dtype=self.dtype, param_dtype=self.param_dtype)
            for i in range(unique)
        ]

    def __call__(self, x, mask, deterministic: bool = True):
        unique = len(self.layers)
        for i in range(self.num_layers):
            x = self.layers[i * unique // self.num_layers](x, mask, deterministic=deterministic)
        return x
