"""`jaxnlp.generate` on encoder-decoders (BART, Marian, T5 v1.1, mBART,
Pegasus, M2M100; tiny random checkpoints saved as HF directories) against
transformers' own `generate` (PyTorch, CPU) on the same checkpoint: a
right-padded source batch of 4 rows, greedy / beam / processors / bad words /
forced bos and eos / deterministic sampling, scores, the checkpoint's
generation defaults, compilation reuse within a source-length bucket, and
bad input.

Sequences are compared token for token (same shape, `np.array_equal`), and
every reference is first checked to be non-degenerate, so an agreement means
something. The tiny models of tests/support/tiny_seq2seq.py, drawn as they
are, mostly repeat one token forever (the decoder output hardly depends on
the previous token): here they use untied LM heads (T5: v1.1, its own head)
scaled up, final_logits_bias zeroed and a per-family init scale and seed,
chosen by looking at greedy output so that rows differ, use several tokens,
and (with the per-family eos id passed to both sides) some end early but not
all. Greedy's top-1 / top-2 logit margins there are >= 0.03 (before each
row's eos), far above float noise.

To keep compilation (the runtime) small, every family gets greedy and one beam
case; the processors are spread over two families each; every call uses the
same source shape bucket (width 11 -> 16, batch 4) except where the shape is
the point."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import transformers

import jaxnlp
from jaxnlp.errors import InputTooLongError
from jaxnlp.generation import api as generation_api
from support.compare import assert_same, first_eos
from support.tiny_seq2seq import VOCAB, is_t5, make_seq2seq, source_batch

NEW = 12                                  # new tokens per row in the parity tests
LENGTHS = (11, 8, 4, 6)                   # source rows (right-padded to 11 -> length bucket 16, batch bucket 4)
MAX_POSITIONS = 32                        # the BART family's max_position_embeddings in tiny_seq2seq
TOL = 1e-4
LANG = 10                                 # a "language code" token for forced_bos_token_id

# family -> tiny_seq2seq case, seed, init scale (BART family init_std; T5
# initializer_factor), LM head scale, scale_embedding, eos id.
FAMILIES = {
    "bart": dict(case="bart-untied", seed=7, init=0.2, head=5.0, scale_embedding=False, eos=3),
    "marian": dict(case="marian-untied", seed=7, init=0.15, head=5.0, scale_embedding=True, eos=36),
    "t5": dict(case="t5-v1_1", seed=7, init=0.7, head=3.0, eos=6),
    "mbart": dict(case="mbart-untied", seed=2, init=0.2, head=5.0, scale_embedding=False, eos=38),
    "pegasus": dict(case="pegasus-untied", seed=7, init=0.2, head=5.0, scale_embedding=False, eos=16),
    "m2m_100": dict(case="m2m_100-untied", seed=1, init=0.15, head=5.0, scale_embedding=False, eos=17),
}


def make_hf(family: str, **overrides):
    """The family's tiny transformers model (eval mode) as described above."""
    spec = FAMILIES[family]
    if is_t5(spec["case"]):
        # transformers 5's T5 generate needs as many decoder layers as encoder layers
        kwargs = dict(num_decoder_layers=2, initializer_factor=spec["init"])
    else:
        kwargs = dict(init_std=spec["init"], scale_embedding=spec["scale_embedding"])
    model = make_seq2seq(spec["case"], seed=spec["seed"], **{**kwargs, **overrides})
    with torch.no_grad():
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.zero_()
        model.lm_head.weight.mul_(spec["head"])
    return model


