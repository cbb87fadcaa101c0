"""DistilBERT: BERT's encoder without token types, with its own names."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bert import encoder_architecture
from jaxnlp.models.bert.modeling import EncoderOptions
from jaxnlp.models.bert.weights import mlm_rules
from jaxnlp.models.config_base import ModelConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistilBertConfig(ModelConfig):
    model_type = "distilbert"

    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    hidden_dim: int = 3072
    activation: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    initializer_range: float = 0.02
    seq_classif_dropout: float = 0.2
    qa_dropout: float = 0.1
    pad_token_id: int | None = 0

    @property
    def max_input_length(self) -> int:
        return self.max_position_embeddings

    def encoder_options(self, task: str = "base") -> EncoderOptions:
        return EncoderOptions(
            vocab_size=self.vocab_size, hidden_size=self.dim, num_layers=self.n_layers,
            num_heads=self.n_heads, intermediate_size=self.hidden_dim, activation=self.activation,
            layer_norm_eps=1e-12, max_positions=self.max_position_embeddings, type_vocab_size=0,
            pad_token_id=self.pad_token_id or 0, hidden_dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            classifier_dropout=self.qa_dropout if task == "question-answering" else self.seq_classif_dropout,
            num_labels=self.num_labels, classifier_activation="relu",
            mlm_activation=self.activation, tie_word_embeddings=self.tie_word_embeddings)


RULES = [
    (r"\.position_ids$", None),
    (r"\.transformer\.layer\.", ".encoder.layers."),
    (r"\.attention\.q_lin\.", ".attention.query."),
    (r"\.attention\.k_lin\.", ".attention.key."),
    (r"\.attention\.v_lin\.", ".attention.value."),
    (r"\.attention\.out_lin\.", ".attention.output."),
    (r"\.sa_layer_norm\.", ".attention_norm."),
    (r"\.ffn\.lin1\.", ".intermediate."),
    (r"\.ffn\.lin2\.", ".output."),
    (r"\.output_layer_norm\.", ".output_norm."),
]


def weight_rules(config, task: str) -> list:
    rules = list(RULES)
    if task == "sequence-classification":
        rules += [(r"^pre_classifier\.", "classifier.dense."),
                  (r"^classifier\.(weight|bias)$", r"classifier.out_proj.\1")]
    if task == "masked-lm":
        rules += [(r"^vocab_transform\.", "lm_head.dense."),
                  (r"^vocab_layer_norm\.", "lm_head.layer_norm.")]
        rules += mlm_rules("vocab", tied=config.tie_word_embeddings, bias=None,
                           decoder=r"vocab_projector")
    return rules


@functools.cache
def architecture(model_type: str = "distilbert"):
    return encoder_architecture("distilbert", DistilBertConfig, "distilbert", weight_rules,
                                options=lambda c, task: c.encoder_options(task))
