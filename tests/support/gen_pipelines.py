"""A tiny GPT-2 checkpoint with a trained byte-level BPE tokenizer, for the
text-generation pipeline parity tests (transformers and jaxnlp read the same
directory)."""

from __future__ import annotations

from pathlib import Path

from support.pipelines import bytelevel_tokenizer
from support.tiny_lm import make_lm, save_lm


def gpt2_checkpoint(directory: Path, seed: int = 1, **overrides):
    """(directory, transformers model, transformers tokenizer): a tiny GPT-2
    (raised init scale, untied embeddings, 40 positions) over a trained GPT-2
    byte-level BPE vocabulary; <|endoftext|> is bos, eos and pad."""
    directory = Path(directory)
    tok = bytelevel_tokenizer(directory / "_tok", kind="gpt2")
    eot = tok.convert_tokens_to_ids("<|endoftext|>")
    model = make_lm("gpt2", seed=seed, vocab_size=len(tok), bos_token_id=eot, eos_token_id=eot,
                    pad_token_id=eot, **overrides)
    save_lm(model, directory, generation_config=dict(bos_token_id=eot, eos_token_id=eot, pad_token_id=eot))
    tok.save_pretrained(directory)
    return directory, model, tok
