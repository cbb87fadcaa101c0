"""The BART-family encoder-decoder with its task heads and the decoder
protocol of DESIGN.md (`encode`, `init_cache`, `decode`).

BART, mBART, Marian, Pegasus and M2M100 are this module with other
`Seq2SeqOptions` (jaxnlp.nn.seq2seq)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn import cache as source_cache
from jaxnlp.nn.attention import cached_causal_mask, make_attention_mask
from jaxnlp.nn.heads import ClassificationHead
from jaxnlp.nn.seq2seq import Seq2SeqBackbone, Seq2SeqOptions, mbart_shift_tokens_right, shift_tokens_right

Dtype = Any

SEQ2SEQ_TASKS = ("base", "seq2seq-lm")
BART_TASKS = ("base", "seq2seq-lm", "sequence-classification")


def eos_pool(hidden, input_ids, eos_token_id: int):
    """Hidden state at the last eos of each row ([B, T, D] -> [B, D]), as
    BartForSequenceClassification pools. A row without eos gets NaN (the
    check cannot raise inside jit)."""
    if hidden.shape[1] != input_ids.shape[1]:
        raise ValueError(f"eos pooling needs decoder_input_ids as long as input_ids "
                         f"({hidden.shape[1]} vs {input_ids.shape[1]})")
    is_eos = input_ids == eos_token_id                                       # [B, T]
    last = input_ids.shape[1] - 1 - jnp.argmax(is_eos[:, ::-1], axis=1)     # [B]
    pooled = jnp.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]  # [B, D]
    return jnp.where(is_eos.any(axis=1)[:, None], pooled, jnp.nan)


class Seq2SeqModel(nn.Module):
    """`model` (shared embeddings, encoder, decoder) + the head for `task`:
    base -> decoder hidden states; seq2seq-lm -> logits (tied to the decoder
    token embedding unless the checkpoint has its own `lm_head`, plus
    `final_logits_bias` where the family has one); sequence-classification
    -> `classification_head` over the decoder state at the last eos."""

    opts: Seq2SeqOptions
    task: str = "seq2seq-lm"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.model = Seq2SeqBackbone(o, **kw)
        if self.task == "seq2seq-lm":
            if not o.tie_word_embeddings:
                self.lm_head = nn.Dense(o.target_vocab_size, use_bias=False,
                                        kernel_init=nn.initializers.normal(o.init_std), **kw)
            if o.final_logits_bias:
                self.final_logits_bias = self.param("final_logits_bias", nn.initializers.zeros,
                                                    (1, o.target_vocab_size), self.param_dtype)
        elif self.task == "sequence-classification":
            self.classifier_dropout = nn.Dropout(o.classifier_dropout)
            self.classification_head = ClassificationHead(o.num_labels, o.hidden_size, activation="tanh",
                                                          dropout_rate=o.classifier_dropout, **kw)
        elif self.task != "base":
            raise ValueError(f"unknown task {self.task!r}; known: {BART_TASKS}")

    def _lm_head(self, hidden):
        """Decoder hidden [B, T, D] -> the task's output, float32."""
        o = self.opts
        if self.task == "base":
            return hidden.astype(jnp.float32)
        if self.task != "seq2seq-lm":
            raise ValueError(f"a {self.task!r} model does not decode; load it with task='seq2seq-lm'")
        logits = self.model.attend(hidden) if o.tie_word_embeddings else self.lm_head(hidden)
        logits = logits.astype(jnp.float32)
        if o.final_logits_bias:
            logits = logits + self.final_logits_bias.astype(jnp.float32)
        return logits

    def _default_decoder_inputs(self, input_ids):
        o = self.opts
        if o.shift_style == "bart" and o.decoder_start_token_id is not None:
            return shift_tokens_right(input_ids, o.pad_token_id, o.decoder_start_token_id)
        if o.shift_style == "mbart":
            return mbart_shift_tokens_right(input_ids, o.pad_token_id)
        raise ValueError("decoder_input_ids are required (this model does not derive them from input_ids)")

    def __call__(self, input_ids, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                 deterministic=True):
        """Full forward without a cache. input_ids [B, S], decoder_input_ids
        [B, T] (default: input_ids shifted right, as BartModel does) ->
        base: [B, T, D]; seq2seq-lm: [B, T, V]; sequence-classification:
        [B, num_labels]; float32."""
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        if decoder_input_ids is None:
            decoder_input_ids = self._default_decoder_inputs(input_ids)
        if decoder_attention_mask is None:
            decoder_attention_mask = jnp.ones_like(decoder_input_ids)
        hidden = self.model(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                            deterministic=deterministic)
        if self.task == "sequence-classification":
            pooled = eos_pool(hidden, input_ids, self.opts.eos_token_id)
            pooled = self.classifier_dropout(pooled, deterministic=deterministic)
            return self.classification_head(pooled, deterministic=deterministic).astype(jnp.float32)
        return self._lm_head(hidden)

    # -- the decoder protocol -------------------------------------------------------------

    def encode(self, input_ids, attention_mask=None):
        """input_ids, attention_mask [B, S] -> encoder output [B, S, D] (computation dtype)."""
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        return self.model.encoder(input_ids, attention_mask).astype(self.dtype)

    def init_cache(self, batch_size: int, max_length: int, encoder_hidden, encoder_mask=None):
        """The decoding cache for `max_length` decoder slots: per layer
        self-attention zeros (`init_kv_cache`) and, under `jaxnlp.nn.cache.SOURCE`
        (one row per source, never copied per beam), the cross-attention
        keys/values of `encoder_hidden` [B, S, D] (projected once, here) and
        "encoder_mask" [B, S]. Needs the parameters (apply with method=)."""
        if encoder_hidden.shape[0] != batch_size:
            raise ValueError(f"encoder_hidden has batch {encoder_hidden.shape[0]}, expected {batch_size}")
        if encoder_mask is None:
            encoder_mask = jnp.ones(encoder_hidden.shape[:2], jnp.int32)
        layers = self.model.decoder.init_cache(batch_size, max_length, encoder_hidden.astype(self.dtype))
        return source_cache.pack(layers, "encoder_attn", jnp.asarray(encoder_mask, jnp.int32))

    def decode(self, decoder_input_ids, cache, cache_index, attention_mask, position_ids):
        """Decoder tokens [B, T] at cache slots cache_index .. cache_index+T-1
        (T = the prefill length, or 1 per step), attending causally over the
        real slots of attention_mask [B, L] and over the encoder output;
        position_ids [B, T] count from 0. Returns (logits [B, T, V] float32,
        updated cache); a `base` model returns hidden states."""
        mask = cached_causal_mask(attention_mask, cache_index, decoder_input_ids.shape[1])   # [B, 1, T, L]
        layers, source_mask = source_cache.unpack(cache, "encoder_attn")
        encoder_mask = make_attention_mask(None, source_mask)                   # [B_source, 1, 1, S]
        hidden, layers = self.model.decoder(decoder_input_ids, position_ids, mask, None, encoder_mask,
                                            cache=layers, cache_index=cache_index)
        return self._lm_head(hidden), source_cache.pack(layers, "encoder_attn", source_mask)
