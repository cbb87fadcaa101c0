"""The encoder-decoder transformer of the BART family, and the attention
that every encoder-decoder (T5 included) shares.

BART, mBART, Marian, Pegasus and M2M100 are one network with a few
switches (`Seq2SeqOptions`):

| family  | norm | final `layer_norm` | `layernorm_embedding` | positions              | final_logits_bias |
|---------|------|--------------------|-----------------------|------------------------|-------------------|
| BART    | post | no                 | yes                   | learned, offset 2      | yes               |
| mBART   | pre  | yes                | yes                   | learned, offset 2      | yes               |
| Marian  | post | no                 | no                    | sinusoidal (computed)  | yes               |
| Pegasus | pre  | yes                | no                    | sinusoidal (computed)  | yes               |
| M2M100  | pre  | yes                | no                    | fairseq sinusoidal     | no                |

Parameter names follow the PyTorch modules (`self_attn`, `encoder_attn`,
`fc1`, `fc2`, `*_layer_norm`, `embed_tokens`, `embed_positions`), except
attention projections, which are MultiHeadAttention's `query`, `key`,
`value`, `output`.

Decoding uses a cache pytree in which every leaf has batch as its leading
axis: per decoder layer `{"self_attn": {"k", "v"}, "encoder_attn": {"k",
"v"}}` (`init_kv_cache`'s layout); the cross-attention keys/values are
projected once from the encoder output (`Seq2SeqDecoder.init_cache`). The
models' `init_cache` keeps those under `jaxnlp.nn.cache.SOURCE`, one row per
source however many beams decode it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.activations import get_activation
from jaxnlp.nn.attention import (MultiHeadAttention, init_kv_cache, make_attention_mask,
                                 make_causal_mask)
from jaxnlp.nn.embeddings import roberta_position_ids, tied_logits
from jaxnlp.nn.norms import layer_norm
from jaxnlp.nn.positions import fairseq_sinusoidal_positions, sinusoidal_positions

Dtype = Any

POSITION_STYLES = ("learned", "sinusoidal", "fairseq")
LEARNED_POSITION_OFFSET = 2          # BartLearnedPositionalEmbedding


# MultiHeadAttention serves encoder-decoders as it is: cached self-attention,
# cross-attention over keys/values projected once (`project_kv`, `kv_cache=`),
# and T5's additive score `bias`.
Seq2SeqAttention = MultiHeadAttention


@dataclasses.dataclass(frozen=True)
class Seq2SeqOptions:
    """The switches that separate the BART family (see the module's table)
    plus what the task heads need."""

    vocab_size: int
    hidden_size: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    max_positions: int = 1024
    decoder_vocab_size: int | None = None   # Marian with separate vocabularies; None: vocab_size
    activation: str = "gelu"
    pre_norm: bool = False                  # x + f(norm(x)) instead of norm(x + f(x))
    final_layer_norm: bool = False          # encoder/decoder `layer_norm` after the last layer
    layernorm_embedding: bool = True
    scale_embedding: bool = False           # token embeddings * sqrt(hidden_size)
    position_style: str = "learned"         # one of POSITION_STYLES
    pad_token_id: int = 1
    shared_embeddings: bool = True          # one `shared` matrix for encoder and decoder tokens
    tie_word_embeddings: bool = True        # LM head = the decoder's token embedding
    final_logits_bias: bool = True
    layer_norm_eps: float = 1e-5
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    num_labels: int = 2
    classifier_dropout: float = 0.0
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = 2
    shift_style: str | None = "bart"        # default decoder_input_ids: "bart", "mbart", None: required

    def __post_init__(self):
        if self.position_style not in POSITION_STYLES:
            raise ValueError(f"position_style {self.position_style!r} not in {POSITION_STYLES}")

    @property
    def target_vocab_size(self) -> int:
        return self.decoder_vocab_size or self.vocab_size


def shift_tokens_right(input_ids, pad_token_id: int, decoder_start_token_id: int):
    """BART's default decoder inputs: [start, x0, x1, ...] (-100 -> pad)."""
    shifted = jnp.concatenate(
        [jnp.full_like(input_ids[:, :1], decoder_start_token_id), input_ids[:, :-1]], axis=1)
    return jnp.where(shifted == -100, pad_token_id, shifted)


def mbart_shift_tokens_right(input_ids, pad_token_id: int):
    """mBART's: the last real token (the language id) wraps to the front."""
    input_ids = jnp.where(input_ids == -100, pad_token_id, input_ids)
    last = jnp.sum(input_ids != pad_token_id, axis=1) - 1                      # [B]
    start = jnp.take_along_axis(input_ids, last[:, None], axis=1)               # [B, 1]
    return jnp.concatenate([start, input_ids[:, :-1]], axis=1)


class Seq2SeqLayer(nn.Module):
    """An encoder layer (self-attention, feed-forward) or, with
    `cross_attention`, a decoder layer (self-attention, cross-attention over
    the encoder output, feed-forward); each sub-block post-norm
    `norm(x + f(x))` or pre-norm `x + f(norm(x))`."""

    hidden_size: int
    num_heads: int
    ffn_dim: int
    activation: str = "gelu"
    pre_norm: bool = False
    cross_attention: bool = False
    layer_norm_eps: float = 1e-5
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    activation_dropout_rate: float = 0.0
    init_std: float = 0.02
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype, kernel_init=nn.initializers.normal(self.init_std))
        attention = lambda: Seq2SeqAttention(self.num_heads, self.hidden_size,  # noqa: E731
                                             dropout_rate=self.attention_dropout_rate, **kw)
        self.self_attn = attention()
        self.self_attn_layer_norm = layer_norm(self.layer_norm_eps, self.param_dtype)
        if self.cross_attention:
            self.encoder_attn = attention()
            self.encoder_attn_layer_norm = layer_norm(self.layer_norm_eps, self.param_dtype)
        self.fc1 = nn.Dense(self.ffn_dim, **kw)
        self.fc2 = nn.Dense(self.hidden_size, **kw)
        self.final_layer_norm = layer_norm(self.layer_norm_eps, self.param_dtype)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.activation_dropout = nn.Dropout(self.activation_dropout_rate)

    def _in(self, x, norm):
        """A sub-block's input: normalised first when pre-norm."""
        return norm(x) if self.pre_norm else x

    def _out(self, x, h, norm, deterministic):
        """Residual of a sub-block's output h, normalised after when post-norm."""
        x = x + self.dropout(h, deterministic=deterministic)
        return x if self.pre_norm else norm(x)

    def cross_kv(self, encoder_hidden):
        """Cross-attention keys/values of the encoder output (`project_kv`'s layout)."""
        return self.encoder_attn.project_kv(encoder_hidden)

    def __call__(self, x, mask, encoder_hidden=None, encoder_mask=None, *, cache=None, cache_index=None,
                 deterministic: bool = True):
        """x [B, T, D]; mask [B, 1, T, T|L] bool; encoder_hidden [B, S, D] and
        encoder_mask [B, 1, 1, S] for a decoder layer. With `cache`
        ({"self_attn", "encoder_attn"}) the cross keys/values come from it and
        the self-attention keys/values are written at cache_index.
        Returns (x, cache)."""
        h = self._in(x, self.self_attn_layer_norm)
        if cache is None:
            h = self.self_attn(h, mask, deterministic=deterministic)
        else:
            h, self_cache = self.self_attn(h, mask, deterministic=deterministic, cache=cache["self_attn"],
                                           cache_index=cache_index)
            cache = {**cache, "self_attn": self_cache}
        x = self._out(x, h, self.self_attn_layer_norm, deterministic)
        if self.cross_attention:
            h = self._in(x, self.encoder_attn_layer_norm)
            if cache is None:
                h = self.encoder_attn(h, encoder_mask, kv=encoder_hidden, deterministic=deterministic)
            else:
                h = self.encoder_attn(h, encoder_mask, deterministic=deterministic, kv_cache=cache["encoder_attn"])
            x = self._out(x, h, self.encoder_attn_layer_norm, deterministic)
        h = get_activation(self.activation)(self.fc1(self._in(x, self.final_layer_norm)))
        h = self.fc2(self.activation_dropout(h, deterministic=deterministic))
        return self._out(x, h, self.final_layer_norm, deterministic), cache


