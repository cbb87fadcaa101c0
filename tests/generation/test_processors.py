"""Each processor alone against its transformers class, on random scores and
random token histories (torch tensors built from the same numpy arrays)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers.generation import logits_process as hf

from jaxnlp.generation import (
    GenerationConfig,
    apply_repetition_penalty,
    ban_bad_words,
    ban_repeated_ngrams,
    enforce_min_length,
    enforce_min_new_tokens,
    force_bos,
    force_eos,
    process_scores,
    scale_temperature,
    suppress,
    suppress_at_begin,
    top_k_filter,
    top_p_filter,
)

from jaxnlp.generation.processors import _top_p_sorted, _top_p_with_threshold

from .reference import needs_padding_aware_repetition_penalty, needs_prefix_bad_words

V = 13           # vocab
B = 6            # rows
MAX_LEN = 12     # buffer columns; only the first cur_len are "input_ids"


def case(seed, cur_len, low_vocab=V):
    """scores [B, V] float32, the buffer [B, MAX_LEN] (garbage after cur_len) and
    transformers' input_ids = buffer[:, :cur_len]."""
    rng = np.random.RandomState(seed)
    scores = (rng.randn(B, V) * 3).astype(np.float32)
    buf = rng.randint(0, low_vocab, size=(B, MAX_LEN)).astype(np.int32)
    return scores, buf, torch.from_numpy(buf[:, :cur_len].astype(np.int64))


