"""Beam search's grouped attention caches (jaxnlp.nn.cache.group_beams /
reorder_beams): attention over a cache kept in place, with each beam's slots
chosen through the BEAM index table, computes what copying and reordering
the whole cache every step computes (the layout every model used before, and
which the transformers parity tests pinned)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnlp.nn import cache as cache_lib
from jaxnlp.nn.attention import MultiHeadAttention, cached_causal_mask, init_kv_cache

B, K, L, N, H = 2, 3, 7, 2, 4          # sources, beams, cache slots, heads, head dim
D = N * H


def _random(shape, seed):
    return jnp.asarray(np.random.RandomState(seed).randn(*shape).astype(np.float32))


def _run(bias_rows, width=1, shared=0):
    """Prefill 2 slots per source, then beam steps of `width` tokens with
    reorders (3 steps of 1, or 2 of 2), both ways. Returns the per-step
    outputs (copied, grouped)."""
    attn = MultiHeadAttention(num_heads=N, hidden_size=D)
    params = attn.init(jax.random.PRNGKey(0), _random((B, 2, D), 0), None)
    # slot 0 of source 1 is padding (a left-padded prompt): never visible
    slot_mask = jnp.asarray([[1] * L, [0] + [1] * (L - 1)], jnp.int32)

    def bias(rows, t, index):
        if bias_rows is None:
            return None
        # T5-style additive bias over [query slot, key slot], per row or shared
        b = _random((bias_rows, N, L, L), 9)
        return jax.lax.dynamic_slice_in_dim(b, index, t, axis=2) if bias_rows == 1 else \
            jax.lax.dynamic_slice_in_dim(jnp.repeat(b[:1], rows, 0) + jnp.arange(rows)[:, None, None, None],
                                         index, t, axis=2)

    def call(x, cache, index, mask_rows):
        mask = cached_causal_mask(mask_rows, index, x.shape[1])
        return attn.apply(params, x, mask, cache=cache, cache_index=index,
                          bias=bias(x.shape[0], x.shape[1], index))

    prefill = init_kv_cache(B, L, N, H)
    _, prefill = call(_random((B, 2, D), 1), prefill, 0, slot_mask)
    copied = jax.tree.map(lambda x: jnp.repeat(x, K, axis=0), prefill)
    grouped = cache_lib.group_beams(prefill, K, shared)
    rows_mask = jnp.repeat(slot_mask, K, axis=0)
    outs_c, outs_g = [], []
    sources = [np.array([2, 0, 0, 4, 5, 3]), np.array([1, 1, 2, 3, 3, 3]), np.array([0, 2, 1, 5, 4, 4])]
    for step, src in enumerate(sources[:(L - 2) // width]):
        x = _random((B * K, width, D), 10 + step)
        out_c, copied = call(x, copied, 2 + step * width, rows_mask)
        out_g, grouped = call(x, grouped, 2 + step * width, rows_mask)
        outs_c.append(out_c)
        outs_g.append(out_g)
        copied = jax.tree.map(lambda x: x[src], copied)
        grouped = cache_lib.reorder_beams(grouped, jnp.asarray(src))
    return outs_c, outs_g


@pytest.mark.parametrize("width", [1, 2], ids=["1-token-steps", "2-token-steps"])
@pytest.mark.parametrize("bias_rows", [None, 1, B * K], ids=["no-bias", "shared-bias", "per-row-bias"])
def test_grouped_cache_attention_equals_copied_and_reordered_cache(bias_rows, width):
    outs_c, outs_g = _run(bias_rows, width)
    assert not np.allclose(outs_c[1][0], outs_c[1][1])    # beams differ: the reorder matters
    for c, g in zip(outs_c, outs_g):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("width", [1, 2], ids=["1-token-steps", "2-token-steps"])
def test_shared_prefix_equals_copied_and_reordered_cache(width):
    """group_beams(shared=2): the 2 prefilled slots (a decoder-only prompt,
    slot 0 of source 1 padding) stay one copy per source; attention over them
    and the grouped block computes what the copied cache does."""
    outs_c, outs_g = _run(None, width, shared=2)
    assert not np.allclose(outs_c[1][0], outs_c[1][1])
    for c, g in zip(outs_c, outs_g):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)
    kv = init_kv_cache(B, L, N, H)
    g = cache_lib.group_beams({"kv": kv}, K, shared=2)["kv"]
    assert g["k_shared"].shape == (B, N, H, 2) and g["k"].shape == (B, N, H, (L - 2) * K)
    assert g["v_shared"].shape == (B, N, 2, H) and g[cache_lib.BEAM].shape == (B * K, L - 2)
    with pytest.raises(ValueError, match="shared prefix"):
        cache_lib.group_beams({"kv": kv}, K, shared=L)
    with pytest.raises(ValueError, match="no attention bias"):
        _run(1, 1, shared=2)


def test_group_beams_layout_and_reorder():
    """Keys/values become one block per source, beam j's slot l at l * K + j;
    the reorder gathers only the index table (keys/values stay the same
    arrays), other per-row leaves are copied/gathered, SOURCE left alone."""
    kv = init_kv_cache(B, L, N, H)
    kv = {"k": _random(kv["k"].shape, 1), "v": _random(kv["v"].shape, 2)}
    cache = {"layers_0": {"self_attn": kv}, "mask": jnp.arange(B * L).reshape(B, L),
             cache_lib.SOURCE: {"encoder_mask": jnp.ones((B, 3))}}
    grouped = cache_lib.group_beams(cache, K)
    g = grouped["layers_0"]["self_attn"]
    assert g["k"].shape == (B, N, H, L * K) and g["v"].shape == (B, N, L * K, H)
    for j in range(K):
        np.testing.assert_array_equal(g["k"][..., j::K], kv["k"])
        np.testing.assert_array_equal(g["v"][:, :, j::K], kv["v"])
    np.testing.assert_array_equal(g[cache_lib.BEAM], np.repeat(np.arange(B * K)[:, None] % K, L, axis=1))
    np.testing.assert_array_equal(grouped["mask"], np.repeat(cache["mask"], K, axis=0))
    assert grouped[cache_lib.SOURCE] is cache[cache_lib.SOURCE]

    src = jnp.asarray([1, 1, 0, 5, 3, 4])
    moved = cache_lib.reorder_beams(grouped, src)
    m = moved["layers_0"]["self_attn"]
    assert m["k"] is g["k"] and m["v"] is g["v"]
    np.testing.assert_array_equal(m[cache_lib.BEAM], np.asarray(g[cache_lib.BEAM])[np.asarray(src)])
    np.testing.assert_array_equal(moved["mask"], np.asarray(grouped["mask"])[np.asarray(src)])
    with pytest.raises(ValueError, match="prefill cache"):
        cache_lib.group_beams(grouped, K)
    # a {"k", "v"} dict in another layout is refused, not grouped along the wrong axes
    with pytest.raises(ValueError, match="init_kv_cache's layout"):
        cache_lib.group_beams({"k": jnp.zeros((B, L, N, H)), "v": jnp.zeros((B, L, N, H))}, K)
    # without grouping (beam_search's default) every leaf is gathered, SOURCE kept
    plain = cache_lib.reorder_beams(jax.tree.map(lambda x: jnp.repeat(x, K, 0), {"kv": kv}), src)
    np.testing.assert_array_equal(plain["kv"]["k"], np.repeat(kv["k"], K, 0)[np.asarray(src)])
