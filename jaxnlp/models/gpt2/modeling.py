"""GPT-2 (also DialoGPT, distilgpt2) and OpenAI GPT, with the decoder
protocol of DESIGN.md: `init_cache`, `decode` (prefill and one step)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.models.gpt2.config import GPTOptions
from jaxnlp.nn.attention import cached_causal_mask, init_kv_cache, make_causal_mask
from jaxnlp.nn.decoder import GPTBlock
from jaxnlp.nn.embeddings import tied_logits
from jaxnlp.nn.norms import layer_norm

Dtype = Any
GPT_TASKS = ("base", "causal-lm")


class GPTBackbone(nn.Module):
    opts: GPTOptions
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(0.02)
        self.wte = nn.Embed(o.vocab_size, o.hidden_size, embedding_init=init, **kw)
        self.wpe = nn.Embed(o.max_positions, o.hidden_size, embedding_init=init, **kw)
        self.drop = nn.Dropout(o.embedding_dropout)
        head_dim = o.hidden_size // o.num_heads
        self.h = [
            GPTBlock(o.hidden_size, o.num_heads, o.intermediate_size, activation=o.activation,
                     layer_norm_eps=o.layer_norm_eps, pre_norm=o.pre_norm,
                     attention_scale=(head_dim**-0.5 if o.scale_attn_weights else 1.0)
                     / ((i + 1) if o.scale_attn_by_inverse_layer_idx else 1),
                     dropout_rate=o.dropout, attention_dropout_rate=o.attention_dropout, **kw)
            for i in range(o.num_layers)
        ]
        if o.final_norm:
            self.ln_f = layer_norm(o.layer_norm_eps, self.param_dtype)

    def __call__(self, input_ids, position_ids, mask, deterministic=True, cache=None, cache_index=None):
        # input_ids, position_ids [B, T]; mask [B, 1, T, S] bool
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids), deterministic=deterministic)
        new_cache = {} if cache is not None else None
        for i, block in enumerate(self.h):
            layer_cache = None if cache is None else cache[f"h_{i}"]
            x, layer_cache = block(x, mask, deterministic=deterministic, cache=layer_cache,
                                   cache_index=cache_index)
            if cache is not None:
                new_cache[f"h_{i}"] = layer_cache
        if self.opts.final_norm:
            x = self.ln_f(x)
        return x, new_cache

    def attend(self, x):
        return tied_logits(self.wte, x)


class GPTModel(nn.Module):
    """`transformer` backbone + (causal-lm) the LM head, tied to `wte` unless
    the checkpoint unties it (`lm_head`)."""

    opts: GPTOptions
    task: str = "causal-lm"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        self.transformer = GPTBackbone(self.opts, dtype=self.dtype, param_dtype=self.param_dtype)
        if self.task == "causal-lm" and not self.opts.tie_word_embeddings:
            self.lm_head = nn.Dense(self.opts.vocab_size, use_bias=False, dtype=self.dtype,
                                    param_dtype=self.param_dtype,
                                    kernel_init=nn.initializers.normal(0.02))

    def _head(self, hidden):
        if self.task == "base":
            return hidden.astype(jnp.float32)
        if self.opts.tie_word_embeddings:
            return self.transformer.attend(hidden).astype(jnp.float32)
        return self.lm_head(hidden).astype(jnp.float32)

    def __call__(self, input_ids, attention_mask=None, position_ids=None, deterministic=True):
        """Full forward without a cache: logits [B, T, V] (base: hidden states).
        Positions default to 0..T-1 as in transformers' forward."""
        length = input_ids.shape[1]
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(length), input_ids.shape)
        mask = make_causal_mask(length) & attention_mask[:, None, None, :].astype(bool)
        hidden, _ = self.transformer(input_ids, position_ids, mask, deterministic=deterministic)
        return self._head(hidden)

    def decode(self, input_ids, cache, cache_index, attention_mask, position_ids, last_only: bool = False):
        """One decoding call: the tokens [B, T] sit at cache slots
        cache_index .. cache_index+T-1 (T = prompt length to prefill, 1 per
        step); attention_mask [B, L] marks the real cache slots.
        Returns (logits [B, T, V] float32, updated cache); `last_only`: the
        logits of the last position only, [B, 1, V] (a prefill needs no more:
        the head over every prompt position was 3.6% of gpt2's batch 8 x beam 4
        generate on CPU, bench/op_profile.py)."""
        mask = cached_causal_mask(attention_mask, cache_index, input_ids.shape[1])
        hidden, cache = self.transformer(input_ids, position_ids, mask, cache=cache,
                                         cache_index=cache_index)
        if last_only:
            hidden = hidden[:, -1:]
        return self._head(hidden), cache

    def init_cache(self, batch_size: int, max_length: int, encoder_state=None):
        """Zeros {"h_i": {"k", "v"} [B, L, heads, head_dim]} (no parameters needed)."""
        del encoder_state
        o = self.opts
        head_dim = o.hidden_size // o.num_heads
        return {f"h_{i}": init_kv_cache(batch_size, max_length, o.num_heads, head_dim, self.dtype)
                for i in range(o.num_layers)}
