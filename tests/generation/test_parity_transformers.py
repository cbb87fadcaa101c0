"""Searches against transformers' own `generate` on a fake model whose logits
depend only on the last two tokens (tests/generation/table_lm.py, order 2, so
beam search must reorder the cache right): random tables, left-padded
prompts, many option combinations; sequences must be identical and scores
equal to float32 rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import GenerationConfig as HFGenerationConfig

from jaxnlp.generation import GenerationConfig, search

from .reference import needs_padding_aware_repetition_penalty
from .table_lm import make_hf_model, prefill, step_fn

V = 13
PROMPT_LEN = 4
MAX_LEN = 14


def random_table(seed, eos=(3,), eos_boost=1.5):
    rng = np.random.RandomState(seed)
    table = (rng.randn(V, V, V) * 2.0).astype(np.float32)
    for e in eos:
        table[..., e] += eos_boost        # make sequences end at different times
    return table


def prompts(seed, pad):
    rng = np.random.RandomState(100 + seed)
    ids = rng.randint(4, V, size=(3, PROMPT_LEN))
    mask = np.ones_like(ids)
    ids[1, :2] = pad; mask[1, :2] = 0    # left padding
    ids[2, :1] = pad; mask[2, :1] = 0
    return ids, mask


RUN = jax.jit(search, static_argnames=("step_fn", "config"))


def run_both(table, options, seed):
    pad = options.get("pad_token_id", 0)
    ids, mask = prompts(seed, pad if pad is not None else 0)
    model = make_hf_model(table)
    hf_cfg = HFGenerationConfig(max_length=MAX_LEN, use_cache=False, return_dict_in_generate=True,
                                output_scores=True, **options)
    with torch.no_grad():
        ref = model.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                             generation_config=hf_cfg)

    cfg = GenerationConfig(max_length=MAX_LEN, **{k: tuple(map(tuple, v)) if k == "bad_words_ids" else v
                                                    for k, v in options.items()})
    static, params = cfg.split()
    buf = np.zeros((ids.shape[0], MAX_LEN + 2), np.int32)   # a buffer wider than max_length
    buf[:, :PROMPT_LEN] = ids
    first_logits, cache = prefill(table, buf, PROMPT_LEN)
    out = RUN(step_fn, first_logits, cache, jnp.asarray(buf), PROMPT_LEN, static, params,
              prompt_start=jnp.asarray(mask.argmax(1)))
    return ref, out


def hf_sum_logprobs(ref, prompt_len, eos, pad):
    """transformers' compute_transition_scores(normalize_logits=True) summed over
    the generated tokens up to and including eos."""
    seqs = ref.sequences.numpy()
    total = np.zeros(seqs.shape[0])
    done = np.zeros(seqs.shape[0], bool)
    for step, scores in enumerate(ref.scores):
        logp = torch.log_softmax(scores, -1).numpy()
        tok = seqs[:, prompt_len + step]
        total += np.where(done, 0.0, logp[np.arange(len(tok)), tok])
        done |= np.isin(tok, eos)
    return total


GREEDY_CASES = {
    "plain": dict(eos_token_id=3, pad_token_id=0),
    "no_eos": dict(pad_token_id=0),
    "pad_is_eos_two_eos": dict(eos_token_id=[3, 7]),
    "processors_a": dict(eos_token_id=3, pad_token_id=0, repetition_penalty=1.8, no_repeat_ngram_size=2,
                         bad_words_ids=[[5], [6, 8], [9, 10, 11]], min_new_tokens=4),
    "processors_b": dict(eos_token_id=3, pad_token_id=0, min_length=10, forced_eos_token_id=3,
                         suppress_tokens=[4, 5], begin_suppress_tokens=[3]),
}


def cases(table):
    # prompts are left-padded: a repetition penalty needs transformers that ignores padding
    return [pytest.param(name, marks=needs_padding_aware_repetition_penalty)
            if "repetition_penalty" in table[name] else name for name in sorted(table)]


@pytest.mark.parametrize("name", cases(GREEDY_CASES))
def test_greedy_matches_transformers(name):
    options = GREEDY_CASES[name]
    for seed in range(2):
        table = random_table(seed, eos=(3, 7) if "two_eos" in name else (3,))
        ref, out = run_both(table, options, seed)
        length = int(out.length)
        np.testing.assert_array_equal(np.asarray(out.sequences)[:, :length], ref.sequences.numpy())
        eos = options.get("eos_token_id", [])
        pad = options.get("pad_token_id", eos)
        np.testing.assert_allclose(np.asarray(out.scores), hf_sum_logprobs(ref, PROMPT_LEN, eos, pad),
                                   rtol=1e-5, atol=1e-5)


BEAM_CASES = {
    "k3_r3": dict(num_beams=3, num_return_sequences=3, eos_token_id=3, pad_token_id=1),
    "k4_r2_early_true": dict(num_beams=4, num_return_sequences=2, early_stopping=True, eos_token_id=3,
                             pad_token_id=1),
    "k4_never": dict(num_beams=4, num_return_sequences=2, early_stopping="never", eos_token_id=3,
                     pad_token_id=1),
    "k3_r3_lp2": dict(num_beams=3, length_penalty=2.0, num_return_sequences=3, eos_token_id=3,
                      pad_token_id=1),
    "k3_r3_lp_neg": dict(num_beams=3, length_penalty=-1.0, num_return_sequences=3, eos_token_id=3,
                         pad_token_id=1),
    "k4_never_lp0": dict(num_beams=4, num_return_sequences=2, length_penalty=0.0, early_stopping="never",
                         eos_token_id=3, pad_token_id=1),
    "pad_zero_fill_quirk": dict(num_beams=3, num_return_sequences=3, eos_token_id=3, pad_token_id=0),
    "two_eos": dict(num_beams=2, num_return_sequences=2, eos_token_id=[3, 7], pad_token_id=1),
    "no_eos": dict(num_beams=3, num_return_sequences=2, pad_token_id=1),
    "processors": dict(num_beams=3, num_return_sequences=2, eos_token_id=3, pad_token_id=1,
                       no_repeat_ngram_size=2, repetition_penalty=1.3, min_new_tokens=3),
    "processors_b": dict(num_beams=2, num_return_sequences=2, eos_token_id=3, pad_token_id=1,
                         bad_words_ids=[[5], [6, 8], [9, 10, 11]], forced_eos_token_id=3, min_length=8,
                         suppress_tokens=[4], begin_suppress_tokens=[3]),
}


@pytest.mark.parametrize("name", cases(BEAM_CASES))
def test_beam_search_matches_transformers(name):
    options = BEAM_CASES[name]
    for seed in range(2):
        table = random_table(seed, eos=(3, 7) if "two_eos" in name else (3,))
        ref, out = run_both(table, options, seed)
        length = int(out.length)
        np.testing.assert_array_equal(np.asarray(out.sequences)[:, :length], ref.sequences.numpy())
        assert (np.asarray(out.sequences)[:, length:MAX_LEN] ==
                GenerationConfig(**{k: v for k, v in options.items() if "token" in k}).beam_fill_token_id
                ).all() or length == MAX_LEN
        np.testing.assert_allclose(np.asarray(out.scores), ref.sequences_scores.numpy(), rtol=1e-5, atol=1e-5)
