"""The BERT encoder and its task heads.

RoBERTa, XLM-RoBERTa, ELECTRA, ALBERT and DistilBERT are this module with
other `EncoderOptions`: position style, an embedding width projected to the
hidden size (ELECTRA, ALBERT), shared layers (ALBERT), head styles.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import flax.linen as nn

from jaxnlp.nn.attention import make_attention_mask
from jaxnlp.nn.embeddings import TextEmbeddings
from jaxnlp.nn.encoder import Encoder
from jaxnlp.nn.heads import ClassificationHead, MaskedLMHead

Dtype = Any

ENCODER_TASKS = ("base", "sequence-classification", "token-classification",
                 "question-answering", "masked-lm")


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    activation: str = "gelu"
    layer_norm_eps: float = 1e-12
    max_positions: int = 512
    type_vocab_size: int = 2          # 0: the model has no token types
    position_style: str = "absolute"  # or "roberta"
    pad_token_id: int = 0
    embedding_size: int | None = None  # embeddings this wide, projected to hidden_size
    num_unique_layers: int | None = None  # ALBERT: layers share these parameters
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    classifier_dropout: float | None = None
    num_labels: int = 2
    classifier_dense: bool = True      # a dense + activation before the classifier
    classifier_activation: str = "tanh"
    mlm_activation: str = "gelu"
    tie_word_embeddings: bool = True


class BertBackbone(nn.Module):
    """input ids -> last hidden state [batch, seq, hidden]."""

    opts: EncoderOptions
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        width = o.embedding_size or o.hidden_size
        self.embeddings = TextEmbeddings(
            o.vocab_size, width, o.max_positions, type_vocab_size=o.type_vocab_size,
            layer_norm_eps=o.layer_norm_eps, dropout_rate=o.hidden_dropout,
            position_style=o.position_style, pad_token_id=o.pad_token_id, **kw)
        if width != o.hidden_size:
            self.embeddings_project = nn.Dense(o.hidden_size, kernel_init=nn.initializers.normal(0.02), **kw)
        self.encoder = Encoder(
            o.num_layers, o.hidden_size, o.num_heads, o.intermediate_size,
            activation=o.activation, layer_norm_eps=o.layer_norm_eps,
            dropout_rate=o.hidden_dropout, attention_dropout_rate=o.attention_dropout,
            num_unique_layers=o.num_unique_layers, **kw)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, deterministic=True):
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids, deterministic=deterministic)
        if (self.opts.embedding_size or self.opts.hidden_size) != self.opts.hidden_size:
            x = self.embeddings_project(x)
        mask = make_attention_mask(attention_mask, attention_mask)   # [batch, 1, seq, seq]
        return self.encoder(x, mask, deterministic=deterministic)

    def attend(self, x):
        return self.embeddings.attend(x)


class EncoderModel(nn.Module):
    """Backbone (named by the checkpoint's prefix: `bert`, `roberta`, ...)
    plus the head for `task`. Returns float32 outputs shaped as transformers'."""

    opts: EncoderOptions
    task: str = "base"
    prefix: str = "bert"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, deterministic=True):
        o = self.opts
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        backbone = BertBackbone(o, name=self.prefix, **kw)
        h = backbone(input_ids, attention_mask, token_type_ids, deterministic=deterministic)
        dropout = o.classifier_dropout if o.classifier_dropout is not None else o.hidden_dropout
        if self.task == "base":
            out = h
        elif self.task == "sequence-classification":
            out = ClassificationHead(
                o.num_labels, o.hidden_size if o.classifier_dense else None,
                activation=o.classifier_activation, dropout_rate=dropout, name="classifier",
                **kw)(h[:, 0], deterministic=deterministic)
        elif self.task == "token-classification":
            h = nn.Dropout(dropout)(h, deterministic=deterministic)
            out = nn.Dense(o.num_labels, kernel_init=nn.initializers.normal(0.02),
                           name="classifier", **kw)(h)
        elif self.task == "question-answering":
            logits = nn.Dense(o.num_labels, kernel_init=nn.initializers.normal(0.02),
                              name="qa_outputs", **kw)(h)
            return (logits[..., 0].astype(jnp.float32), logits[..., 1].astype(jnp.float32))
        elif self.task == "masked-lm":
            head = MaskedLMHead(o.vocab_size, o.embedding_size or o.hidden_size,
                                activation=o.mlm_activation, layer_norm_eps=o.layer_norm_eps,
                                name="lm_head", **kw)
            out = head(h, tied=backbone.attend if o.tie_word_embeddings else None)
        else:
            raise ValueError(f"unknown task {self.task!r}; known: {ENCODER_TASKS}")
        return out.astype(jnp.float32)
