"""ALBERT: factorised embeddings projected to the hidden size, and layers
that share parameters across the depth (`num_hidden_groups` unique layers)."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.errors import CheckpointError
from jaxnlp.models.bert import encoder_architecture
from jaxnlp.models.bert.config import BertConfig
from jaxnlp.models.bert.weights import mlm_rules


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlbertConfig(BertConfig):
    model_type = "albert"
    embedding_size: int = 128
    num_hidden_groups: int = 1
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    intermediate_size: int = 16384
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.1
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | tuple | None = 3

    def __post_init__(self):
        super().__post_init__()
        if self.inner_group_num != 1:
            raise CheckpointError(f"ALBERT inner_group_num={self.inner_group_num} is not supported "
                                  "(every released ALBERT uses 1)")
        if self.num_hidden_layers % self.num_hidden_groups:
            raise CheckpointError("ALBERT num_hidden_layers must be a multiple of num_hidden_groups")

    def encoder_options(self, **overrides):
        return super().encoder_options(embedding_size=self.embedding_size,
                                       num_unique_layers=self.num_hidden_groups,
                                       mlm_activation=self.hidden_act,
                                       classifier_dropout=self.classifier_dropout_prob, **overrides)


_LAYER = r"\.encoder\.albert_layer_groups\.(\d+)\.albert_layers\.0\."
RULES = [
    (r"\.position_ids$", None),
    (r"\.embeddings\.token_type_ids$", None),
    (r"\.encoder\.embedding_hidden_mapping_in\.", ".embeddings_project."),
    (_LAYER, r".encoder.layers.\1."),
    (r"\.attention\.dense\.", ".attention.output."),
    (r"\.attention\.LayerNorm\.", ".attention_norm."),
    (r"\.ffn\.", ".intermediate."),
    (r"\.ffn_output\.", ".output."),
    (r"\.full_layer_layer_norm\.", ".output_norm."),
]


def weight_rules(config, task: str) -> list:
    rules = list(RULES)
    if task == "sequence-classification":
        rules += [(r"^albert\.pooler\.", "classifier.dense."),
                  (r"^classifier\.(weight|bias)$", r"classifier.out_proj.\1")]
    else:
        rules += [(r"^albert\.pooler\.", None)]
    if task == "masked-lm":
        rules += [(r"^predictions\.dense\.", "lm_head.dense."),
                  (r"^predictions\.LayerNorm\.", "lm_head.layer_norm.")]
        rules += mlm_rules("predictions", tied=config.tie_word_embeddings,
                           bias=r"predictions\.bias", decoder=r"predictions\.decoder")
    return rules


@functools.cache
def architecture(model_type: str = "albert"):
    return encoder_architecture("albert", AlbertConfig, "albert", weight_rules)
