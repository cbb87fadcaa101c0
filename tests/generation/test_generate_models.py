"""`jaxnlp.generate` on real (tiny, random) GPT-2 and OpenAI GPT checkpoints
against transformers' own `generate` (PyTorch, CPU) on the same checkpoint
directory: left-padded batches, greedy / beam / processors / bad words /
deterministic sampling, scores, compilation reuse, rng handling, the
persistent compilation cache, bad input and debug mode.

Sequences are compared token for token (same shape, `np.array_equal`); every
reference is checked to be non-degenerate first (see tests/support/tiny_lm.py),
so an agreement means something. Few distinct static configs and one prompt
shape bucket keep the number of compilations (and the runtime) small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import torch
import transformers

import jaxnlp
from jaxnlp.errors import InputTooLongError
from jaxnlp.generation import api as generation_api
from support.compare import assert_same, first_eos
from support.tiny_lm import LM_TYPES, N_POSITIONS, PAD, VOCAB, distinct_new_tokens, eos_id, hf_generate, left_padded, make_lm, save_lm

from .reference import needs_padding_aware_repetition_penalty, needs_prefix_bad_words

NEW = 14                                 # new tokens per row in the parity tests
IDS, MASK = left_padded([7, 4, 6, 2], seed=1)   # 4 rows, width 7 -> length bucket 8, batch bucket 4
WIDTH = IDS.shape[1]
TOL = 1e-4


class LM:
    """A checkpoint directory with its transformers model and its jaxnlp model."""

    def __init__(self, model_type, directory):
        self.model_type = model_type
        self.eos = eos_id(model_type)
        self.hf = make_lm(model_type)
        self.dir = save_lm(self.hf, directory)
        self.jx = jaxnlp.load_model(self.dir, task="causal-lm")
        self.tokens = dict(eos_token_id=self.eos, pad_token_id=PAD)   # passed to both sides
        self._greedy = None

    def hf_generate(self, ids=IDS, mask=MASK, **options):
        return hf_generate(self.hf, ids, mask, max_new_tokens=NEW, **self.tokens, **options)

    def generate(self, ids=IDS, mask=MASK, **options):
        return jaxnlp.generate(self.jx, ids, mask, **{"max_new_tokens": NEW, **self.tokens, **options})

    @property
    def greedy(self):
        """transformers' greedy output (with scores), computed once."""
        if self._greedy is None:
            self._greedy = self.hf_generate(do_sample=False, return_dict_in_generate=True, output_scores=True)
        return self._greedy


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_lms")
    return {t: LM(t, root / t) for t in LM_TYPES}


@pytest.fixture(params=LM_TYPES)
def lm(request, lms):
    return lms[request.param]


def summed_transition_scores(lm, out):
    """Per row: sum of transformers' normalised transition scores over the
    generated tokens up to and including eos (the pad after it excluded)."""
    steps = lm.hf.compute_transition_scores(out.sequences, out.scores, normalize_logits=True).numpy()
    new = out.sequences.numpy()[:, WIDTH:]
    keep = new != PAD
    assert not any((row[:first_eos(row, lm.eos) or len(row)] == PAD).any() for row in new)  # pad only after eos
    return np.where(keep, steps, 0.0).sum(axis=1)


# --------------------------------------------------------------------- greedy

def test_greedy_matches_transformers(lm):
    ref = lm.greedy
    seqs = ref.sequences.numpy()
    # non-degenerate: varied continuations, some rows end early, not all
    new = seqs[:, WIDTH:]
    ends = [first_eos(row, lm.eos) for row in new]
    assert min(distinct_new_tokens(seqs, WIDTH, PAD)) >= 4, seqs
    assert any(e is not None and e < NEW - 1 for e in ends) and any(e is None for e in ends), ends
    assert len({tuple(r) for r in new}) == len(new)

    ids, mask = IDS.copy(), MASK.copy()
    ours, scores = lm.generate(ids, mask, return_scores=True)
    assert_same(ours, seqs)
    assert ours.dtype.kind == "i"
    np.testing.assert_allclose(scores, summed_transition_scores(lm, ref), rtol=TOL, atol=TOL)
    # nothing the caller passed was changed
    assert np.array_equal(ids, IDS) and np.array_equal(mask, MASK) and ids.dtype == IDS.dtype