class Seq2Seq:
    """A checkpoint directory with its transformers model and its jaxnlp model."""

    def __init__(self, family, directory):
        self.family = family
        self.case = FAMILIES[family]["case"]
        self.eos = FAMILIES[family]["eos"]
        self.hf = make_hf(family)
        self.hf.save_pretrained(directory)
        self.dir = directory
        self.jx = jaxnlp.load_model(directory, task="seq2seq-lm")
        self.pad = self.hf.config.pad_token_id
        self.start = self.hf.config.decoder_start_token_id
        batch = source_batch(self.case, lengths=LENGTHS)
        self.ids, self.mask = batch["input_ids"], batch["attention_mask"]
        self.tokens = dict(eos_token_id=self.eos, pad_token_id=self.pad)   # passed to both sides
        self._greedy = None

    def hf_generate(self, ids=None, mask=None, **options):
        ids, mask = (self.ids, self.mask) if ids is None else (ids, mask)
        kwargs = {"max_new_tokens": NEW, **self.tokens, **options}
        with torch.no_grad():
            out = self.hf.generate(torch.from_numpy(np.asarray(ids)),
                                   attention_mask=None if mask is None else torch.from_numpy(np.asarray(mask)),
                                   **kwargs)
        return out if kwargs.get("return_dict_in_generate") else out.numpy()

    def generate(self, ids=None, mask=None, **options):
        ids, mask = (self.ids, self.mask) if ids is None else (ids, mask)
        return jaxnlp.generate(self.jx, ids, mask, **{"max_new_tokens": NEW, **self.tokens, **options})

    @property
    def greedy(self):
        """transformers' greedy output (with scores), computed once."""
        if self._greedy is None:
            self._greedy = self.hf_generate(do_sample=False, return_dict_in_generate=True, output_scores=True)
        return self._greedy

    @property
    def greedy_sequences(self):
        return self.greedy.sequences.numpy()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_seq2seq")
    cache = {}

    def get(family):
        if family not in cache:
            cache[family] = Seq2Seq(family, root / family)
        return cache[family]
    return get


@pytest.fixture(params=list(FAMILIES))
def s2s(request, models):
    return models(request.param)


def distinct_new_tokens(sequences, pad):
    """Per row, how many distinct tokens were generated (pad not counted)."""
    return [len(set(row.tolist()) - {pad}) for row in np.asarray(sequences)[:, 1:]]


def summed_transition_scores(m, out):
    """Per row: the sum of transformers' normalised transition scores over
    the generated tokens up to and including eos (the pad after it excluded)."""
    steps = m.hf.compute_transition_scores(out.sequences, out.scores, normalize_logits=True).numpy()
    new = out.sequences.numpy()[:, 1:]
    ends = [first_eos(row, m.eos) for row in new]
    keep = np.array([[e is None or j <= e for j in range(new.shape[1])] for e in ends])
    assert all((row[e + 1:] == m.pad).all() for row, e in zip(new, ends) if e is not None)
    return np.where(keep, steps, 0.0).sum(axis=1)


# --------------------------------------------------------------------- greedy

def test_greedy_matches_transformers(s2s):
    ref = s2s.greedy
    seqs = ref.sequences.numpy()
    # non-degenerate: varied continuations, some rows end early, not all; rows differ
    new = seqs[:, 1:]
    ends = [first_eos(row, s2s.eos) for row in new]
    assert (seqs[:, 0] == s2s.start).all()
    assert min(distinct_new_tokens(seqs, s2s.pad)) >= 4, seqs
    assert any(e is not None and e < NEW - 1 for e in ends) and any(e is None for e in ends), ends
    assert len({tuple(r) for r in new}) == len(new)
    assert seqs.shape == (len(LENGTHS), 1 + NEW)

    ids, mask = s2s.ids.copy(), s2s.mask.copy()
    ours, scores = s2s.generate(ids, mask, return_scores=True)
    assert_same(ours, seqs)
    assert ours.dtype.kind == "i"
    np.testing.assert_allclose(scores, summed_transition_scores(s2s, ref), rtol=TOL, atol=TOL)
    # nothing the caller passed was changed
    assert np.array_equal(ids, s2s.ids) and np.array_equal(mask, s2s.mask) and ids.dtype == s2s.ids.dtype


# ----------------------------------------------------------------------- beam

BEAM_CASES = {
    "k4_r2_lp0.7_early": dict(num_beams=4, num_return_sequences=2, length_penalty=0.7, early_stopping=True),
    "k3_r3_lp2_not_early": dict(num_beams=3, num_return_sequences=3, length_penalty=2.0, early_stopping=False),
}
BEAM_PLAN = [("bart", "k4_r2_lp0.7_early"), ("bart", "k3_r3_lp2_not_early"),
             ("marian", "k3_r3_lp2_not_early"), ("t5", "k4_r2_lp0.7_early"),
             ("mbart", "k3_r3_lp2_not_early"), ("pegasus", "k4_r2_lp0.7_early"),
             ("m2m_100", "k3_r3_lp2_not_early")]


