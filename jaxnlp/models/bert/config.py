"""BertConfig, with transformers' field names and defaults."""

from __future__ import annotations

import dataclasses

from jaxnlp.errors import CheckpointError
from jaxnlp.models.bert.modeling import EncoderOptions
from jaxnlp.models.config_base import ModelConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class BertConfig(ModelConfig):
    model_type = "bert"

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    position_embedding_type: str = "absolute"
    classifier_dropout: float | None = None
    is_decoder: bool = False

    def __post_init__(self):
        if self.position_embedding_type not in (None, "absolute"):
            raise CheckpointError(
                f"position_embedding_type {self.position_embedding_type!r} is not supported "
                "(jaxnlp implements 'absolute')")
        if self.is_decoder:
            raise CheckpointError("is_decoder=True (a BERT decoder) is not supported; use a causal LM architecture")

    @property
    def max_input_length(self) -> int:
        return self.max_position_embeddings

    def encoder_options(self, **overrides) -> EncoderOptions:
        fields = dict(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            num_layers=self.num_hidden_layers, num_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, activation=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps, max_positions=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            pad_token_id=self.pad_token_id if self.pad_token_id is not None else 0,
            hidden_dropout=self.hidden_dropout_prob,
            attention_dropout=self.attention_probs_dropout_prob,
            classifier_dropout=self.classifier_dropout, num_labels=self.num_labels,
            tie_word_embeddings=self.tie_word_embeddings)
        fields.update(overrides)
        return EncoderOptions(**fields)