# ----------------------------------------------------------------------- beam

BEAM_CASES = {
    "k4_r2_lp0.7_early": dict(num_beams=4, num_return_sequences=2, length_penalty=0.7, early_stopping=True),
    "k3_r3_lp2_not_early": dict(num_beams=3, num_return_sequences=3, length_penalty=2.0, early_stopping=False),
}


@pytest.mark.parametrize("case", list(BEAM_CASES))
def test_beam_search_matches_transformers(lm, case):
    options = BEAM_CASES[case]
    ref = lm.hf_generate(do_sample=False, return_dict_in_generate=True, output_scores=True, **options)
    seqs = ref.sequences.numpy()
    # non-degenerate: the best beam is not greedy's continuation everywhere,
    # and the returned beams of a prompt differ
    greedy = lm.greedy.sequences.numpy()
    best = seqs[::options["num_return_sequences"]]
    assert best.shape != greedy.shape or not np.array_equal(best, greedy)
    assert len({tuple(r) for r in seqs}) == len(seqs)

    ours, scores = lm.generate(**options, return_scores=True)
    assert_same(ours, seqs)
    np.testing.assert_allclose(scores, ref.sequences_scores.numpy(), rtol=TOL, atol=TOL)


# ----------------------------------------------------------------- processors

@needs_padding_aware_repetition_penalty
def test_processors_match_transformers(lm):
    options = dict(repetition_penalty=1.6, no_repeat_ngram_size=2, min_new_tokens=10)
    ref = lm.hf_generate(do_sample=False, **options)
    assert not np.array_equal(ref, lm.greedy.sequences.numpy())     # the processors changed something
    assert min(distinct_new_tokens(ref, WIDTH, PAD)) >= 4
    assert_same(lm.generate(**options), ref)


def greedy_ngrams(lm):
    """Multi-token words that greedy search produces: a 2-token word from row
    0's continuation and a 3-token one from row 2's."""
    new = lm.greedy.sequences.numpy()[:, WIDTH:]
    return [new[0, 1:3].tolist(), new[2, 2:5].tolist()]


@needs_prefix_bad_words
def test_bad_words_match_transformers(lm):
    bad_words = greedy_ngrams(lm)
    assert all(len(w) > 1 for w in bad_words)
    bad_words_arg = [list(w) for w in bad_words]
    ref = lm.hf_generate(do_sample=False, bad_words_ids=bad_words)
    greedy = lm.greedy.sequences.numpy()
    assert not np.array_equal(ref[0], greedy[0]) and not np.array_equal(ref[2], greedy[2])
    ours = lm.generate(bad_words_ids=bad_words_arg)
    assert_same(ours, ref)
    assert bad_words_arg == bad_words                                 # not mutated


@pytest.mark.parametrize("model_type, options", [
    ("gpt2", dict(top_p=1e-6)),
    ("openai-gpt", dict(top_k=1, num_return_sequences=2)),
], ids=["gpt2-top_p=1e-6", "openai-gpt-top_k=1-r2"])
def test_deterministic_sampling_is_greedy(lms, model_type, options):
    """Sampling that can only pick the most likely token is greedy search
    (each prompt's row repeated num_return_sequences times, as transformers lays it out)."""
    lm = lms[model_type]
    ours = lm.generate(do_sample=True, **options, rng=jax.random.PRNGKey(7))
    greedy = lm.greedy.sequences.numpy()
    assert_same(ours, np.repeat(greedy, options.get("num_return_sequences", 1), axis=0))
    ref = lm.hf_generate(do_sample=True, **options)
    assert_same(ours, ref)


# ------------------------------------------------- defaults from the checkpoint

