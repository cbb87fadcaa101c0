"""Sampling: reproducible per key, the sampled distribution is softmax of the
processed logits, top_k=1 is greedy, dynamic options do not recompile."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
from transformers.generation import logits_process as hf

from jaxnlp.generation import GenerationConfig, beam_search, greedy_search, sample

from .table_lm import prefill, step_fn

V = 13
MAX_LEN = 10
SAMPLE = GenerationConfig(max_length=MAX_LEN, do_sample=True, eos_token_id=1, pad_token_id=0)
RUN_SAMPLE = jax.jit(sample, static_argnames=("step_fn", "config"))


def table(seed=0, scale=1.0):
    return (np.random.RandomState(seed).randn(V, V) * scale).astype(np.float32)


def inputs(tab, prompts, max_len=MAX_LEN):
    prompts = np.asarray(prompts, np.int32)
    buf = np.zeros((prompts.shape[0], max_len), np.int32)
    buf[:, :prompts.shape[1]] = prompts
    first, cache = prefill(tab, buf, prompts.shape[1])
    return first, cache, jnp.asarray(buf), prompts.shape[1]


def draw(config, key, tab=None, prompts=((4,), (5,), (6,))):
    tab = table() if tab is None else tab
    first, cache, buf, plen = inputs(tab, prompts)
    static, params = config.split()
    return RUN_SAMPLE(step_fn, first, cache, buf, plen, static, key, params)


def test_same_key_same_output_different_key_different_output():
    a = draw(SAMPLE, jax.random.PRNGKey(0))
    b = draw(SAMPLE, jax.random.PRNGKey(0))
    c = draw(SAMPLE, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.sequences, b.sequences)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(np.asarray(a.sequences), np.asarray(c.sequences))


def test_sampled_step_follows_processed_softmax():
    """20000 one-step samples (vmap over keys) against softmax of transformers'
    Temperature -> TopK -> TopP warpers on the same logits."""
    logits = np.random.RandomState(3).randn(V).astype(np.float32) * 1.5
    tab = np.tile(logits, (V, 1))                       # every token -> same next distribution
    cfg = GenerationConfig(max_length=2, do_sample=True, temperature=0.7, top_k=6, top_p=0.85)
    first, cache, buf, plen = inputs(tab, [[4]], max_len=2)
    static, params = cfg.split()

    def one(key):
        return sample(step_fn, first, cache, buf, plen, static, key, params).sequences[0, 1]

    keys = jax.random.split(jax.random.PRNGKey(42), 20000)
    drawn = np.asarray(jax.jit(jax.vmap(one))(keys))
    freq = np.bincount(drawn, minlength=V) / len(drawn)

    scores = torch.from_numpy(logits[None].copy())
    for warper in (hf.TemperatureLogitsWarper(0.7), hf.TopKLogitsWarper(6), hf.TopPLogitsWarper(0.85)):
        scores = warper(None, scores)
    expected = torch.softmax(scores, -1)[0].numpy()
    assert (freq[expected == 0] == 0).all()             # filtered tokens never drawn
    assert np.abs(freq - expected).max() < 0.012        # ~3.5 sigma at n = 20000


def test_top_k_1_is_greedy():
    tab = table(1)
    first, cache, buf, plen = inputs(tab, [[4], [5], [6]])
    greedy = greedy_search(step_fn, first, cache, buf, plen, SAMPLE.replace(do_sample=False))
    sampled = draw(SAMPLE.replace(top_k=1), jax.random.PRNGKey(7), tab=tab, prompts=[[4], [5], [6]])
    np.testing.assert_array_equal(sampled.sequences, greedy.sequences)
    assert int(sampled.length) == int(greedy.length)
    np.testing.assert_allclose(sampled.scores, 0.0, atol=1e-6)   # one token left: log-prob 0


def test_num_return_sequences_repeats_rows_in_place():
    out = draw(SAMPLE.replace(num_return_sequences=3), jax.random.PRNGKey(0), prompts=[[4], [5]])
    seqs = np.asarray(out.sequences)
    assert seqs.shape == (6, MAX_LEN)
    assert seqs[:, 0].tolist() == [4, 4, 4, 5, 5, 5]
    assert len({tuple(r) for r in seqs[:3]}) > 1          # independent samples


def test_changing_dynamic_options_does_not_recompile():
    traces = []

    def counting_step(tokens, cache, step):
        traces.append(1)                                  # runs only while tracing
        return step_fn(tokens, cache, step)

    def fresh_sample(config, params, rng):    # its own jit cache, not shared with other tests
        return sample(counting_step, first, cache, buf, plen, config, rng, params)

    run = jax.jit(fresh_sample, static_argnames="config")
    first, cache, buf, plen = inputs(table(2, 3.0), [[4], [5], [6]])
    cfg_a = SAMPLE.replace(temperature=0.7, top_p=0.9, repetition_penalty=1.2)
    cfg_b = SAMPLE.replace(temperature=1.6, top_p=0.3, repetition_penalty=1.0)
    static_a, params_a = cfg_a.split()
    static_b, params_b = cfg_b.split()
    assert static_a == static_b and hash(static_a) == hash(static_b)
    key = jax.random.PRNGKey(5)
    out_a = run(static_a, params_a, key)
    n_traces = len(traces)
    out_b = run(static_b, params_b, key)
    assert len(traces) == n_traces and run._cache_size() == 1
    assert not np.array_equal(np.asarray(out_a.scores), np.asarray(out_b.scores))   # values were used


def test_beam_sampling_at_low_temperature_is_beam_search():
    # temperature T divides every log-prob, so candidate ranking is beam search's;
    # with T = 1e-4 the Gumbel noise (order 1) cannot change it
    tab = table(4, 2.0)
    tab[:, 1] += 1.0
    first, cache, buf, plen = inputs(tab, [[4], [5]], max_len=MAX_LEN)
    cfg = GenerationConfig(max_length=MAX_LEN, num_beams=3, num_return_sequences=2, eos_token_id=1,
                           pad_token_id=2)
    ref = beam_search(step_fn, first, cache, buf, plen, cfg)
    cold = cfg.replace(do_sample=True, temperature=1e-4, top_k=0)
    out = beam_search(step_fn, first, cache, buf, plen, cold, rng=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out.sequences, ref.sequences)
    np.testing.assert_allclose(np.asarray(out.scores) * 1e-4, ref.scores, rtol=1e-4, atol=1e-4)
    warm = cfg.replace(do_sample=True, temperature=1.0)
    a = beam_search(step_fn, first, cache, buf, plen, warm, rng=jax.random.PRNGKey(1))
    b = beam_search(step_fn, first, cache, buf, plen, warm, rng=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.sequences, b.sequences)
