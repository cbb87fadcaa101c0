"""BartConfig (transformers' field names and defaults) and the class the
BART family shares: each member sets its switches as class attributes and
its own defaults."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from jaxnlp.models.config_base import ModelConfig
from jaxnlp.nn.seq2seq import Seq2SeqOptions


def first_id(value):
    """An id field that may be a list (eos_token_id): its first entry."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class BartConfig(ModelConfig):
    model_type = "bart"

    # the family's switches (see jaxnlp.nn.seq2seq)
    PRE_NORM: ClassVar[bool] = False
    LAYERNORM_EMBEDDING: ClassVar[bool] = True
    POSITION_STYLE: ClassVar[str] = "learned"
    FINAL_LOGITS_BIAS: ClassVar[bool] = True
    SHIFT_STYLE: ClassVar[str | None] = "bart"

    vocab_size: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    max_position_embeddings: int = 1024
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    classifier_dropout: float | None = 0.0
    scale_embedding: bool = False
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    use_cache: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | tuple | None = 2
    decoder_start_token_id: int | None = 2
    forced_eos_token_id: int | tuple | None = 2

    @property
    def max_input_length(self) -> int:
        return self.max_position_embeddings

    @property
    def shared_embeddings(self) -> bool:
        # transformers 5 ties the encoder and decoder token embeddings to
        # `shared` only when tie_word_embeddings (else all three are separate)
        return self.tie_word_embeddings

    def options(self, **overrides) -> Seq2SeqOptions:
        fields = dict(
            vocab_size=self.vocab_size, hidden_size=self.d_model,
            encoder_layers=self.encoder_layers, decoder_layers=self.decoder_layers,
            encoder_heads=self.encoder_attention_heads, decoder_heads=self.decoder_attention_heads,
            encoder_ffn_dim=self.encoder_ffn_dim, decoder_ffn_dim=self.decoder_ffn_dim,
            max_positions=self.max_position_embeddings, activation=self.activation_function,
            pre_norm=self.PRE_NORM, final_layer_norm=self.PRE_NORM,
            layernorm_embedding=self.LAYERNORM_EMBEDDING, scale_embedding=bool(self.scale_embedding),
            position_style=self.POSITION_STYLE,
            pad_token_id=self.pad_token_id if self.pad_token_id is not None else 0,
            shared_embeddings=self.shared_embeddings, tie_word_embeddings=self.tie_word_embeddings,
            final_logits_bias=self.FINAL_LOGITS_BIAS, dropout=self.dropout,
            attention_dropout=self.attention_dropout, activation_dropout=self.activation_dropout,
            init_std=self.init_std, num_labels=self.num_labels,
            classifier_dropout=self.classifier_dropout or 0.0, eos_token_id=first_id(self.eos_token_id),
            decoder_start_token_id=self.decoder_start_token_id, shift_style=self.SHIFT_STYLE)
        fields.update(overrides)
        return Seq2SeqOptions(**fields)