@pytest.mark.parametrize("where", ["generation_config.json", "config.json"])
def test_checkpoint_generation_defaults(lms, tmp_path, where):
    """The checkpoint's generation options are used when generate gets none,
    as transformers does (its model reloaded from the same directory): from
    generation_config.json, or (legacy checkpoints) from config.json when
    there is no generation_config.json."""
    lm = lms["gpt2"]
    defaults = dict(num_beams=3, no_repeat_ngram_size=2, length_penalty=0.7, max_new_tokens=NEW,
                    eos_token_id=lm.eos, pad_token_id=PAD)
    if where == "generation_config.json":
        directory = save_lm(lm.hf, tmp_path / "with_defaults", generation_config=defaults)
    else:
        directory = save_lm(lm.hf, tmp_path / "legacy")
        config = json.loads((directory / "config.json").read_text())
        # (transformers 5's config classes drop these keyword arguments: write them by hand)
        (directory / "config.json").write_text(json.dumps({**config, **defaults}))
    hf = transformers.GPT2LMHeadModel.from_pretrained(directory).eval()
    if where == "config.json" and hf.generation_config.num_beams != 3:
        pytest.skip("this transformers does not read generation options from config.json")
    assert hf.generation_config.num_beams == 3
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(IDS), attention_mask=torch.from_numpy(MASK)).numpy()
    ours = jaxnlp.generate(jaxnlp.load_model(directory, task="causal-lm"), IDS, MASK)
    assert_same(ours, ref)
    assert not np.array_equal(ref, lm.greedy.sequences.numpy())      # the defaults did something


# ---------------------------------------------------------------- compilation

SAMPLING = dict(do_sample=True, max_new_tokens=9, eos_token_id=None, pad_token_id=PAD)


def test_same_bucket_and_new_values_do_not_recompile(lms):
    model = lms["gpt2"].jx
    cache_size = generation_api._program._cache_size
    jaxnlp.generate(model, IDS, MASK, temperature=0.9, top_p=0.9, repetition_penalty=1.2, **SAMPLING)
    compiled = cache_size()
    ids, mask = left_padded([5, 3, 5], seed=3)         # width 5: bucket 8; batch 3: bucket 4
    out = jaxnlp.generate(model, ids, mask, temperature=0.6, top_p=0.8, repetition_penalty=1.5, **SAMPLING)
    assert out.shape == (3, 5 + 9)
    assert cache_size() == compiled
    ids, mask = left_padded([9, 3], seed=3)            # width 9: bucket 16
    out = jaxnlp.generate(model, ids, mask, temperature=0.6, top_p=0.8, repetition_penalty=1.5, **SAMPLING)
    assert out.shape == (2, 9 + 9)
    assert cache_size() == compiled + 1


def test_sampling_rng(lms):
    model = lms["gpt2"].jx
    run = lambda rng: jaxnlp.generate(model, IDS, MASK, rng=rng, temperature=1.0, top_p=0.99,  # noqa: E731
                                      repetition_penalty=1.0, **SAMPLING)
    a = run(jax.random.PRNGKey(1))
    assert np.array_equal(a, run(jax.random.PRNGKey(1)))
    b = run(jax.random.PRNGKey(2))
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.array_equal(run(None), run(jax.random.PRNGKey(0)))
    assert min(distinct_new_tokens(a, WIDTH)) >= 3


CACHE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import jaxnlp
    model = jaxnlp.load_model(sys.argv[1], task="causal-lm")
    ids = np.array([[7, 8, 9, 10], [11, 12, 13, 14]])
    print(json.dumps(jaxnlp.generate(model, ids, max_new_tokens=3, pad_token_id=1).tolist()))
