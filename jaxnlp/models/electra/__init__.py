"""ELECTRA: BERT's encoder, embeddings of `embedding_size` projected to the
hidden size, GELU classification and generator heads."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bert import encoder_architecture
from jaxnlp.models.bert.config import BertConfig
from jaxnlp.models.bert.weights import BERT_LAYER_RULES, mlm_rules


@dataclasses.dataclass(frozen=True, kw_only=True)
class ElectraConfig(BertConfig):
    model_type = "electra"
    embedding_size: int = 128
    intermediate_size: int = 1024

    def encoder_options(self, **overrides):
        return super().encoder_options(embedding_size=self.embedding_size,
                                       classifier_activation="gelu", mlm_activation="gelu",
                                       **overrides)


def weight_rules(config, task: str) -> list:
    rules = list(BERT_LAYER_RULES)
    if task == "masked-lm":
        rules += [(r"^generator_predictions\.dense\.", "lm_head.dense."),
                  (r"^generator_predictions\.LayerNorm\.", "lm_head.layer_norm.")]
        rules += mlm_rules("generator_predictions", tied=config.tie_word_embeddings,
                           bias=None, decoder=r"generator_lm_head")
    return rules


@functools.cache
def architecture(model_type: str = "electra"):
    return encoder_architecture("electra", ElectraConfig, "electra", weight_rules)
