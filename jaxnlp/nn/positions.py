"""Position encodings that checkpoints do not (need to) save: sinusoidal
tables (Marian/Pegasus layout, fairseq/M2M100 layout) and T5's relative
position buckets.

Each is computed as transformers computes it (same precision, same layout),
so that outputs match to float32 rounding."""

from __future__ import annotations

import functools
import math

import numpy as np
import jax.numpy as jnp


@functools.lru_cache(maxsize=16)
def _sinusoidal_table(num_positions: int, dim: int) -> np.ndarray:
    # float64, as transformers' MarianSinusoidalPositionalEmbedding.create_weight
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angles = pos / np.power(10000, 2 * (j // 2) / dim)[None, :]              # [P, dim]
    sentinel = dim // 2 if dim % 2 == 0 else dim // 2 + 1
    table = np.empty((num_positions, dim), np.float32)
    table[:, :sentinel] = np.sin(angles[:, 0::2])
    table[:, sentinel:] = np.cos(angles[:, 1::2])
    table.flags.writeable = False
    return table


def sinusoidal_positions(position_ids, dim: int, num_positions: int):
    """Marian / Pegasus: sin features in the first half of the vector, cos in
    the second (not interleaved). position_ids [B, T] -> [B, T, dim] float32."""
    return jnp.asarray(_sinusoidal_table(num_positions, dim))[position_ids]


def fairseq_sinusoidal_positions(position_ids, dim: int, padding_idx: int | None):
    """M2M100 (fairseq): sin | cos halves over `dim // 2` frequencies
    10000 ** (-i / (dim // 2 - 1)), computed in float32 like transformers;
    the row at `padding_idx` is zero. position_ids [B, T] (already offset
    by padding_idx + 1) -> [B, T, dim] float32."""
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = jnp.exp(jnp.arange(half, dtype=jnp.float32) * jnp.float32(-step))      # [half]
    angles = position_ids.astype(jnp.float32)[..., None] * freqs                    # [B, T, half]
    out = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    if dim % 2:
        out = jnp.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, 1)])
    if padding_idx is not None:
        out = jnp.where((position_ids == padding_idx)[..., None], 0.0, out)
    return out


@functools.lru_cache(maxsize=16)
def _bucket_table(bidirectional: bool, num_buckets: int, max_distance: int) -> np.ndarray:
    """Bucket of every relative position in [-max_distance, max_distance]
    (further ones share the outermost buckets), as transformers'
    T5Attention._relative_position_bucket computes it."""
    rel = np.arange(-max_distance, max_distance + 1)
    buckets = np.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0) * num_buckets
        rel = np.abs(rel)
    else:
        rel = -np.minimum(rel, 0)
    max_exact = num_buckets // 2
    with np.errstate(divide="ignore"):
        large = max_exact + (np.log(rel / max_exact) / math.log(max_distance / max_exact)
                             * (num_buckets - max_exact))
    large = np.minimum(np.where(rel < max_exact, 0, large).astype(np.int64), num_buckets - 1)
    buckets += np.where(rel < max_exact, rel, large)
    return buckets.astype(np.int32)


def relative_position_buckets(relative_position, *, bidirectional: bool, num_buckets: int = 32,
                              max_distance: int = 128):
    """T5's bucket (an int32 array shaped like `relative_position`) for each
    relative position `key_position - query_position`. The encoder's buckets
    are bidirectional; the decoder's are causal (later keys share bucket 0)."""
    table = jnp.asarray(_bucket_table(bidirectional, num_buckets, max_distance))
    return table[jnp.clip(relative_position, -max_distance, max_distance) + max_distance]
