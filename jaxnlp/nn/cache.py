"""Decoding caches of encoder-decoders: what changes per decoded row and what
belongs to the source.

Every cache leaf has the decoded rows (batch, or batch x beams) as its leading
axis, except the subtree under `SOURCE`: the cross-attention keys/values and
the encoder mask, one row per source. Searches expand and reorder every other
leaf per beam / returned sequence and leave `SOURCE` as it is; attention over
it treats the rows of one source (beam-major: row b * k + j belongs to source
b) as extra queries, so the source is neither copied per beam nor gathered at
every step.

Beam search keeps self-attention caches in place too (`group_beams`,
`reorder_beams`): a layer's keys/values {"k" [B, N, H, L], "v" [B, N, L, H]}
(`jaxnlp.nn.attention.init_kv_cache`) become one block per source row,
{"k" [B, N, H, L * K], "v" [B, N, L * K, H], BEAM [B * K, L]}, in which beam j
writes slot l at l * K + j and BEAM says, per beam row and slot, which of the
K beams of its row holds that slot's key/value. A step's reorder then
gathers BEAM ([B * K, L] int32) instead of copying every key and value, and
attention reads the block with each beam's slots selected by BEAM
(`jaxnlp.nn.attention.MultiHeadAttention`). Copying the cache was 23% of
gpt2's batch 8 x beam 4 step on CPU (bench/op_profile.py). Slots are
interleaved (l * K + j, not j * L + l) so that a step's K beams write one
contiguous block, an in-place dynamic_update_slice (the scatter into K
separate blocks and the prefill's `tile` were 7% of that step). A
decoder-only prompt's slots can stay one copy per source row
(`group_beams(..., shared=S)`: `SHARED` leaves beside the block).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

SOURCE = "source"
BEAM = "beam"
SHARED = ("k_shared", "v_shared")      # a grouped cache's first slots, one copy per source row


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


def _is_kv(node) -> bool:
    return isinstance(node, dict) and set(node) in ({"k", "v"}, {"k", "v", BEAM}, {"k", "v", BEAM, *SHARED})


def _map_beams(cache: Any, kv_fn: Callable, leaf_fn: Callable, top: bool = True) -> Any:
    """kv_fn over attention caches ({"k", "v"[, BEAM]} dicts), leaf_fn over
    every other leaf; a top-level `SOURCE` subtree kept (as `map_per_row`)."""
    if _is_kv(cache):
        return kv_fn(cache)
    if isinstance(cache, dict):
        return {k: v if top and k == SOURCE else _map_beams(v, kv_fn, leaf_fn, False) for k, v in cache.items()}
    if isinstance(cache, (list, tuple)):
        return type(cache)(_map_beams(v, kv_fn, leaf_fn, False) for v in cache)
    return jax.tree.map(leaf_fn, cache)


def group_beams(cache: Any, num_beams: int, shared: int = 0) -> Any:
    """A prefill's cache (leaves [B, ...]) -> beam search's (rows B * K, beam-major
    inside a source row): every per-row leaf copied to its K beams; every
    attention cache in the grouped layout (see the module doc), each beam
    starting with the prefill's keys/values and BEAM = its own beam index.
    `shared` > 0: the first `shared` slots (a decoder-only prompt, which every
    beam of a row shares and none writes again) stay one copy per source row,
    {"k_shared" [B, N, H, S], "v_shared" [B, N, S, H]}, and the grouped block
    and BEAM cover the L - S slots after them."""
    def kv(c):
        k, v = c["k"], c["v"]
        if BEAM in c:
            raise ValueError("group_beams takes a prefill cache, not a grouped one")
        if k.ndim != 4 or v.shape != k.shape[:2] + k.shape[:1:-1]:
            raise ValueError(f"attention cache k {k.shape} / v {v.shape} is not in init_kv_cache's layout "
                             "(k [B, N, H, L], v [B, N, L, H])")
        b, n, h, length = k.shape
        if not 0 <= shared < length:
            raise ValueError(f"shared prefix {shared} out of range for {length} cache slots")
        own = jnp.arange(b * num_beams, dtype=jnp.int32) % num_beams
        out = {"k": jnp.repeat(k[..., shared:], num_beams, axis=3),       # [B, N, H, (L - S) * K]
               "v": jnp.repeat(v[:, :, shared:], num_beams, axis=2),      # [B, N, (L - S) * K, H]
               BEAM: jnp.broadcast_to(own[:, None], (b * num_beams, length - shared))}
        if shared:
            out.update(k_shared=k[..., :shared], v_shared=v[:, :, :shared])
        return out
    return _map_beams(cache, kv, lambda x: jnp.repeat(x, num_beams, axis=0))


def reorder_beams(cache: Any, rows: jax.Array) -> Any:
    """Beam search's per-step reorder: new row r continues old row rows[r]
    (rows [B * K], inside r's source row). Every leaf is gathered (a top-level
    `SOURCE` kept) except grouped attention caches' keys/values: of those only
    BEAM is. Without grouped caches this is `map_per_row` of the gather."""
    # (in range by construction; mode="clip" lets XLA copy whole rows: ~30% faster on CPU)
    take = lambda x: x.at[rows].get(mode="clip")  # noqa: E731
    return _map_beams(cache, lambda c: {**c, BEAM: take(c[BEAM])} if BEAM in c else jax.tree.map(take, c), take)