@pytest.mark.parametrize("family, case", BEAM_PLAN, ids=[f"{f}-{c}" for f, c in BEAM_PLAN])
def test_beam_search_matches_transformers(models, family, case):
    m = models(family)
    options = BEAM_CASES[case]
    ref = m.hf_generate(do_sample=False, return_dict_in_generate=True, output_scores=True, **options)
    seqs = ref.sequences.numpy()
    # non-degenerate: the best beam is not greedy's continuation everywhere,
    # and the returned beams of a source differ
    greedy = m.greedy_sequences
    best = seqs[::options["num_return_sequences"]]
    assert best.shape != greedy.shape or not np.array_equal(best, greedy)
    assert len({tuple(r) for r in seqs}) == len(seqs)
    assert min(distinct_new_tokens(seqs, m.pad)) >= 3, seqs

    ours, scores = m.generate(**options, return_scores=True)
    assert_same(ours, seqs)
    np.testing.assert_allclose(scores, ref.sequences_scores.numpy(), rtol=TOL, atol=TOL)


# ----------------------------------------------------------------- processors

@pytest.mark.parametrize("family", ["bart", "t5"])
def test_no_repeat_ngram_matches_transformers(models, family):
    m = models(family)
    ref = m.hf_generate(do_sample=False, no_repeat_ngram_size=2)
    assert not np.array_equal(ref, m.greedy_sequences)          # the processor changed something
    assert min(distinct_new_tokens(ref, m.pad)) >= 4
    new = ref[:, 1:]
    for row in new:                                              # and it holds in the reference
        body = row[:first_eos(row, m.eos) or len(row)].tolist()
        grams = list(zip(body, body[1:]))
        assert len(grams) == len(set(grams)), row
    assert_same(m.generate(no_repeat_ngram_size=2), ref)


def greedy_words(m):
    """Multi-token words that greedy search produces: a 2-token word from row
    0's continuation and a 3-token one from row 2's."""
    new = m.greedy_sequences[:, 1:]
    return [new[0, 1:3].tolist(), new[2, 2:5].tolist()]


@pytest.mark.parametrize("family", ["marian", "pegasus"])
def test_bad_words_match_transformers(models, family):
    m = models(family)
    bad_words = greedy_words(m)
    assert all(len(w) > 1 for w in bad_words)
    bad_words_arg = [list(w) for w in bad_words]
    ref = m.hf_generate(do_sample=False, bad_words_ids=bad_words)
    greedy = m.greedy_sequences
    assert not np.array_equal(ref[0], greedy[0]) and not np.array_equal(ref[2], greedy[2])
    assert min(distinct_new_tokens(ref, m.pad)) >= 3
    ours = m.generate(bad_words_ids=bad_words_arg)
    assert_same(ours, ref)
    assert bad_words_arg == bad_words                                 # not mutated


@pytest.mark.parametrize("family", ["mbart", "m2m_100"])
def test_forced_bos_matches_transformers(models, family):
    """The target-language token (mBART / M2M100) forced as the first new token."""
    m = models(family)
    ref = m.hf_generate(do_sample=False, forced_bos_token_id=LANG)
    greedy = m.greedy_sequences
    assert (greedy[:, 1] != LANG).all() and (ref[:, 1] == LANG).all()
    assert not np.array_equal(ref[:, 2:], greedy[:, 2:])            # the rest follows from it
    assert min(distinct_new_tokens(ref, m.pad)) >= 4
    assert_same(m.generate(forced_bos_token_id=LANG), ref)


@pytest.mark.parametrize("family", ["bart", "pegasus"])
def test_forced_eos_matches_transformers(models, family):
    """forced_eos_token_id ends the rows that reach max_length with eos."""
    m = models(family)
    ref = m.hf_generate(do_sample=False, forced_eos_token_id=m.eos)
    greedy = m.greedy_sequences
    running = [i for i, row in enumerate(greedy[:, 1:]) if first_eos(row, m.eos) is None]
    assert running and len(running) < len(greedy)
    assert (ref[running, -1] == m.eos).all() and (greedy[running, -1] != m.eos).all()
    assert_same(m.generate(forced_eos_token_id=m.eos), ref)