class _Stack(nn.Module):
    """Token + position embeddings and the layers of one side (encoder or
    decoder). `shared`: a token embedding owned by the parent (tied); else
    the stack owns `embed_tokens`."""

    opts: Seq2SeqOptions
    decoder: bool = False
    shared: nn.Module | None = None
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        init = nn.initializers.normal(o.init_std)
        vocab = o.target_vocab_size if self.decoder else o.vocab_size
        if self.shared is None:
            self.embed_tokens = nn.Embed(vocab, o.hidden_size, embedding_init=init, **kw)
        if o.position_style == "learned":
            self.embed_positions = nn.Embed(o.max_positions + LEARNED_POSITION_OFFSET, o.hidden_size,
                                            embedding_init=init, **kw)
        if o.layernorm_embedding:
            self.layernorm_embedding = layer_norm(o.layer_norm_eps, self.param_dtype)
        self.layers = [
            Seq2SeqLayer(o.hidden_size, o.decoder_heads if self.decoder else o.encoder_heads,
                         o.decoder_ffn_dim if self.decoder else o.encoder_ffn_dim, activation=o.activation,
                         pre_norm=o.pre_norm, cross_attention=self.decoder, layer_norm_eps=o.layer_norm_eps,
                         dropout_rate=o.dropout, attention_dropout_rate=o.attention_dropout,
                         activation_dropout_rate=o.activation_dropout, init_std=o.init_std, **kw)
            for _ in range(o.decoder_layers if self.decoder else o.encoder_layers)
        ]
        if o.final_layer_norm:
            self.layer_norm = layer_norm(o.layer_norm_eps, self.param_dtype)
        self.dropout = nn.Dropout(o.dropout)

    def _tokens(self):
        return self.shared if self.shared is not None else self.embed_tokens

    def attend(self, x):
        """Tied output projection: [.., D] -> [.., vocab]."""
        return tied_logits(self._tokens(), x)

    def default_positions(self, input_ids):
        """Positions of a full sequence (no cache), counted from 0: 0..T-1,
        or (fairseq) counting real tokens only."""
        if self.opts.position_style == "fairseq":
            pad = self.opts.pad_token_id
            return roberta_position_ids(input_ids, pad) - (pad + 1)
        return jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)

    def embed(self, input_ids, position_ids, deterministic=True):
        """input_ids, position_ids (from 0) [B, T] -> [B, T, D]."""
        o = self.opts
        x = self._tokens()(input_ids)
        if o.scale_embedding:
            x = x * jnp.asarray(o.hidden_size**0.5, x.dtype)
        if o.position_style == "learned":
            pos = self.embed_positions(position_ids + LEARNED_POSITION_OFFSET)
        elif o.position_style == "sinusoidal":
            pos = sinusoidal_positions(position_ids, o.hidden_size, o.max_positions)
        else:   # fairseq: padding tokens sit at padding_idx (a zero row), the others after it
            pad = o.pad_token_id
            pos = fairseq_sinusoidal_positions(jnp.where(input_ids == pad, pad, position_ids + pad + 1),
                                               o.hidden_size, pad)
        x = x + pos
        if o.layernorm_embedding:
            x = self.layernorm_embedding(x)
        return self.dropout(x, deterministic=deterministic)

    def finish(self, x):
        return self.layer_norm(x) if self.opts.final_layer_norm else x


