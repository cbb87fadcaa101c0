"""RoBERTa, XLM-RoBERTa and CamemBERT: BERT's encoder with RoBERTa positions."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bert import encoder_architecture
from jaxnlp.models.bert.config import BertConfig
from jaxnlp.models.bert.weights import BERT_LAYER_RULES, mlm_rules


@dataclasses.dataclass(frozen=True, kw_only=True)
class RobertaConfig(BertConfig):
    model_type = "roberta"
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | tuple | None = 2

    @property
    def max_input_length(self) -> int:
        # positions start after padding_idx: 514 embeddings serve 512 tokens
        return self.max_position_embeddings - (self.pad_token_id or 0) - 1

    def encoder_options(self, **overrides):
        return super().encoder_options(position_style="roberta", **overrides)


@dataclasses.dataclass(frozen=True, kw_only=True)
class XLMRobertaConfig(RobertaConfig):
    model_type = "xlm-roberta"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CamembertConfig(RobertaConfig):
    model_type = "camembert"


_CONFIGS = {"roberta": RobertaConfig, "xlm-roberta": XLMRobertaConfig, "camembert": CamembertConfig}


def weight_rules(config, task: str) -> list:
    # classifier.dense / classifier.out_proj and lm_head.dense / layer_norm
    # already carry our names.
    rules = list(BERT_LAYER_RULES) + [(r"^roberta\.pooler\.", None)]
    if task == "masked-lm":
        rules += mlm_rules("lm_head", tied=config.tie_word_embeddings,
                           bias=r"lm_head\.bias", decoder=r"lm_head\.decoder")
    return rules


@functools.cache
def architecture(model_type: str = "roberta"):
    return encoder_architecture(model_type, _CONFIGS[model_type], "roberta", weight_rules)