@pytest.mark.parametrize("family, options", [
    ("marian", dict(top_p=1e-6)),
    ("t5", dict(top_k=1, num_return_sequences=2)),
], ids=["marian-top_p=1e-6", "t5-top_k=1-r2"])
def test_deterministic_sampling_is_greedy(models, family, options):
    """Sampling that can only pick the most likely token is greedy search
    (each source's row repeated num_return_sequences times, as transformers lays it out)."""
    m = models(family)
    ours = m.generate(do_sample=True, **options)
    assert_same(ours, np.repeat(m.greedy_sequences, options.get("num_return_sequences", 1), axis=0))
    assert_same(ours, m.hf_generate(do_sample=True, **options))


# ------------------------------------------------- defaults from the checkpoint

def test_checkpoint_generation_defaults(models, tmp_path):
    """The checkpoint's generation_config.json is used when generate gets no
    options, as transformers does (its model reloaded from the same directory)."""
    m = models("mbart")
    defaults = dict(num_beams=3, max_length=12, forced_bos_token_id=LANG, length_penalty=0.8,
                    eos_token_id=m.eos, pad_token_id=m.pad, decoder_start_token_id=m.start)
    m.hf.save_pretrained(tmp_path)
    transformers.GenerationConfig(**defaults).save_pretrained(tmp_path)
    hf = type(m.hf).from_pretrained(tmp_path).eval()
    assert hf.generation_config.num_beams == 3 and hf.generation_config.forced_bos_token_id == LANG
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(m.ids), attention_mask=torch.from_numpy(m.mask)).numpy()
    # the defaults did something: 12 columns, the language token first, not greedy
    assert ref.shape == (len(LENGTHS), 12) and (ref[:, 1] == LANG).all()
    greedy = m.greedy_sequences
    assert (greedy[:, 1] != LANG).all() and not np.array_equal(ref[:, 2:], greedy[:, 2:12])
    assert min(distinct_new_tokens(ref, m.pad)) >= 4

    ours = jaxnlp.generate(jaxnlp.load_model(tmp_path, task="seq2seq-lm"), m.ids, m.mask)
    assert_same(ours, ref)


# ---------------------------------------------------------------- compilation

def test_same_bucket_does_not_recompile(models):
    """Another source width and batch in the same buckets reuses the compiled
    program (and is still right); a width in the next bucket compiles once."""
    m = models("bart")
    cache_size = generation_api._seq2seq_program._cache_size
    m.generate()                                         # width 11 -> bucket 16, batch 4
    compiled = cache_size()
    batch = source_batch(m.case, seed=5, lengths=(13, 9, 5))   # width 13 -> 16, batch 3 -> 4
    ref = m.hf_generate(batch["input_ids"], batch["attention_mask"], do_sample=False)
    assert min(distinct_new_tokens(ref, m.pad)) >= 4
    ours = m.generate(batch["input_ids"], batch["attention_mask"])
    assert cache_size() == compiled
    assert_same(ours, ref)
    batch = source_batch(m.case, seed=5, lengths=(20, 3))       # width 20 -> bucket 32
    out = m.generate(batch["input_ids"], batch["attention_mask"])
    assert out.shape[0] == 2 and out.shape[1] <= 1 + NEW
    assert cache_size() == compiled + 1


# ---------------------------------------------------------------- bad input

def test_bad_input(models):
    m = models("bart")
    ids, mask = m.ids.copy(), m.mask.copy()

    def raises(exc, match, *args, **kwargs):
        with pytest.raises(exc, match=match):
            jaxnlp.generate(m.jx, *args, **kwargs)

    too_long = np.full((1, MAX_POSITIONS + 1), 7)
    too_long[0, -1] = 2
    raises(InputTooLongError, f"{MAX_POSITIONS}", too_long)
    raises(InputTooLongError, f"{MAX_POSITIONS}", ids, mask, max_new_tokens=MAX_POSITIONS + 8)
    raises(InputTooLongError, f"{MAX_POSITIONS}", ids, mask, max_length=MAX_POSITIONS + 8)
    raises(ValueError, "empty|no prompts", np.zeros((2, 0), np.int64))
    raises(ValueError, "empty|no prompts", [])
    raises(ValueError, "no prompts", np.zeros((0, 4), np.int64))
    raises(ValueError, "no real token", ids, np.zeros_like(mask))
    raises(ValueError, "attention_mask", ids, mask[:, 1:])
    raises(ValueError, "outside", np.array([[3, VOCAB, 2]]))
    raises(ValueError, "num_return_sequences", ids, mask, num_beams=2, num_return_sequences=3)
    raises(ValueError, "num_beems", ids, mask, num_beems=3)
    raises(ValueError, "outside", np.array([[2 ** 32 + 5, 6, 2]], np.int64))
    raises(ValueError, "decoder_start_token_id holds", ids, mask, decoder_start_token_id=10 ** 6)
    raises(ValueError, "pad_token_id holds", ids, mask, pad_token_id=10 ** 6)
    raises(ValueError, "forced_bos_token_id holds", ids, mask, forced_bos_token_id=VOCAB)
    raises(ValueError, "only 0 and 1", ids, mask * 2)
    assert np.array_equal(ids, m.ids) and np.array_equal(mask, m.mask)