class Seq2SeqEncoder(_Stack):
    def __call__(self, input_ids, attention_mask, deterministic=True):
        """input_ids, attention_mask [B, S] -> [B, S, D] (float32)."""
        x = self.embed(input_ids, self.default_positions(input_ids), deterministic)
        mask = make_attention_mask(attention_mask, attention_mask)            # [B, 1, 1, S]
        for layer in self.layers:
            x, _ = layer(x, mask, deterministic=deterministic)
        return self.finish(x)


class Seq2SeqDecoder(_Stack):
    decoder: bool = True

    def __call__(self, input_ids, position_ids, mask, encoder_hidden=None, encoder_mask=None, *,
                 cache=None, cache_index=None, deterministic=True):
        """input_ids, position_ids [B, T]; mask [B, 1, T, T|L] bool;
        encoder_mask [B, 1, 1, S] bool; encoder_hidden [B, S, D] or, with
        `cache`, the cross keys/values in it. Returns (hidden [B, T, D], cache)."""
        x = self.embed(input_ids, position_ids, deterministic)
        new_cache = None if cache is None else {}
        for i, layer in enumerate(self.layers):
            name = f"layers_{i}"
            x, layer_cache = layer(x, mask, encoder_hidden, encoder_mask, deterministic=deterministic,
                                   cache=None if cache is None else cache[name], cache_index=cache_index)
            if cache is not None:
                new_cache[name] = layer_cache
        return self.finish(x), new_cache

    def init_cache(self, batch_size: int, max_length: int, encoder_hidden):
        """{"layers_i": {"self_attn": `init_kv_cache` zeros, "encoder_attn":
        the encoder output's keys/values (`project_kv`)}}."""
        o = self.opts
        head_dim = o.hidden_size // o.decoder_heads
        return {f"layers_{i}": {
            "self_attn": init_kv_cache(batch_size, max_length, o.decoder_heads, head_dim, self.dtype),
            "encoder_attn": jax.tree.map(lambda a: a.astype(self.dtype), layer.cross_kv(encoder_hidden)),
        } for i, layer in enumerate(self.layers)}


class Seq2SeqBackbone(nn.Module):
    """`shared` token embedding (when tied) + `encoder` + `decoder`: the
    PyTorch `model` of BartForConditionalGeneration and its relatives."""

    opts: Seq2SeqOptions
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        shared = None
        if o.shared_embeddings:
            if o.target_vocab_size != o.vocab_size:
                raise ValueError("shared embeddings need decoder_vocab_size == vocab_size")
            self.shared = nn.Embed(o.vocab_size, o.hidden_size,
                                   embedding_init=nn.initializers.normal(o.init_std), **kw)
            shared = self.shared
        self.encoder = Seq2SeqEncoder(o, shared=shared, **kw)
        self.decoder = Seq2SeqDecoder(o, shared=shared, **kw)

    def __call__(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                 deterministic=True):
        """Full forward (no cache) -> decoder hidden [B, T, D] float32."""
        encoder_hidden = self.encoder(input_ids, attention_mask, deterministic=deterministic)
        mask = make_causal_mask(decoder_input_ids.shape[1]) & decoder_attention_mask[:, None, None, :].astype(bool)
        hidden, _ = self.decoder(decoder_input_ids, self.decoder.default_positions(decoder_input_ids), mask,
                                 encoder_hidden, make_attention_mask(None, attention_mask),
                                 deterministic=deterministic)
        return hidden

    def attend(self, x):
        return self.decoder.attend(x)
