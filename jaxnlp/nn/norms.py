"""Normalisation layers.

LayerNorm computes and returns float32 whatever the computation dtype, so
that with bfloat16 matmuls the residual stream stays float32 (mixed
precision: the matmuls are where bfloat16 pays)."""

from __future__ import annotations

import jax.numpy as jnp
import flax.linen as nn


def layer_norm(epsilon: float, param_dtype=jnp.float32, name: str | None = None) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=epsilon, dtype=jnp.float32, param_dtype=param_dtype, name=name)