def check(ours, theirs):
    ours = np.asarray(ours)
    theirs = theirs.numpy()
    np.testing.assert_array_equal(np.isneginf(ours), np.isneginf(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("penalty", [1.0, 1.3, 0.7])
def test_repetition_penalty(seed, penalty):
    scores, buf, ids = case(seed, cur_len=7)
    ref = hf.RepetitionPenaltyLogitsProcessor(penalty)(ids, torch.from_numpy(scores.copy()))
    check(apply_repetition_penalty(jnp.asarray(scores), jnp.asarray(buf), 7, penalty), ref)


def test_repetition_penalty_dtype_and_single_row_broadcast():
    """Direct callers: bfloat16 scores with a float32 penalty give float32 (the
    dtype of the two together); one row of scores against several token rows
    (or the reverse) broadcasts, each token row penalising its own ids."""
    scores, buf, ids = case(0, cur_len=7)
    ref = hf.RepetitionPenaltyLogitsProcessor(1.3)(ids, torch.from_numpy(np.repeat(scores[:1], B, 0)))
    check(apply_repetition_penalty(jnp.asarray(scores[:1]), jnp.asarray(buf), 7, 1.3), ref)
    ref = hf.RepetitionPenaltyLogitsProcessor(1.3)(ids[:1].repeat(B, 1), torch.from_numpy(scores.copy()))
    check(apply_repetition_penalty(jnp.asarray(scores), jnp.asarray(buf[:1]), 7, 1.3), ref)
    half = jnp.asarray(scores, jnp.bfloat16)
    out = apply_repetition_penalty(half, jnp.asarray(buf), 7, jnp.float32(1.3))
    assert out.dtype == jnp.float32
    ref = hf.RepetitionPenaltyLogitsProcessor(1.3)(ids, torch.from_numpy(np.asarray(half, np.float32)))
    check(out, ref)


@needs_padding_aware_repetition_penalty
@pytest.mark.parametrize("seed", range(3))
def test_repetition_penalty_ignores_left_padding(seed):
    # transformers 5 generate passes prompt_ignore_length = attention_mask.argmax(1)
    scores, buf, ids = case(seed, cur_len=7)
    start = np.array([0, 1, 3, 6, 2, 0], np.int32)
    ref = hf.RepetitionPenaltyLogitsProcessor(1.5, prompt_ignore_length=torch.from_numpy(start.astype(np.int64)))(
        ids, torch.from_numpy(scores.copy()))
    check(apply_repetition_penalty(jnp.asarray(scores), jnp.asarray(buf), 7, 1.5, jnp.asarray(start)), ref)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("cur_len", [1, 2, 3, 9, 12])
def test_no_repeat_ngram(seed, n, cur_len):
    scores, buf, ids = case(seed, cur_len, low_vocab=3)  # 3 distinct tokens: many repeats
    ref = hf.NoRepeatNGramLogitsProcessor(n)(ids, torch.from_numpy(scores.copy()))
    check(ban_repeated_ngrams(jnp.asarray(scores), jnp.asarray(buf), cur_len, n), ref)


@needs_prefix_bad_words
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cur_len", [1, 2, 5, 10])
def test_bad_words(seed, cur_len):
    scores, buf, ids = case(seed, cur_len, low_vocab=3)
    # single tokens, an eos-only entry (dropped), 2- and 3-token words whose prefixes occur
    bad = [[7], [3], [1, 4], [0, 1, 9], [2, 2, 2, 5], [0, 12], [11, 12]]
    ref = hf.NoBadWordsLogitsProcessor(bad, eos_token_id=3)(ids, torch.from_numpy(scores.copy()))
    ours = ban_bad_words(jnp.asarray(scores), jnp.asarray(buf), cur_len, tuple(map(tuple, bad)), 3)
    check(ours, ref)
    assert np.isfinite(np.asarray(ours)[:, 3]).all()   # eos-only entry dropped


def test_bad_words_out_of_vocab():
    scores, buf, _ = case(0, 3)
    with pytest.raises(ValueError, match="bad_words_ids"):
        ban_bad_words(jnp.asarray(scores), jnp.asarray(buf), 3, ((1, 13),))


@pytest.mark.parametrize("cur_len", [3, 4, 5, 6])
def test_min_length(cur_len):
    scores, _, ids = case(1, cur_len)
    ref = hf.MinLengthLogitsProcessor(5, [3, 7])(ids, torch.from_numpy(scores.copy()))
    check(enforce_min_length(jnp.asarray(scores), cur_len, 5, (3, 7)), ref)


@pytest.mark.parametrize("cur_len", [3, 4, 5, 6])
def test_min_new_tokens(cur_len):
    scores, _, ids = case(2, cur_len)
    ref = hf.MinNewTokensLengthLogitsProcessor(2, 3, 4)(ids, torch.from_numpy(scores.copy()))
    check(enforce_min_new_tokens(jnp.asarray(scores), cur_len, 2, 3, 4), ref)


@pytest.mark.parametrize("cur_len", [1, 2])
def test_forced_bos(cur_len):
    scores, _, ids = case(3, cur_len)
    ref = hf.ForcedBOSTokenLogitsProcessor(5)(ids, torch.from_numpy(scores.copy()))
    check(force_bos(jnp.asarray(scores), cur_len, 5), ref)


@pytest.mark.parametrize("cur_len", [7, 8, 9])
def test_forced_eos(cur_len):
    scores, _, ids = case(4, cur_len)
    ref = hf.ForcedEOSTokenLogitsProcessor(9, [2, 6])(ids, torch.from_numpy(scores.copy()))
    check(force_eos(jnp.asarray(scores), cur_len, 9, (2, 6)), ref)


def test_suppress_tokens():
    scores, _, ids = case(5, 4)
    ref = hf.SuppressTokensLogitsProcessor([0, 4, 12])(ids, torch.from_numpy(scores.copy()))
    check(suppress(jnp.asarray(scores), (0, 4, 12)), ref)


@pytest.mark.parametrize("cur_len", [3, 4, 5])
def test_begin_suppress_tokens(cur_len):
    scores, _, ids = case(6, cur_len)
    ref = hf.SuppressTokensAtBeginLogitsProcessor([1, 2], 4)(ids, torch.from_numpy(scores.copy()))
    check(suppress_at_begin(jnp.asarray(scores), cur_len, 4, (1, 2)), ref)


@pytest.mark.parametrize("t", [0.3, 1.0, 1.7])
def test_temperature(t):
    scores, _, ids = case(7, 4)
    ref = hf.TemperatureLogitsWarper(t)(ids, torch.from_numpy(scores.copy()))
    check(scale_temperature(jnp.asarray(scores), t), ref)


@pytest.mark.parametrize("k,keep", [(1, 1), (3, 1), (5, 1), (2, 4), (13, 1), (50, 1)])
def test_top_k(k, keep):
    scores, _, ids = case(8, 4)
    scores[0, :4] = 1.25            # ties at the k-th value are kept
    ref = hf.TopKLogitsWarper(k, min_tokens_to_keep=keep)(ids, torch.from_numpy(scores.copy()))
    check(top_k_filter(jnp.asarray(scores), k, keep), ref)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("p,keep", [(0.1, 1), (0.5, 1), (0.9, 1), (0.95, 3), (1.0, 1), (0.01, 2)])
def test_top_p(seed, p, keep):
    scores, _, ids = case(9 + seed, 4)
    scores[1, 5] = -np.inf          # already-removed tokens stay removed
    ref = hf.TopPLogitsWarper(p, min_tokens_to_keep=keep)(ids, torch.from_numpy(scores.copy()))
    check(top_p_filter(jnp.asarray(scores), p, keep), ref)


@pytest.mark.parametrize("keep", [1, 3])
def test_top_p_wide_vocab_and_ties(keep):
    # top_p without sorting (a bisection over the probabilities, see _top_p_with_threshold).
    # Tie-free rows of a 50257 vocabulary and of 50 tokens with -inf entries, down to a
    # top_p so small that fewer than `keep` tokens would stay (the sorting fallback):
    # against transformers' TopPLogitsWarper.
    # one compiled program per shape: top_p_filter's own body with the threshold 1 - p
    # computed in Python (float64, as top_p_filter does for a float) and passed in
    filter_jit = jax.jit(_top_p_with_threshold, static_argnums=2)
    top_p = lambda x, p, keep: filter_jit(x, 1.0 - p, keep)  # noqa: E731
    rng = np.random.RandomState(21)
    wide = (rng.randn(3, 50257) * 2).astype(np.float32)
    narrow = (rng.randn(4, 50) * np.array([[0.05], [1], [3], [6]])).astype(np.float32)
    narrow[2, ::7] = -np.inf
    ids = torch.zeros((1, 1), dtype=torch.long)
    for x in (wide, narrow):
        for p in (0.02, 0.1, 0.5, 0.9, 0.99, 1e-9):
            ref = hf.TopPLogitsWarper(p, min_tokens_to_keep=keep)(ids, torch.from_numpy(x.copy()))
            check(top_p(jnp.asarray(x), p, keep), ref)
    # Ties: torch.sort is not stable, so transformers cuts tied tokens in an unspecified
    # order (all-equal logits at top_p=0.02 keep token 24 of 50 here). jaxnlp's rule is
    # the stable ascending sort (lower ids dropped first), computed by _top_p_sorted.
    ties = np.stack([np.zeros(50), np.round(rng.randn(50) * 2), np.round(rng.randn(50))]).astype(np.float32)
    for p in (0.02, 0.1, 0.5, 0.9, 0.99, 1e-9):
        np.testing.assert_array_equal(np.asarray(top_p(jnp.asarray(ties), p, keep)),
                                      np.asarray(_top_p_sorted(jnp.asarray(ties), 1.0 - p, keep)))
    np.testing.assert_array_equal(np.isfinite(np.asarray(top_p_filter(jnp.asarray(ties[:1]), 0.1, keep)))[0],
                                  np.arange(50) >= 45)


def test_top_p_boundary():
    # probabilities 0.5, 0.3, 0.2 exactly representable-ish: with top_p = 0.8 the
    # cumulative sum (ascending) 0.2 <= 0.2 removes the smallest token
    scores = np.log(np.array([[0.5, 0.3, 0.2]], np.float32))
    ids = torch.zeros((1, 1), dtype=torch.long)
    for p in (0.8, 0.7, 0.5, 0.3):
        ref = hf.TopPLogitsWarper(p)(ids, torch.from_numpy(scores.copy()))
        check(top_p_filter(jnp.asarray(scores), p), ref)


def test_process_scores_matches_transformers_chain():
    """The whole chain, in transformers' order, against the LogitsProcessorList
    that transformers' generate builds for the same options (sampling, so the
    warpers are included)."""
    scores, buf, ids = case(11, 6)
    cfg = GenerationConfig(do_sample=True, temperature=0.8, top_k=6, top_p=0.9, repetition_penalty=1.2,
                           no_repeat_ngram_size=2, bad_words_ids=((4,), (1, 2)), min_length=8,
                           suppress_tokens=(0,), eos_token_id=3, pad_token_id=0, max_length=12)
    chain = hf.LogitsProcessorList([
        hf.RepetitionPenaltyLogitsProcessor(1.2),
        hf.NoRepeatNGramLogitsProcessor(2),
        hf.NoBadWordsLogitsProcessor([[4], [1, 2]], 3),
        hf.MinLengthLogitsProcessor(8, 3),
        hf.SuppressTokensLogitsProcessor([0]),
        hf.TemperatureLogitsWarper(0.8),
        hf.TopKLogitsWarper(6),
        hf.TopPLogitsWarper(0.9),
    ])
    ref = chain(ids, torch.from_numpy(scores.copy()))
    ours = process_scores(jnp.asarray(scores), jnp.asarray(buf), 6, cfg, prompt_len=3)
    check(ours, ref)
    # the split config with traced values gives the same
    static, params = cfg.split()
    check(process_scores(jnp.asarray(scores), jnp.asarray(buf), 6, static, params, prompt_len=3), ref)