""")


def test_persistent_compilation_cache(lms, tmp_path):
    cache = tmp_path / "xla"
    env = dict(os.environ, JAXNLP_COMPILATION_CACHE=str(cache), JAX_PLATFORMS="cpu")
    script = tmp_path / "gen.py"
    script.write_text(CACHE_SCRIPT)

    def run():
        proc = subprocess.run([sys.executable, str(script), str(lms["gpt2"].dir)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    entries = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert any(name.startswith("jit__program") for name in entries), entries
    assert run() == first
    # the second process found the program there: it compiled nothing new
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == entries
    assert np.asarray(first).shape == (2, 7)


def test_compilation_cache_moves_to_a_second_directory(tmp_path):
    """jax fixes its cache directory at first use: a second
    enable_compilation_cache(B) wrote everything to A, silently."""
    script = textwrap.dedent("""
        import os, sys, jax, jax.numpy as jnp
        from jaxnlp.generation.api import enable_compilation_cache
        a, b = sys.argv[1], sys.argv[2]
        enable_compilation_cache(a); jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).block_until_ready()
        enable_compilation_cache(b); jax.jit(lambda x: x * 3 - 1)(jnp.ones(4)).block_until_ready()
    """)
    a, b = tmp_path / "a", tmp_path / "b"
    proc = subprocess.run([sys.executable, "-c", script, str(a), str(b)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any(a.iterdir()) and any(b.iterdir())


# -------------------------------------------------------------------- debug

@pytest.mark.parametrize("options", [dict(), BEAM_CASES["k3_r3_lp2_not_early"]], ids=["greedy", "beam"])
def test_debug_equals_jit(lms, options):
    """debug=True (a Python loop, eager: slow) gives the jitted program's result."""
    lm = lms["gpt2"]
    options = dict(options, max_new_tokens=5)
    jitted, jitted_scores = lm.generate(**options, return_scores=True)
    debug, debug_scores = lm.generate(**options, return_scores=True, debug=True)
    assert_same(debug, jitted)
    np.testing.assert_allclose(debug_scores, jitted_scores, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- bad input

def test_bad_input(lms):
    model = lms["gpt2"].jx
    ids, mask = IDS.copy(), MASK.copy()

    def raises(exc, match, *args, **kwargs):
        with pytest.raises(exc, match=match):
            jaxnlp.generate(model, *args, **kwargs)

    raises(ValueError, "no prompts", [])
    raises(ValueError, "no prompts", np.zeros((0, 4), np.int64))
    raises(InputTooLongError, f"{N_POSITIONS} positions", np.full((1, N_POSITIONS + 1), 7))
    raises(InputTooLongError, f"{N_POSITIONS} positions", ids, mask, max_new_tokens=N_POSITIONS)
    raises(ValueError, "num_return_sequences", ids, mask, num_beams=2, num_return_sequences=3)
    raises(ValueError, "top_p", ids, mask, do_sample=True, top_p=0.0)
    raises(ValueError, "top_p", ids, mask, do_sample=True, top_p=1.5)
    raises(ValueError, "temperature", ids, mask, do_sample=True, temperature=0.0)
    raises(ValueError, "temperature", ids, mask, do_sample=True, temperature=-0.5)
    raises(ValueError, "num_beems", ids, mask, num_beems=3)
    raises(TypeError, "integer", ids.astype(np.float32), mask)
    raises(ValueError, "outside", np.array([[3, VOCAB]]))
    raises(ValueError, "attention_mask", ids, mask[:, 1:])
    raises(ValueError, "no real token", ids, np.zeros_like(mask))
    raises(ValueError, "different lengths", [[3, 4, 5], [6, 7]])
    assert np.array_equal(ids, IDS) and np.array_equal(mask, MASK)

    base = jaxnlp.load_model(lms["gpt2"].dir, task="base")
    with pytest.raises((TypeError, ValueError), match="causal-lm"):
        jaxnlp.generate(base, IDS, MASK, max_new_tokens=2)


def test_longest_output_that_fits(lms):
    """The last token is never fed to the model, so prompt + new tokens may be
    one more than the positions (transformers generates it too); one more
    token is refused."""
    lm = lms["gpt2"]
    new = N_POSITIONS - WIDTH + 1
    ref = hf_generate(lm.hf, IDS, MASK, do_sample=False, max_new_tokens=new, pad_token_id=PAD)
    assert ref.shape == (len(IDS), N_POSITIONS + 1)   # no row ended early
    assert_same(jaxnlp.generate(lm.jx, IDS, MASK, max_new_tokens=new, pad_token_id=PAD), ref)
    with pytest.raises(InputTooLongError, match=f"{N_POSITIONS} positions"):
        lm.generate(max_new_tokens=new + 1)


# --- fixes for problems these tests found ---------------------------------


def test_non_finite_options_are_refused():
    from jaxnlp.generation import GenerationConfig
    for name, value in (("length_penalty", float("nan")), ("temperature", float("inf")),
                        ("repetition_penalty", float("nan"))):
        with pytest.raises(ValueError, match=name):
            GenerationConfig(do_sample=True).replace(**{name: value}).validate()


def test_right_padded_prompts_are_refused(lms):
    jm = lms["gpt2"].jx
    ids, mask = left_padded([7, 4, 6, 2], seed=1)
    with pytest.raises(ValueError, match="right-padded"):
        jaxnlp.generate(jm, ids[:, ::-1], mask[:, ::-1], max_new_tokens=3)


def test_transformers_generation_config_is_accepted(lms):
    import transformers
    jm = lms["gpt2"].jx
    ids, mask = left_padded([7, 4, 6, 2], seed=1)
    ours = jaxnlp.generate(jm, ids, mask, generation_config=transformers.GenerationConfig(
        max_new_tokens=4, pad_token_id=PAD, eos_token_id=5))
    assert np.array_equal(ours, jaxnlp.generate(jm, ids, mask, max_new_tokens=4, pad_token_id=PAD, eos_token_id=5))
    with pytest.raises(TypeError, match="generation_config"):
        jaxnlp.generate(jm, ids, mask, generation_config=42)


def test_out_of_range_ids_and_masks_are_refused(lms):
    """Ids are range-checked in the caller's dtype (2**32 + 7 must not wrap to
    7 in int32); special ids outside the vocabulary are refused by name (a pad
    id >= vocab filled the padding columns and read NaN from the embedding:
    all-0 output with a NaN score, only for prompts shorter than their length
    bucket); masks other than 0/1 are refused (positions come from the mask's
    cumulative sum, so a 2 would silently shift them)."""
    jm = lms["gpt2"].jx
    ids, mask = left_padded([3, 4, 2], seed=1)
    with pytest.raises(ValueError, match="outside"):
        jaxnlp.generate(jm, np.array([[2 ** 32 + 7, 8, 9]], np.int64), max_new_tokens=2)
    with pytest.raises(ValueError, match="outside"):
        jaxnlp.generate(jm, np.array([[2 ** 64 - 1, 8, 9]], np.uint64), max_new_tokens=2)
    for name, value in (("pad_token_id", VOCAB), ("pad_token_id", -1), ("eos_token_id", (5, VOCAB + 3)),
                        ("forced_bos_token_id", VOCAB), ("forced_eos_token_id", 10 ** 6),
                        ("suppress_tokens", (VOCAB,)), ("begin_suppress_tokens", (VOCAB,))):
        with pytest.raises(ValueError, match=name):
            jaxnlp.generate(jm, ids, mask, max_new_tokens=2, **{name: value})
    for bad in (mask * 2, mask * 0.5, mask - 1):
        with pytest.raises(ValueError, match="only 0 and 1"):
            jaxnlp.generate(jm, ids, bad, max_new_tokens=2, pad_token_id=PAD)
    with pytest.raises(TypeError, match="attention_mask"):
        jaxnlp.generate(jm, ids, mask.astype(str), max_new_tokens=2, pad_token_id=PAD)
    # booleans and float 0/1 are the same mask
    want = jaxnlp.generate(jm, ids, mask, max_new_tokens=3, pad_token_id=PAD)
    assert np.array_equal(jaxnlp.generate(jm, ids, mask.astype(bool), max_new_tokens=3, pad_token_id=PAD), want)
    assert np.array_equal(jaxnlp.generate(jm, ids, mask.astype(np.float32), max_new_tokens=3, pad_token_id=PAD),
                          want)


def test_bad_rng_is_named(lms):
    jm = lms["gpt2"].jx
    ids, mask = left_padded([7, 4, 6, 2], seed=1)
    with pytest.raises(TypeError, match="rng"):
        jaxnlp.generate(jm, ids, mask, max_new_tokens=3, do_sample=True, rng=42)


def test_prefill_head_on_the_last_position_only(lms):
    """generate's prefill asks `decode` for the last position's logits only
    (`last_only`): the same values as the last row of the full call, and the
    same cache."""
    import jax.numpy as jnp

    model = lms["gpt2"].jx
    module, params = model.module, model.params
    batch, width = IDS.shape
    mask = jnp.asarray(MASK)
    positions = jnp.maximum(jnp.cumsum(mask, axis=1) - 1, 0) * mask
    slots = jnp.concatenate([mask, jnp.ones((batch, 4), mask.dtype)], axis=1)
    kv = module.init_cache(batch, width + 4)
    full, cache_full = module.apply({"params": params}, jnp.asarray(IDS), kv, 0, slots, positions, method="decode")
    last, cache_last = module.apply({"params": params}, jnp.asarray(IDS), kv, 0, slots, positions, True,
                                    method="decode")
    assert full.shape == (batch, width, VOCAB) and last.shape == (batch, 1, VOCAB)
    np.testing.assert_allclose(np.asarray(last), np.asarray(full[:, -1:]), rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), cache_full, cache_last)
