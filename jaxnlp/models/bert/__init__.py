"""BERT (and the encoder the whole BERT family shares)."""

from __future__ import annotations

import functools

import numpy as np

from jaxnlp.models.bert.config import BertConfig
from jaxnlp.models.bert.modeling import ENCODER_TASKS, EncoderModel, EncoderOptions
from jaxnlp.models.bert.weights import weight_rules

__all__ = ["BertConfig", "EncoderModel", "EncoderOptions", "architecture", "encoder_architecture"]


def example_inputs(config) -> dict:
    ids = np.zeros((1, 8), np.int32)
    return dict(input_ids=ids, attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids))


def encoder_architecture(name, config_class, prefix, rules, options=lambda c, task: c.encoder_options()):
    """An Architecture record for a member of the BERT family."""
    from jaxnlp.models.registry import Architecture

    def make_module(config, task, dtype, param_dtype):
        return EncoderModel(options(config, task), task=task, prefix=prefix,
                            dtype=dtype, param_dtype=param_dtype)

    return Architecture(
        name=name, config_class=config_class, tasks=ENCODER_TASKS, make_module=make_module,
        weight_rules=rules, example_inputs=example_inputs, prefix=prefix,
        backbone_children=("embeddings", "encoder", "pooler", "embeddings_project", "transformer"))


@functools.cache
def architecture(model_type: str = "bert"):
    return encoder_architecture("bert", BertConfig, "bert", weight_rules)
