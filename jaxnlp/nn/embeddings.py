"""Token + position (+ token type) embeddings of the BERT family."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

from jaxnlp import native
from jaxnlp.nn.norms import layer_norm

Dtype = Any


# At most this many rows (batch x beams x positions) take the vocabulary-major
# product in `tied_logits` on CPU (see there); bench/README.md has the timings.
VOCAB_MAJOR_MAX_ROWS = 32


def tied_logits(embed: nn.Embed, x):
    """`embed.attend(x)`: hidden [.., D] @ table[V, D]^T -> logits [.., V].

    For a few rows on CPU (decoding) the product is computed as table @ x^T
    -> [V, rows] and transposed: XLA's CPU dot (YNNPACK) then takes the
    [V, D] table as its left operand, which is faster there at these sizes
    (whole `generate` calls 1.02-1.18x faster with it, `bench/vocab_head.py`,
    bench/README.md). The optimization barrier keeps XLA from folding the
    transpose back into the other operand order and from fusing the
    vocabulary-wide reductions that follow (log_softmax) into the product.
    Same values up to float32 summation order. Inside a decoding step or a
    small forward call where jaxnlp.native holds a packed copy of the table,
    that kernel computes it."""
    native_out = native.tied_head(embed, x)
    if native_out is not None:
        return native_out
    query, table = promote_dtype(x, embed.embedding, dtype=embed.dtype)
    rows = math.prod(query.shape[:-1])
    if rows > VOCAB_MAJOR_MAX_ROWS or jax.default_backend() != "cpu":
        return jnp.dot(query, table.T)
    flat = query.reshape(rows, query.shape[-1])
    out = lax.optimization_barrier(lax.dot_general(table, flat, (((1,), (1,)), ((), ()))))   # [V, rows]
    return out.T.reshape(query.shape[:-1] + (table.shape[0],))


def roberta_position_ids(input_ids, padding_idx: int):
    """RoBERTa's positions: count real tokens from padding_idx + 1; padding
    tokens keep position padding_idx."""
    mask = (input_ids != padding_idx).astype(jnp.int32)
    return jnp.cumsum(mask, axis=1) * mask + padding_idx


class TextEmbeddings(nn.Module):
    """word + learned position (+ token type) embeddings, then LayerNorm.

    `position_style`: "absolute" (0, 1, 2, ...) or "roberta" (offset by the
    padding index, padding tokens at padding_idx)."""

    vocab_size: int
    features: int
    max_positions: int
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-12
    dropout_rate: float = 0.0
    position_style: str = "absolute"
    pad_token_id: int = 0
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        init = nn.initializers.normal(0.02)
        embed = lambda n, name: nn.Embed(n, self.features, dtype=self.dtype,  # noqa: E731
                                         param_dtype=self.param_dtype, embedding_init=init, name=name)
        self.word_embeddings = embed(self.vocab_size, "word_embeddings")
        self.position_embeddings = embed(self.max_positions, "position_embeddings")
        if self.type_vocab_size:
            self.token_type_embeddings = embed(self.type_vocab_size, "token_type_embeddings")
        self.LayerNorm = layer_norm(self.layer_norm_eps, self.param_dtype, name="LayerNorm")
        self.dropout = nn.Dropout(self.dropout_rate)

    def __call__(self, input_ids, token_type_ids=None, position_ids=None, deterministic=True):
        if position_ids is None:
            if self.position_style == "roberta":
                position_ids = roberta_position_ids(input_ids, self.pad_token_id)
            else:
                position_ids = jnp.arange(input_ids.shape[1])[None, :]
        x = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        if self.type_vocab_size:
            if token_type_ids is None:
                token_type_ids = jnp.zeros_like(input_ids)
            x = x + self.token_type_embeddings(token_type_ids)
        x = self.LayerNorm(x)
        return self.dropout(x, deterministic=deterministic)

    def attend(self, x):
        """Tied output projection: hidden [.., features] -> logits [.., vocab]."""
        return tied_logits(self.word_embeddings, x)
