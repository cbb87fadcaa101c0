"""Encoder-decoders (BART, mBART, Marian, Pegasus, M2M100, T5, T5 v1.1,
mT5) against transformers (PyTorch, CPU) on the same tiny random
checkpoints: padded source and target batches of different lengths,
seq2seq-lm logits and base hidden states, tied and untied embeddings,
BART sequence classification, a torch .bin per family, and the decoder
protocol (encode + init_cache + prefill + single steps == full forward)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

import jaxnlp
from jaxnlp.nn import cache as source_cache
from support.tiny import rel_error
from support.tiny_seq2seq import (SPECS, VOCAB, is_t5, make_seq2seq, save_bin, source_batch, target_batch,
                                  torch_seq2seq)

TOL = 1e-4


def forward(model, batch):
    """Our full forward through the module (decoder and encoder lengths
    differ here, which Model.__call__'s shape check does not allow yet)."""
    return np.asarray(model.module.apply({"params": model.params}, **batch))


def _batch(case, **target):
    vocab = SPECS[case][3].get("decoder_vocab_size") or VOCAB
    return {**source_batch(case), **target_batch(case, vocab=vocab, **target)}


@pytest.mark.parametrize("case", list(SPECS))
def test_forward_matches_transformers(case, tmp_path):
    model = make_seq2seq(case)
    batch = _batch(case)
    ref_logits, ref_hidden = torch_seq2seq(model, batch)
    assert np.std(ref_logits) > 0.3                       # outputs vary: the comparison means something
    model.save_pretrained(tmp_path)

    lm = jaxnlp.load_model(tmp_path, task="seq2seq-lm")
    assert rel_error(forward(lm, batch), ref_logits) <= TOL
    tied = SPECS[case][3].get("tie_word_embeddings", True) and case not in ("t5-v1_1", "mt5")
    assert ("lm_head" in lm.params) != tied
    base = jaxnlp.load_model(tmp_path, task="base")          # the LM head of the checkpoint is left out
    assert rel_error(forward(base, batch), ref_hidden) <= TOL

    if case in ("bart", "mbart"):     # no decoder inputs: the source shifted right (mBART: lang id wraps)
        source = source_batch(case)
        with torch.no_grad():
            ref = model(**{k: torch.from_numpy(v) for k, v in source.items()}).logits.numpy()
        assert rel_error(forward(lm, source), ref) <= TOL


@pytest.mark.parametrize("case", ["bart", "mbart", "marian", "pegasus", "m2m_100", "t5"])
def test_pytorch_bin_through_the_public_call(case, tmp_path):
    """A torch.save(state_dict) checkpoint (every tied copy and saved buffer
    in it), through Model.__call__. BART and T5 save a bare backbone
    (BartModel / T5Model) loaded as `base`; the others their LM."""
    head, task = ("base", "base") if case in ("bart", "t5") else ("lm", "seq2seq-lm")
    model = make_seq2seq(case, head=head, seed=1)
    batch = _batch(case, lengths=(11, 9, 11))                 # as long as the source: Model.__call__ checks
    t = {k: torch.from_numpy(v) for k, v in batch.items()}
    with torch.no_grad():
        out = model(**t)
    ref = out.last_hidden_state.numpy() if task == "base" else out.logits.numpy()
    ours = jaxnlp.load_model(save_bin(model, tmp_path), task=task)
    assert rel_error(ours(**batch), ref) <= TOL


def test_bart_sequence_classification(tmp_path):
    """eos pooling over the decoder states; decoder inputs default to the
    source shifted right, as BartForSequenceClassification does."""
    model = make_seq2seq("bart", head="classification", num_labels=3)
    batch = source_batch("bart")
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    model.save_pretrained(tmp_path)
    ours = jaxnlp.load_model(tmp_path, task="sequence-classification")
    out = ours(**batch)
    assert out.shape == (3, 3)
    assert rel_error(out, ref) <= TOL


@pytest.mark.parametrize("case", ["bart", "marian", "m2m_100", "t5"])
def test_decode_matches_forward(case, tmp_path):
    """encode + init_cache + a prefill of k decoder tokens + single steps
    give the full forward's logits; every cache leaf is batch-major."""
    model = make_seq2seq(case, seed=2)
    model.save_pretrained(tmp_path)
    m = jaxnlp.load_model(tmp_path, task="seq2seq-lm")
    batch = _batch(case, lengths=(10, 10, 10))
    src, mask, tgt = batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"]
    full = forward(m, {"input_ids": src, "attention_mask": mask, "decoder_input_ids": tgt})

    apply = jax.jit(lambda *a, method: m.module.apply({"params": m.params}, *a, method=method),
                    static_argnames="method")
    encoder_hidden = apply(src, mask, method="encode")
    assert encoder_hidden.shape == src.shape + (16,)
    batch_size, max_length, k = src.shape[0], 12, 4
    cache = m.module.apply({"params": m.params}, batch_size, max_length, encoder_hidden, mask, method="init_cache")
    assert all(leaf.shape[0] == batch_size for leaf in jax.tree.leaves(cache))
    slots = np.ones((batch_size, max_length), np.int32)
    positions = np.broadcast_to(np.arange(tgt.shape[1]), tgt.shape)
    logits, cache = apply(tgt[:, :k], cache, 0, slots, positions[:, :k], method="decode")
    steps = [np.asarray(logits)]
    for t in range(k, tgt.shape[1]):
        logits, cache = apply(tgt[:, t:t + 1], cache, t, slots, positions[:, t:t + 1], method="decode")
        steps.append(np.asarray(logits))
    assert rel_error(np.concatenate(steps, axis=1), full) <= 1e-5
    # beams: index the leading axis of the per-row leaves (what the searches do)
    reordered = source_cache.map_per_row(lambda x: x[np.array([2, 2, 0])], cache)
    assert jax.tree.map(np.shape, reordered) == jax.tree.map(np.shape, cache)

    if is_t5(case):
        with pytest.raises(ValueError, match="decoder_input_ids"):
            m.module.apply({"params": m.params}, src, mask)


@pytest.mark.parametrize("num_buckets, max_distance", [(32, 128), (8, 8)])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_buckets_match_transformers(bidirectional, num_buckets, max_distance):
    from transformers.models.t5.modeling_t5 import T5Attention
    from jaxnlp.nn.positions import relative_position_buckets

    rel = np.arange(-300, 301)
    ref = T5Attention._relative_position_bucket(torch.from_numpy(rel), bidirectional=bidirectional,
                                                num_buckets=num_buckets, max_distance=max_distance).numpy()
    ours = relative_position_buckets(rel, bidirectional=bidirectional, num_buckets=num_buckets,
                                     max_distance=max_distance)
    np.testing.assert_array_equal(np.asarray(ours), ref)
