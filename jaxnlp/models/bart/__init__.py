"""BART, and the encoder-decoder the whole BART family shares (mBART,
Marian, Pegasus, M2M100 are folders with a config and these rules)."""

from __future__ import annotations

import functools

import numpy as np

from jaxnlp.models.bart.config import BartConfig
from jaxnlp.models.bart.modeling import BART_TASKS, SEQ2SEQ_TASKS, Seq2SeqModel
from jaxnlp.models.bart.weights import weight_rules

__all__ = ["BartConfig", "Seq2SeqModel", "architecture", "seq2seq_architecture", "example_inputs"]


def example_inputs(config) -> dict:
    ids = np.zeros((1, 8), np.int32)
    return dict(input_ids=ids, attention_mask=np.ones_like(ids), decoder_input_ids=np.zeros_like(ids))


def seq2seq_architecture(name, config_class, tasks=SEQ2SEQ_TASKS, rules=weight_rules):
    """An Architecture record for a member of the BART family. PyTorch
    names its backbone `model`; a bare backbone checkpoint (BartModel saved
    alone) starts at `shared` / `encoder` / `decoder`."""
    from jaxnlp.models.registry import Architecture

    def make_module(config, task, dtype, param_dtype):
        return Seq2SeqModel(config.options(), task=task, dtype=dtype, param_dtype=param_dtype)

    return Architecture(
        name=name, config_class=config_class, tasks=tasks, make_module=make_module,
        weight_rules=rules, example_inputs=example_inputs, prefix="model",
        backbone_children=("shared", "encoder", "decoder"))


@functools.cache
def architecture(model_type: str = "bart"):
    return seq2seq_architecture("bart", BartConfig, BART_TASKS)
