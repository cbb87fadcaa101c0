"""Tiny random causal language models (transformers PyTorch GPT-2 and OpenAI
GPT), saved as HF checkpoint directories, for generation parity tests.

A tiny random model at the default initializer_range (0.02) has nearly flat,
input-independent logits and repeats one token forever, so any two searches
"agree". These are drawn at a much larger scale (initializer_range 0.4, biases
and LayerNorms perturbed too) with untied embeddings, so that continuations
depend on the prompt, vary along the way and end (eos) at different steps.
Tests should still assert that their reference outputs are non-degenerate
(see `distinct_new_tokens`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import transformers

VOCAB = 48
N_POSITIONS = 40
PAD = 1          # pad token for left padding (GPT-2 and OpenAI GPT have none of their own);
                 # neither model below ever generates it, so "after eos" == "is pad"

# model_type -> (config class, LM head class, config kwargs, seed, eos id).
# Seed and eos id are chosen (by looking at greedy output for `left_padded`
# prompts) so that the eos token ends some rows early, but not all of them.
# OpenAI GPT checkpoints have no eos/pad: pass eos_token_id / pad_token_id.
SPECS = {
    "gpt2": (transformers.GPT2Config, transformers.GPT2LMHeadModel,
             dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=N_POSITIONS,
                  n_inner=40, activation_function="gelu_new", bos_token_id=5, eos_token_id=5,
                  pad_token_id=PAD), 1, 5),
    "openai-gpt": (transformers.OpenAIGPTConfig, transformers.OpenAIGPTLMHeadModel,
                   dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=N_POSITIONS,
                        afn="gelu"), 0, 2),
}

LM_TYPES = tuple(SPECS)


def eos_id(model_type: str) -> int:
    return SPECS[model_type][4]


def make_lm(model_type: str, seed: int | None = None, initializer_range: float = 0.4, bias_scale: float = 0.2,
            **overrides):
    """A random transformers LM head model in eval mode (dropout off)."""
    config_class, model_class, kwargs, default_seed, _ = SPECS[model_type]
    seed = default_seed if seed is None else seed
    kwargs = dict(kwargs, initializer_range=initializer_range, tie_word_embeddings=False, **overrides)
    config = config_class(**kwargs)
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():   # biases and LayerNorms start at 0/1: give them values too
        for _, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * bias_scale)
    return model


def save_lm(model, directory, generation_config: dict | None = None) -> Path:
    """Save as safetensors; `generation_config` (transformers GenerationConfig
    kwargs) is written to generation_config.json, the only place transformers
    5 reads generation defaults from."""
    directory = Path(directory)
    model.save_pretrained(directory)
    gen_path = directory / "generation_config.json"
    if gen_path.exists():
        gen_path.unlink()
    if generation_config is not None:
        transformers.GenerationConfig(**generation_config).save_pretrained(directory)
    return directory


def left_padded(lengths, vocab: int = VOCAB, pad: int = PAD, seed: int = 0, width: int | None = None,
                low: int = 3):
    """Random prompts of the given lengths, left-padded with `pad` to `width`
    (default: the longest): (input_ids, attention_mask), int64 numpy. Token
    ids are drawn from [low, vocab) so prompts hold no pad/eos."""
    rng = np.random.default_rng(seed)
    width = max(lengths) if width is None else width
    ids = np.full((len(lengths), width), pad, np.int64)
    mask = np.zeros((len(lengths), width), np.int64)
    for i, n in enumerate(lengths):
        ids[i, width - n:] = rng.integers(low, vocab, n)
        mask[i, width - n:] = 1
    return ids, mask


def hf_generate(model, ids, mask, **kwargs):
    """transformers' generate on numpy inputs; returns its output object
    (sequences as a tensor) when return_dict_in_generate, else a numpy array."""
    with torch.no_grad():
        out = model.generate(torch.from_numpy(np.asarray(ids)), attention_mask=torch.from_numpy(np.asarray(mask)),
                             **kwargs)
    return out if kwargs.get("return_dict_in_generate") else out.numpy()


def distinct_new_tokens(sequences, prompt_width: int, pad: int | None = None) -> list[int]:
    """Per row, how many distinct tokens were generated (pad not counted)."""
    new = np.asarray(sequences)[:, prompt_width:]
    return [len(set(row.tolist()) - ({pad} if pad is not None else set())) for row in new]
