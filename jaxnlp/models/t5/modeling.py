"""T5 / T5 v1.1 / mT5 with its heads and the decoder protocol of DESIGN.md
(`encode`, `init_cache`, `decode`), on the blocks of jaxnlp.nn.t5."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn import cache as source_cache
from jaxnlp.nn.attention import cached_causal_mask, make_attention_mask, make_causal_mask
from jaxnlp.nn.embeddings import tied_logits
from jaxnlp.nn.t5 import T5Options, T5Stack

Dtype = Any

T5_TASKS = ("base", "seq2seq-lm")


class T5Seq2SeqModel(nn.Module):
    """`shared` embedding + `encoder` + `decoder` (+ `lm_head` when untied).
    base -> decoder hidden states; seq2seq-lm -> logits."""

    opts: T5Options
    task: str = "seq2seq-lm"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        if self.task not in T5_TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {T5_TASKS}")
        self.shared = nn.Embed(o.vocab_size, o.d_model,
                               embedding_init=nn.initializers.normal(o.initializer_factor), **kw)
        self.encoder = T5Stack(o, decoder=False, shared=self.shared, **kw)
        self.decoder = T5Stack(o, decoder=True, shared=self.shared, **kw)
        if self.task == "seq2seq-lm" and not o.tie_word_embeddings:
            self.lm_head = nn.Dense(o.vocab_size, use_bias=False,
                                    kernel_init=nn.initializers.normal(o.initializer_factor), **kw)

    def _lm_head(self, hidden):
        o = self.opts
        if self.task == "base":
            return hidden.astype(jnp.float32)
        if o.scale_decoder_outputs:
            hidden = hidden * o.d_model**-0.5
        logits = tied_logits(self.shared, hidden) if o.tie_word_embeddings else self.lm_head(hidden)
        return logits.astype(jnp.float32)

    def __call__(self, input_ids, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                 deterministic=True):
        """Full forward without a cache: input_ids [B, S], decoder_input_ids
        [B, T] -> base: [B, T, D]; seq2seq-lm: [B, T, V]; float32."""
        if decoder_input_ids is None:
            raise ValueError("decoder_input_ids are required (T5 starts them with decoder_start_token_id "
                             f"{self.opts.decoder_start_token_id})")
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        if decoder_attention_mask is None:
            decoder_attention_mask = jnp.ones_like(decoder_input_ids)
        encoder_mask = make_attention_mask(None, attention_mask)                 # [B, 1, 1, S]
        encoder_hidden, _ = self.encoder(input_ids, encoder_mask, deterministic=deterministic)
        mask = make_causal_mask(decoder_input_ids.shape[1]) & decoder_attention_mask[:, None, None, :].astype(bool)
        hidden, _ = self.decoder(decoder_input_ids, mask, encoder_hidden, encoder_mask, deterministic=deterministic)
        return self._lm_head(hidden)

    # -- the decoder protocol -------------------------------------------------------------

    def encode(self, input_ids, attention_mask=None):
        """input_ids, attention_mask [B, S] -> encoder output [B, S, D] (computation dtype)."""
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        hidden, _ = self.encoder(input_ids, make_attention_mask(None, attention_mask))
        return hidden.astype(self.dtype)

    def init_cache(self, batch_size: int, max_length: int, encoder_hidden, encoder_mask=None):
        """Per block self-attention zeros (`init_kv_cache`) and, under
        `jaxnlp.nn.cache.SOURCE` (one row per source, never copied per beam),
        the cross-attention keys/values of encoder_hidden [B, S, D] (projected
        once, here) and "encoder_mask" [B, S]. Needs the parameters (apply
        with method=)."""
        if encoder_hidden.shape[0] != batch_size:
            raise ValueError(f"encoder_hidden has batch {encoder_hidden.shape[0]}, expected {batch_size}")
        if encoder_mask is None:
            encoder_mask = jnp.ones(encoder_hidden.shape[:2], jnp.int32)
        blocks = self.decoder.init_cache(batch_size, max_length, encoder_hidden.astype(self.dtype))
        return source_cache.pack(blocks, "cross_attn", jnp.asarray(encoder_mask, jnp.int32))

    def decode(self, decoder_input_ids, cache, cache_index, attention_mask, position_ids=None):
        """Decoder tokens [B, T] at cache slots cache_index .. cache_index+T-1,
        causal over the real slots of attention_mask [B, L]. Relative
        positions come from the slots (query cache_index + t, key slot), so
        position_ids are not used. Returns (logits [B, T, V] float32, cache)."""
        del position_ids
        mask = cached_causal_mask(attention_mask, cache_index, decoder_input_ids.shape[1])   # [B, 1, T, L]
        blocks, source_mask = source_cache.unpack(cache, "cross_attn")
        encoder_mask = make_attention_mask(None, source_mask)                   # [B_source, 1, 1, S]
        hidden, blocks = self.decoder(decoder_input_ids, mask, None, encoder_mask, cache=blocks,
                                      cache_index=cache_index)
        return self._lm_head(hidden), source_cache.pack(blocks, "cross_attn", source_mask)
