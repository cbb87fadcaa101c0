"""`top_k_wide` (beam search's candidate selection over [batch, beams * vocab])
returns exactly what `lax.top_k` does: values and indices, ties to the lower
index, -inf entries, widths with and without a tail past the last block."""
import jax
import numpy as np
import pytest
from jax import lax

from jaxnlp.generation.search import top_k_wide

# one compiled program per shape (eager calls compiled each of its ops apart: 4x slower)
_jit_top_k = jax.jit(lax.top_k, static_argnums=1)
_jit_wide = jax.jit(top_k_wide, static_argnums=(1, 2))


@pytest.mark.parametrize("seed", range(4))
def test_matches_lax_top_k(seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        n = int(rng.integers(1, 2500))
        k = int(rng.integers(1, min(n, 12) + 1))
        chunk = int(rng.integers(1, 70))
        if rng.random() < 0.5:   # many ties and -inf (processors' bans, dead beams)
            x = rng.integers(-3, 3, size=(3, n)).astype(np.float32)
            x[rng.random((3, n)) < 0.3] = -np.inf
        else:
            x = rng.normal(size=(3, n)).astype(np.float32)
        want_v, want_i = _jit_top_k(x, k)
        got_v, got_i = _jit_wide(x, k, chunk)
        np.testing.assert_array_equal(np.asarray(got_v), np.asarray(want_v))
        np.testing.assert_array_equal(np.asarray(got_i), np.asarray(want_i))


def test_beam_search_width():
    # marian's 4 * 59514 columns, the top 8 concentrated in one block and all tied
    x = np.zeros((2, 4 * 59514), np.float32)
    x[0, 1000:1010] = 5.0
    x[1, -3:] = 7.0     # in the tail past the last whole block
    want_v, want_i = lax.top_k(x, 8)
    got_v, got_i = top_k_wide(x, 8)
    np.testing.assert_array_equal(np.asarray(got_v), np.asarray(want_v))
    np.testing.assert_array_equal(np.asarray(got_i), np.asarray(want_i))


def test_nan_ranks_first_like_lax_top_k():
    x = np.random.default_rng(0).normal(size=(2, 5000)).astype(np.float32)
    x[0, [7, 3000]] = np.nan
    x[1, 4999] = np.inf
    want_v, want_i = lax.top_k(x, 4)
    got_v, got_i = top_k_wide(x, 4)
    np.testing.assert_array_equal(np.asarray(got_v), np.asarray(want_v))
    np.testing.assert_array_equal(np.asarray(got_i), np.asarray(want_i))
