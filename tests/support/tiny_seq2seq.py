"""Tiny random transformers (PyTorch) encoder-decoders, saved as HF
directories, for parity tests of the BART family and T5.

Weights are drawn at a larger scale than the default (BART family init_std
0.3; T5 initializer_factor 1.0, whose embeddings are then std 1.0), and
every 1-D parameter (biases, norms) and the final_logits_bias buffer get
random offsets, so that outputs vary enough for a relative comparison to
mean something. T5 at initializer_factor >= 2 is chaotic in float32 (its
attention is unscaled): PyTorch and any reimplementation drift apart by
1e-5 relative there, so 1.0 it is. Marian's and Pegasus's sinusoidal
positions are computed, never trained: they keep their values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import transformers

VOCAB = 64
PAD, EOS, START = 1, 2, 2                       # BART family ids in these tests
T5_PAD, T5_START = 0, 0

_BART_KW = dict(vocab_size=VOCAB, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=29, max_position_embeddings=32,
                pad_token_id=PAD, bos_token_id=0, eos_token_id=EOS, decoder_start_token_id=START,
                forced_eos_token_id=None, init_std=0.3)
_T5_KW = dict(vocab_size=VOCAB, d_model=16, d_kv=6, d_ff=37, num_layers=2, num_decoder_layers=3, num_heads=3,
              relative_attention_num_buckets=8, relative_attention_max_distance=8, initializer_factor=1.0,
              pad_token_id=T5_PAD, eos_token_id=1, decoder_start_token_id=T5_START)

T = transformers
# case -> (config class, LM class, base class, config kwargs)
SPECS = {
    "bart": (T.BartConfig, T.BartForConditionalGeneration, T.BartModel, dict(_BART_KW)),
    "bart-untied": (T.BartConfig, T.BartForConditionalGeneration, T.BartModel,
                    dict(_BART_KW, tie_word_embeddings=False)),
    "mbart": (T.MBartConfig, T.MBartForConditionalGeneration, T.MBartModel,
              dict(_BART_KW, activation_function="gelu_new", scale_embedding=True)),
    "mbart-untied": (T.MBartConfig, T.MBartForConditionalGeneration, T.MBartModel,
                     dict(_BART_KW, tie_word_embeddings=False)),
    "marian": (T.MarianConfig, T.MarianMTModel, T.MarianModel, dict(_BART_KW, activation_function="swish")),
    "marian-untied": (T.MarianConfig, T.MarianMTModel, T.MarianModel,
                      dict(_BART_KW, activation_function="swish", tie_word_embeddings=False)),
    "marian-two-vocabs": (T.MarianConfig, T.MarianMTModel, T.MarianModel,
                          dict(_BART_KW, share_encoder_decoder_embeddings=False, decoder_vocab_size=40)),
    "pegasus": (T.PegasusConfig, T.PegasusForConditionalGeneration, T.PegasusModel,
                dict(_BART_KW, activation_function="relu", scale_embedding=True)),
    "pegasus-untied": (T.PegasusConfig, T.PegasusForConditionalGeneration, T.PegasusModel,
                       dict(_BART_KW, tie_word_embeddings=False)),
    "m2m_100": (T.M2M100Config, T.M2M100ForConditionalGeneration, T.M2M100Model,
                dict(_BART_KW, dropout=0.1, attention_dropout=0.1)),
    "m2m_100-untied": (T.M2M100Config, T.M2M100ForConditionalGeneration, T.M2M100Model,
                       dict(_BART_KW, tie_word_embeddings=False)),
    "t5": (T.T5Config, T.T5ForConditionalGeneration, T.T5Model, dict(_T5_KW)),
    "t5-v1_1": (T.T5Config, T.T5ForConditionalGeneration, T.T5Model,
                dict(_T5_KW, feed_forward_proj="gated-gelu", tie_word_embeddings=False)),
    "mt5": (T.MT5Config, T.MT5ForConditionalGeneration, T.MT5Model, dict(_T5_KW, feed_forward_proj="gated-gelu")),
}
# transformers 5 always ties T5's LM head in a fresh model; released T5 v1.1
# and mT5 checkpoints have their own, so these cases get one.
OWN_LM_HEAD = ("t5-v1_1", "mt5")


def is_t5(case: str) -> bool:
    return case.split("-")[0] in ("t5", "mt5")


def make_seq2seq(case: str, head: str = "lm", seed: int = 0, **overrides):
    """A random transformers model in eval mode: head "lm" (…ForConditionalGeneration),
    "base" (…Model) or "classification" (BartForSequenceClassification)."""
    config_class, lm_class, base_class, kwargs = SPECS[case]
    config = config_class(**dict(kwargs, **overrides))
    model_class = {"lm": lm_class, "base": base_class,
                   "classification": getattr(T, lm_class.__name__.replace("ForConditionalGeneration",
                                                                          "ForSequenceClassification"), None)}[head]
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
        if hasattr(model, "final_logits_bias"):
            model.final_logits_bias.add_(torch.randn_like(model.final_logits_bias))
        if case in OWN_LM_HEAD and head == "lm":
            model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    return model


def source_batch(case: str, seed: int = 0, lengths=(11, 8, 4)) -> dict:
    """Encoder inputs: 3 right-padded rows ending in eos (the BART family's
    eos, T5's 1)."""
    pad, eos = (T5_PAD, 1) if is_t5(case) else (PAD, EOS)
    rng = np.random.default_rng(seed)
    ids = np.full((len(lengths), max(lengths)), pad, np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n - 1] = rng.integers(3, VOCAB, n - 1)
        ids[i, n - 1] = eos
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def target_batch(case: str, seed: int = 1, lengths=(10, 10, 6), vocab: int = VOCAB) -> dict:
    """Decoder inputs: the start token then random tokens, right-padded
    (every row keeps a real first token, so no query row is fully masked)."""
    pad, start = (T5_PAD, T5_START) if is_t5(case) else (PAD, START)
    rng = np.random.default_rng(seed)
    ids = np.full((len(lengths), max(lengths)), pad, np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, 0] = start
        ids[i, 1:n] = rng.integers(3, vocab, n - 1)
        mask[i, :n] = 1
    return {"decoder_input_ids": ids, "decoder_attention_mask": mask}


def torch_seq2seq(model, batch: dict):
    """(logits [B, T, V], decoder last hidden state [B, T, D]) of an LM model,
    the hidden state being what the matching base model returns."""
    t = {k: torch.from_numpy(v) for k, v in batch.items()}
    with torch.no_grad():
        logits = model(**t).logits.numpy()
        if hasattr(model, "model"):
            hidden = model.model(**t).last_hidden_state.numpy()
        else:   # T5: encoder + decoder stacks, as T5Model runs them
            enc = model.encoder(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).last_hidden_state
            hidden = model.decoder(input_ids=t["decoder_input_ids"], attention_mask=t.get("decoder_attention_mask"),
                                   encoder_hidden_states=enc,
                                   encoder_attention_mask=t["attention_mask"]).last_hidden_state.numpy()
    return logits, hidden


def save_bin(model, directory) -> Path:
    """transformers 5 writes only safetensors: write the .bin by hand (the
    whole state dict, tied copies and saved buffers included)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(directory / "config.json")
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    return directory
