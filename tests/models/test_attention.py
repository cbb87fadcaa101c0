"""The attention kernel's cache layout and shared source keys/values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnlp.nn import cache as source_cache
from jaxnlp.nn.attention import attend, dot_product_attention, make_attention_mask


def _random(shape, seed):
    return jnp.asarray(np.random.RandomState(seed).randn(*shape).astype(np.float32))


def test_attend_on_cache_layout_equals_softmax_attention():
    """attend(q, k^T, v) is softmax(q k^T / sqrt(H) + mask) v, written out in numpy."""
    q, k, v = _random((2, 3, 4, 8), 0), _random((2, 5, 4, 8), 1), _random((2, 5, 4, 8), 2)
    key_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = dot_product_attention(q, k, v, make_attention_mask(None, jnp.asarray(key_mask)))
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(8) + np.where(key_mask[:, None, None, :], 0, -1e30)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, np.einsum("bnts,bsnh->btnh", probs, v), rtol=1e-5, atol=1e-6)


def test_shared_source_rows_equal_copied_rows():
    """Keys/values of 2 sources read by 3 rows each (beams) give what copying
    them to all 6 rows gives."""
    q = _random((6, 1, 4, 8), 0)
    k_t, v = _random((2, 4, 8, 5), 1), _random((2, 4, 5, 8), 2)
    key_mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    shared = attend(q, k_t, v, make_attention_mask(None, key_mask))
    rep = lambda x: jnp.repeat(x, 3, axis=0)  # noqa: E731
    copied = attend(q, rep(k_t), rep(v), make_attention_mask(None, rep(key_mask)))
    np.testing.assert_allclose(shared, copied, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="query rows"):
        attend(_random((5, 1, 4, 8), 3), k_t, v, None)


def test_map_per_row_leaves_the_source_alone():
    cache = source_cache.pack({"layers_0": {"self_attn": {"k": jnp.zeros((2, 3))}, "x": {"k": jnp.ones((2, 4))}}},
                              "x", jnp.ones((2, 4), jnp.int32))
    out = source_cache.map_per_row(lambda a: jnp.repeat(a, 3, axis=0), cache)
    assert out["layers_0"]["self_attn"]["k"].shape == (6, 3)
    assert out[source_cache.SOURCE]["layers_0"]["k"].shape == (2, 4)
    layers, mask = source_cache.unpack(out, "x")
    assert set(layers["layers_0"]) == {"self_attn", "x"} and mask.shape == (2, 4)
    assert jax.tree.structure(source_cache.pack(layers, "x", mask)) == jax.tree.structure(out)
