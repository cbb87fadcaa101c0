"""`draw_tokens`, the sampling step: whichever path it takes (candidates from
lax.top_k, or the whole vocabulary where the candidates cannot show the
distribution exactly), drawn tokens stay inside transformers' TopK -> TopP
support, their frequencies over many keys match softmax of the warped scores
(chi-square), the returned log-probabilities are those of the warped softmax,
and a key fixes the draw. Plus a guard on what made sampling slow on CPU: a
top_k that XLA compiles into a sort of the whole vocabulary."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers.generation import logits_process as hf

from jaxnlp.generation import top_k_filter

search_module = importlib.import_module("jaxnlp.generation.search")
draw_tokens = search_module.draw_tokens

V = 40
N_DRAWS = 20000


def reference_probs(logits, top_k=0, top_p=1.0):
    """softmax of transformers' TopK -> TopP warpers (the sampling distribution)."""
    scores = torch.from_numpy(np.asarray(logits, np.float32)[None].copy())
    if top_k:
        scores = hf.TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = hf.TopPLogitsWarper(top_p)(None, scores)
    return torch.softmax(scores, -1)[0].numpy(), torch.log_softmax(scores, -1)[0].numpy()


def draws(logits, top_k=0, top_p=1.0, n=N_DRAWS, seed=0):
    threshold = None if top_p >= 1.0 else jnp.float32(1.0 - top_p)
    scores = jnp.asarray(np.asarray(logits, np.float32)[None])

    def one(key):
        token, log_prob = draw_tokens(scores, key, top_k=top_k, top_p_threshold=threshold)
        return token[0], log_prob[0]

    tokens, log_probs = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(seed), n))
    return np.asarray(tokens), np.asarray(log_probs)


def check_distribution(logits, top_k=0, top_p=1.0):
    expected, expected_log = reference_probs(logits, top_k, top_p)
    tokens, log_probs = draws(logits, top_k, top_p)
    support = expected > 0
    assert support[tokens].all(), "drew a token outside the top-k / top-p support"
    np.testing.assert_allclose(log_probs, expected_log[tokens], atol=1e-5)
    observed = np.bincount(tokens, minlength=len(logits))
    expected_counts = expected[support] * len(tokens)
    chi2 = float((((observed[support] - expected_counts) ** 2) / expected_counts).sum())
    dof = max(int(support.sum()) - 1, 1)
    assert chi2 < dof + 5 * np.sqrt(2 * dof), (chi2, dof)      # ~3.5 sigma of a chi-square(dof)
    return tokens, support


def logits(seed=0, scale=1.5):
    return np.random.RandomState(seed).randn(V).astype(np.float32) * scale


@pytest.mark.parametrize("top_k, top_p", [(5, 1.0), (8, 0.7), (1, 1.0), (0, 1.0), (V + 3, 0.6)],
                         ids=["top_k", "top_k+top_p", "top_k=1", "no_warper", "top_k>=vocab+top_p"])
def test_distribution_matches_warped_softmax(top_k, top_p):
    tokens, support = check_distribution(logits(1), top_k, top_p)
    if top_k == 1:
        assert (tokens == np.argmax(logits(1))).all()
    else:
        assert len(set(tokens.tolist())) == support.sum() > 1        # every supported token shows up


def test_tie_with_kth_outside_candidates_keeps_all_tied():
    """transformers keeps every token tied with the k-th value: ids 3, 11, 30 tie for the 3rd place,
    so lax.top_k's 3 candidates cannot hold them all and the whole vocabulary is used."""
    x = np.linspace(-2.0, -1.0, V).astype(np.float32)
    x[[7, 20]] = [2.0, 1.5]
    x[[3, 11, 30]] = 1.0
    tokens, support = check_distribution(x, top_k=3)
    assert support.sum() == 5 and set(tokens.tolist()) == {3, 7, 11, 20, 30}


def test_top_p_alone_inside_and_beyond_the_candidates(monkeypatch):
    """top_p without top_k searches the nucleus among TOP_P_CANDIDATES tokens (8 here): a peaked
    distribution fits (candidate path), a flat one does not (whole-vocabulary path)."""
    monkeypatch.setattr(search_module, "TOP_P_CANDIDATES", 8)
    peaked = logits(2, 1.0)
    peaked[[4, 9, 17]] += [7.0, 6.5, 6.0]
    _, support = check_distribution(peaked, top_p=0.9)
    assert 1 < support.sum() <= 8
    _, support = check_distribution(logits(3, 0.3), top_p=0.9)
    assert support.sum() > 8


def test_same_key_same_draw():
    scores = jnp.asarray(np.stack([logits(4), logits(5)]))
    draw = jax.jit(lambda key: draw_tokens(scores, key, top_k=6, top_p_threshold=jnp.float32(0.2))[0])
    np.testing.assert_array_equal(draw(jax.random.PRNGKey(3)), draw(jax.random.PRNGKey(3)))
    assert len({tuple(np.asarray(draw(jax.random.PRNGKey(s))).tolist()) for s in range(20)}) > 1


@pytest.mark.parametrize("what", ["draw_tokens", "top_k_filter"])
def test_top_k_compiles_without_a_vocabulary_sort(what):
    """XLA's CPU backend compiles lax.top_k into its TopK call only in some forms (a top_k read at its
    last column becomes a sort of the whole vocabulary, ~100x slower at 50257 tokens)."""
    x = jnp.zeros((4, 50257), jnp.float32)
    if what == "draw_tokens":
        fn = jax.jit(lambda x, key: draw_tokens(x, key, top_k=50))
        hlo = fn.lower(x, jax.random.PRNGKey(0)).compile().as_text()
    else:
        hlo = jax.jit(lambda x: top_k_filter(x, 50)).lower(x).compile().as_text()
    if jax.default_backend() == "cpu":
        assert " sort(" not in hlo
