"""`tied_logits`: the tied LM head, vocabulary-major for a few rows on CPU.

Whichever product it takes, it must equal flax's `Embed.attend` (hidden @
table^T) up to float32 summation order, in value, shape and dtype; and it
must take the vocabulary-major product exactly when the rows (all leading
dimensions together) are at most VOCAB_MAJOR_MAX_ROWS."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnlp.nn.embeddings as E


class Head(nn.Module):
    vocab: int = 301
    features: int = 24
    dtype: object = jnp.float32

    @nn.compact
    def __call__(self, x, attend: bool = False):
        embed = nn.Embed(self.vocab, self.features, dtype=self.dtype,
                         embedding_init=nn.initializers.normal(1.0))
        return embed.attend(x) if attend else E.tied_logits(embed, x)


def _barrier_in(fn, *args) -> bool:
    return "optimization_barrier" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("shape", [(1, 24), (2, 1, 24), (4, 8, 24), (E.VOCAB_MAJOR_MAX_ROWS, 24),
                                   (E.VOCAB_MAJOR_MAX_ROWS + 1, 24), (3, 40, 24)])
def test_equals_attend_and_numpy(shape):
    head = Head()
    x = jax.random.normal(jax.random.key(1), shape)
    params = head.init(jax.random.key(0), x)
    table = np.asarray(params["params"]["Embed_0"]["embedding"], np.float64)
    got = jax.jit(lambda p, x: head.apply(p, x))(params, x)
    want = np.asarray(x, np.float64) @ table.T
    assert got.shape == shape[:-1] + (301,) and got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(got), np.asarray(head.apply(params, x, attend=True)), rtol=1e-5, atol=1e-4)
    rows = int(np.prod(shape[:-1]))
    vocab_major = rows <= E.VOCAB_MAJOR_MAX_ROWS and jax.default_backend() == "cpu"
    assert _barrier_in(lambda p, x: head.apply(p, x), params, x) == vocab_major


def test_dtype_promotion_as_attend():
    """bfloat16 compute dtype over float32 parameters: both paths give bfloat16, as Embed.attend."""
    head = Head(dtype=jnp.bfloat16)
    for shape in [(2, 24), (50, 24)]:
        x = jax.random.normal(jax.random.key(2), shape)
        params = head.init(jax.random.key(0), x)
        got, ref = head.apply(params, x), head.apply(params, x, attend=True)
        assert got.dtype == ref.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(ref, np.float32), rtol=2e-2, atol=5e-2)


def test_gradient_flows():
    """The optimization barrier differentiates: grads equal those of x @ table^T."""
    head = Head()
    x = jax.random.normal(jax.random.key(3), (3, 24))
    params = head.init(jax.random.key(0), x)
    g = jax.grad(lambda p: jnp.sum(jnp.sin(head.apply(p, x))))(params)
    g_ref = jax.grad(lambda p: jnp.sum(jnp.sin(head.apply(p, x, attend=True))))(params)
    np.testing.assert_allclose(np.asarray(g["params"]["Embed_0"]["embedding"]),
                               np.asarray(g_ref["params"]["Embed_0"]["embedding"]), rtol=1e-5, atol=1e-5)
