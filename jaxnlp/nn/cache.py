"""Decoding caches of encoder-decoders: what changes per decoded row and what
belongs to the source.

Every cache leaf has the decoded rows (batch, or batch x beams) as its leading
axis, except the subtree under `SOURCE`: the cross-attention keys/values and
the encoder mask, one row per source. Searches expand and reorder every other
leaf per beam / returned sequence and leave `SOURCE` as it is; attention over
it treats the rows of one source (beam-major: row b * k + j belongs to source
b) as extra queries, so the source is neither copied per beam nor gathered at
every step.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

SOURCE = "source"


def map_per_row(fn: Callable, cache: Any) -> Any:
    """`jax.tree.map(fn, cache)` over the per-row leaves, `SOURCE` kept."""
    if isinstance(cache, dict) and SOURCE in cache:
        rest = {k: v for k, v in cache.items() if k != SOURCE}
        return {**jax.tree.map(fn, rest), SOURCE: cache[SOURCE]}
    return jax.tree.map(fn, cache)


def pack(layers: dict, cross_name: str, encoder_mask) -> dict:
    """{"layers_i": {"self_attn", cross_name}} + encoder mask [B, S] -> the
    cache: {"layers_i": {"self_attn"}, SOURCE: {"encoder_mask", "layers_i"}}."""
    cache = {name: {k: v for k, v in layer.items() if k != cross_name} for name, layer in layers.items()}
    cache[SOURCE] = {"encoder_mask": encoder_mask, **{name: layer[cross_name] for name, layer in layers.items()}}
    return cache


def unpack(cache: dict, cross_name: str) -> tuple[dict, Any]:
    """The inverse of `pack`: (per-layer caches with `cross_name`, encoder mask)."""
    source = cache[SOURCE]
    layers = {name: {**layer, cross_name: source[name]} for name, layer in cache.items() if name != SOURCE}
    return layers, source["encoder_mask"]