def test_empty_source_in_a_list(models):
    with pytest.raises(ValueError, match="empty"):
        jaxnlp.generate(models("bart").jx, [[]])


@pytest.mark.parametrize("family", ["marian", "t5"])
def test_eos_only_source(models, family):
    """The tokenized empty string (just eos; a plain list, no mask) generates
    as transformers does: the source bucket is almost all padding."""
    m = models(family)
    source_eos = 1 if is_t5(m.case) else 2
    ref = m.hf_generate(np.array([[source_eos]]), np.ones((1, 1), np.int64), do_sample=False)
    assert ref.shape[1] > 3 and len(set(ref[0, 1:].tolist())) >= 3
    assert_same(m.generate([[source_eos]], None), ref)


def _without_decoder_start(m, directory, bos):
    """m's checkpoint with no decoder_start_token_id in config.json, bos_token_id
    set to `bos`, and no generation_config.json (a legacy checkpoint)."""
    m.hf.save_pretrained(directory)
    os.remove(directory / "generation_config.json")
    config = json.loads((directory / "config.json").read_text())
    config.pop("decoder_start_token_id", None)
    config["bos_token_id"] = bos
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("family", ["mbart", "bart", "t5"])
def test_missing_decoder_start_token_id(models, tmp_path, family):
    """No decoder_start_token_id and no bos_token_id: transformers refuses,
    and so must we, naming the option."""
    m = models(family)
    directory = _without_decoder_start(m, tmp_path / "no_start", bos=None)
    hf = type(m.hf).from_pretrained(directory).eval()
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        hf.generate(torch.from_numpy(m.ids), attention_mask=torch.from_numpy(m.mask), max_new_tokens=2)
    jx = jaxnlp.load_model(directory, task="seq2seq-lm")
    try:
        jaxnlp.generate(jx, m.ids, m.mask, max_new_tokens=NEW, **m.tokens)
    except ValueError as e:
        assert "decoder_start_token_id" in str(e)
    else:
        raise AssertionError("generate started the decoder with a token the checkpoint does not set")
    # passing it works
    assert_same(jaxnlp.generate(jx, m.ids, m.mask, max_new_tokens=NEW, decoder_start_token_id=m.start, **m.tokens),
                m.greedy_sequences)


def test_decoder_start_falls_back_to_bos(models, tmp_path):
    """No decoder_start_token_id but a bos_token_id: transformers starts the
    decoder with bos (0 here), not BartConfig's class default (2)."""
    m = models("bart")
    directory = _without_decoder_start(m, tmp_path / "bos_start", bos=0)
    hf = type(m.hf).from_pretrained(directory).eval()
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(m.ids), attention_mask=torch.from_numpy(m.mask), max_new_tokens=NEW,
                          **m.tokens).numpy()
    assert (ref[:, 0] == 0).all()
    ours = jaxnlp.generate(jaxnlp.load_model(directory, task="seq2seq-lm"), m.ids, m.mask, max_new_tokens=NEW,
                           **m.tokens)
    assert_same(ours, ref)


def test_longest_target_that_fits(models):
    m = models("bart")
    ref = m.hf_generate(do_sample=False, max_new_tokens=MAX_POSITIONS)
    assert ref.shape == (len(LENGTHS), MAX_POSITIONS + 1)
    assert_same(m.generate(max_new_tokens=MAX_POSITIONS), ref)


def test_base_model_cannot_generate(models):
    m = models("bart")
    base = jaxnlp.load_model(m.dir, task="base")
    with pytest.raises((TypeError, ValueError), match="seq2seq-lm"):
        jaxnlp.generate(base, m.ids, m.mask, max_new_tokens=2)
