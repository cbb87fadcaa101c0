"""Search loops on fake logits with sequences worked out by hand (t5x
decoding_test style). The model is an order-1 table (table_lm.py): the
next-token distribution depends only on the last token, given as
probabilities; unlisted tokens have log-prob -1e4.

Tokens: 0 = pad, 1 = eos, 2 = bos (every prompt here is [2] unless said),
3..12 ordinary. Lengths count the prompt: max_length 13 = 12 new tokens.
Beam scores are transformers' `sequences_scores`:
sum of log-probs / (new tokens incl. eos) ** length_penalty.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnlp.generation import GenerationConfig, beam_search, greedy_search, search

from .table_lm import log_table, prefill, step_fn

PAD, EOS, BOS = 0, 1, 2
MAX_LEN = 13
BASE = GenerationConfig(max_length=MAX_LEN, eos_token_id=EOS, pad_token_id=PAD)
RUN = jax.jit(search, static_argnames=("step_fn", "config", "debug"))


def run(table, prompts, config, debug=False, rng=None):
    """prompts: list of equal-length token lists. Returns (sequences cropped to
    `length` as a list of lists, scores as numpy)."""
    prompts = np.asarray(prompts, np.int32)
    buf = np.full((prompts.shape[0], MAX_LEN), 9, np.int32)       # garbage after the prompt
    buf[:, :prompts.shape[1]] = prompts
    first_logits, cache = prefill(table, buf, prompts.shape[1])
    static, params = config.split()
    fn = search if debug else RUN     # debug: a Python loop, not jitted
    out = fn(step_fn, first_logits, cache, jnp.asarray(buf), prompts.shape[1], static, params,
              rng=rng, debug=debug)
    length = int(out.length)
    return np.asarray(out.sequences)[:, :length].tolist(), np.asarray(out.scores)


# ----------------------------------------------------------------------- greedy

# Row 0 from [2]: 2 -> 3 (0.6) -> 5 (0.55) -> eos (0.7): ends after 3 new tokens.
# Row 1 from [6]: 6 -> 8 -> 6 -> 8 ... (prob 1 each), never eos: runs to max_length.
GREEDY_TABLE = log_table({
    2: {3: 0.6, 4: 0.4},
    3: {5: 0.55, 6: 0.45},
    5: {EOS: 0.7, 6: 0.3},
    6: {8: 1.0},
    8: {6: 1.0},
})


def test_greedy_path_and_eos_padding():
    seqs, scores = run(GREEDY_TABLE, [[BOS], [6]], BASE)
    # row 0 is padded with pad_token_id after its eos, up to the longest row
    assert seqs[0] == [2, 3, 5, 1] + [PAD] * 9
    assert seqs[1] == [6] + [8, 6] * 6
    np.testing.assert_allclose(scores, [np.log(0.6) + np.log(0.55) + np.log(0.7), 0.0], atol=1e-5)


def test_greedy_stops_when_every_row_is_done():
    # only row 0: the loop stops after its eos; transformers returns 4 columns
    seqs, _ = run(GREEDY_TABLE, [[BOS]], BASE)
    assert seqs == [[2, 3, 5, 1]]


def test_greedy_debug_loop_is_the_same_program():
    assert run(GREEDY_TABLE, [[BOS], [6]], BASE, debug=True)[0] == run(GREEDY_TABLE, [[BOS], [6]], BASE)[0]


def test_step_fn_gets_last_token_and_its_column():
    # step_fn's logits favour (token + step) % 13, so column c+1 = (column c + c) % 13
    def position_step(tokens, cache, step):
        return jax.nn.one_hot((tokens + step) % 13, 13) * 5.0, cache

    buf = jnp.full((1, 8), PAD, jnp.int32).at[0, 0].set(4)
    first = jax.nn.one_hot(jnp.array([(4 + 0) % 13]), 13) * 5.0
    cfg = GenerationConfig(max_length=8)
    out = greedy_search(position_step, first, {}, buf, 1, cfg)
    expect = [4]
    for c in range(7):
        expect.append((expect[-1] + c) % 13)
    assert np.asarray(out.sequences)[0].tolist() == expect


# ------------------------------------------------------------ beam: greedy loses

# 2 -> 3 (0.5) | 4 (0.4) | 7 (0.1)
# 3 -> 5 (0.4) | 6 (0.3) | 8 (0.3);   4 -> 9 (0.9) | 10 (0.1);   5, 6, 8, 9, 10 -> eos
# Greedy: 2 3 5 eos, prob 0.5 * 0.4 = 0.2.
# Beam (2): after step 2 the beams are [4 9] (0.36) and [3 5] (0.2); both end at
# step 3 with 3 new tokens, so the winner is [2 4 9 eos], score log(0.36) / 3.
GREEDY_LOSES = log_table({
    2: {3: 0.5, 4: 0.4, 7: 0.1},
    3: {5: 0.4, 6: 0.3, 8: 0.3},
    4: {9: 0.9, 10: 0.1},
    5: {EOS: 1.0}, 6: {EOS: 1.0}, 8: {EOS: 1.0}, 9: {EOS: 1.0}, 10: {EOS: 1.0},
})

BEAMS2 = BASE.replace(num_beams=2, num_return_sequences=2)


def test_beam_search_beats_greedy():
    greedy, _ = run(GREEDY_LOSES, [[BOS]], BASE)
    assert greedy == [[2, 3, 5, 1]]
    seqs, scores = run(GREEDY_LOSES, [[BOS]], BEAMS2)
    assert seqs == [[2, 4, 9, 1], [2, 3, 5, 1]]
    np.testing.assert_allclose(scores, [np.log(0.36) / 3, np.log(0.2) / 3], atol=1e-5)


# ------------------------------------------- finished beams must not starve live

# 2 -> 3 (0.55) | 4 (0.45);  3 -> eos (0.9) | 5 (0.1);  4 -> eos (0.9) | 6 (0.1)
# 5 -> 7 -> 5 -> 7 ... and 6 -> 8 -> 6 ... with prob 1 (never eos).
# Step 2: the two best candidates, [3 eos] (0.495) and [4 eos] (0.405), both end.
# Keeping only k = 2 candidates would leave no live beam; with 2k = 4 the live
# beams [3 5] (0.055) and [4 6] (0.045) go on.
# early_stopping=False: the best live beam at its current length,
#   log(0.055) / 2 = -1.45, cannot beat the worst finished log(0.405) / 2 = -0.45:
#   stop; result [2 3 eos] (log(0.495)/2), [2 4 eos] (log(0.405)/2).
# early_stopping="never" (length_penalty 1 > 0): the live beam is judged at
#   max_length, log(0.055) / 12 = -0.24 > -0.45: search on to max_length, where
#   the live beams end with 12 new tokens and win: log(0.055)/12, log(0.045)/12.
STARVE = log_table({
    2: {3: 0.55, 4: 0.45},
    3: {EOS: 0.9, 5: 0.1},
    4: {EOS: 0.9, 6: 0.1},
    5: {7: 1.0}, 7: {5: 1.0},
    6: {8: 1.0}, 8: {6: 1.0},
})


def test_finished_beams_do_not_starve_live_ones():
    seqs, scores = run(STARVE, [[BOS]], BEAMS2)
    assert seqs == [[2, 3, 1], [2, 4, 1]]
    np.testing.assert_allclose(scores, [np.log(0.495) / 2, np.log(0.405) / 2], atol=1e-5)

    seqs, scores = run(STARVE, [[BOS]], BEAMS2.replace(early_stopping="never"))
    assert seqs == [[2, 3] + [5, 7] * 5 + [5], [2, 4] + [6, 8] * 5 + [6]]
    np.testing.assert_allclose(scores, [np.log(0.055) / 12, np.log(0.045) / 12], atol=1e-5)


# ---------------------------------------------- early stopping, length penalty

# 2 -> 3 (0.55) | eos (0.3) | 4 (0.15)
# 3 -> eos (0.6) | 5 (0.4);   4 -> eos (0.9) | 6 (0.1);   5, 6 -> eos
# Step 1: [eos] ranks 2nd of the candidates, within the top k=2, so it finishes:
#   score log(0.3) / 1 = -1.204.  Live: [3] (log 0.55), [4] (log 0.15).
# Step 2: candidates [3 eos] 0.33, [3 5] 0.22, [4 eos] 0.135, [4 6] 0.015.
#   [3 eos] (rank 1) finishes: log(0.33) / 2 = -0.554. [4 eos] is rank 3, outside
#   the top k, so it is dropped (transformers does the same). Both finished slots
#   are now full; live: [3 5] (log 0.22 = -1.514), [4 6].
#   early_stopping=True: all slots full -> stop: [2 3 eos] -0.554, [2 eos] -1.204.
#   early_stopping=False: live best -1.514 / 2 = -0.757 > worst finished -1.204:
#   go on. Step 3: [3 5 eos] finishes with log(0.22) / 3 = -0.505, the new best;
#   [4 6 eos] log(0.015) / 3 = -1.400. Result [2 3 5 eos] -0.505, [2 3 eos] -0.554.
#   length_penalty=0 (raw sums), early_stopping=False: step 2 gives [3 eos] -1.109;
#   live best -1.514 is below the worst finished -1.204: stop. Result
#   [2 3 eos] -1.109, [2 eos] -1.204: the length penalty changed the winner.
#   length_penalty=2: [3 eos] log(0.33)/4 = -0.277, [eos] -1.204 after step 2;
#   live best -1.514/4 = -0.379 > -1.204: go on; step 3: [3 5 eos] log(0.22)/9 =
#   -0.168 and [4 6 eos] log(0.015)/9 = -0.467 -> [2 3 5 eos], [2 3 eos].
EARLY = log_table({
    2: {3: 0.55, EOS: 0.3, 4: 0.15},
    3: {EOS: 0.6, 5: 0.4},
    4: {EOS: 0.9, 6: 0.1},
    5: {EOS: 1.0}, 6: {EOS: 1.0},
})


def test_early_stopping_true_vs_false():
    seqs, scores = run(EARLY, [[BOS]], BEAMS2.replace(early_stopping=True))
    # after eos comes the fill: eos again, since pad id 0 is falsy (see test_num_return_sequences...)
    assert seqs == [[2, 3, 1], [2, 1, EOS]]
    np.testing.assert_allclose(scores, [np.log(0.33) / 2, np.log(0.3)], atol=1e-5)

    seqs, scores = run(EARLY, [[BOS]], BEAMS2.replace(early_stopping=False))
    assert [s[:4] for s in seqs] == [[2, 3, 5, 1], [2, 3, 1, seqs[1][3]]]
    np.testing.assert_allclose(scores, [np.log(0.22) / 3, np.log(0.33) / 2], atol=1e-5)


def test_length_penalty_changes_the_winner():
    seqs, scores = run(EARLY, [[BOS]], BEAMS2.replace(length_penalty=0.0))
    assert seqs[0] == [2, 3, 1]
    np.testing.assert_allclose(scores, [np.log(0.33), np.log(0.3)], atol=1e-5)
    seqs, scores = run(EARLY, [[BOS]], BEAMS2.replace(length_penalty=2.0))
    assert seqs[0] == [2, 3, 5, 1] and seqs[1][:3] == [2, 3, 1]
    np.testing.assert_allclose(scores, [np.log(0.22) / 9, np.log(0.33) / 4], atol=1e-5)


def test_num_return_sequences_best_first_and_fill():
    # three beams, all three returned, best first. With pad_token_id 1 (truthy)
    # finished rows are filled with pad; transformers' `pad or eos` turns a pad
    # id of 0 into the eos id, which we copy (see GenerationConfig.beam_fill_token_id).
    cfg = BASE.replace(num_beams=3, num_return_sequences=3, pad_token_id=12)
    seqs, scores = run(GREEDY_LOSES, [[BOS]], cfg)
    # step 2 candidates: [4 9] .36, [3 5] .2, [3 6] .15, [3 8] .15 (tie: lower beam/token
    # index first), [7 ..]; beams [4 9], [3 5], [3 6] all end at step 3
    assert seqs == [[2, 4, 9, 1], [2, 3, 5, 1], [2, 3, 6, 1]]
    assert list(scores) == sorted(scores, reverse=True)

    cfg0 = BASE.replace(num_beams=2, num_return_sequences=2, early_stopping=True)
    assert cfg0.beam_fill_token_id == EOS
    seqs, _ = run(EARLY, [[BOS]], cfg0)
    assert seqs[1] == [2, 1, EOS]


def test_beam_batch_rows_are_independent():
    # row 1 starts from [6], which ends at once (6 -> eos with prob 1): its best
    # beam is [6 eos] with score 0; row 0 is unchanged by sharing the batch
    seqs, scores = run(GREEDY_LOSES, [[BOS], [6]], BEAMS2)
    assert seqs[0][:4] == [2, 4, 9, 1] and seqs[1][:4] == [2, 3, 5, 1]
    assert seqs[2][:2] == [6, 1] and set(seqs[2][2:]) <= {EOS}
    np.testing.assert_allclose(scores[[0, 1, 2]], [np.log(0.36) / 3, np.log(0.2) / 3, 0.0], atol=1e-5)


def test_beam_debug_loop_is_the_same_program():
    a = run(STARVE, [[BOS]], BEAMS2.replace(early_stopping="never"), debug=True)
    b = run(STARVE, [[BOS]], BEAMS2.replace(early_stopping="never"))
    assert a[0] == b[0]
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


# ----------------------------------------------------------------- bad inputs


def test_bad_search_inputs():
    buf = jnp.zeros((1, 8), jnp.int32)
    first, cache = prefill(GREEDY_TABLE, buf, 1)
    with pytest.raises(ValueError, match="max_length"):
        greedy_search(step_fn, first, cache, buf, 1, GenerationConfig(max_length=20))
    with pytest.raises(ValueError, match="prompt_len"):
        greedy_search(step_fn, first, cache, buf, 8, GenerationConfig(max_length=8))
    with pytest.raises(ValueError, match="params"):
        greedy_search(step_fn, first, cache, buf, 1, GenerationConfig(max_length=8).static)
    with pytest.raises(ValueError, match="num_return_sequences"):
        beam_search(step_fn, first, cache, buf, 1, GenerationConfig(max_length=8, num_beams=2,
                                                                    num_return_sequences=3))


def test_debug_under_jit_is_a_clear_error():
    buf = jnp.zeros((1, 8), jnp.int32)
    first, cache = prefill(GREEDY_TABLE, buf, 1)
    cfg = GenerationConfig(max_length=8)
    with pytest.raises(ValueError, match="debug=True"):
        jax.jit(lambda f: greedy_search(step_fn, f, cache, buf, 1, cfg, debug=True).sequences)(first)


def test_first_argmax_is_argmax():
    """The vectorised argmax the searches use: the first maximum on ties, a
    NaN wins (as jnp.argmax / torch.argmax), rows of -inf / inf give 0."""
    from jaxnlp.generation.search import first_argmax

    x = np.random.RandomState(0).randn(40, 300).astype(np.float32)
    x[1, [5, 9, 200]] = 50.0                  # tie: index 5
    x[2, [7, 8]] = np.nan                     # first NaN: 7
    x[3, :] = -np.inf
    x[4, :] = np.inf
    x[5, 299] = 60.0                          # last column
    got = np.asarray(first_argmax(jnp.asarray(x)))
    assert got[1] == 5 and got[2] == 7 and got[3] == 0 and got[4] == 0 and got[5] == 299
    np.testing.assert_array_equal(got, np.asarray(jnp.argmax(jnp.asarray(x), axis=-1)))
