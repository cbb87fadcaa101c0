"""T5, T5 v1.1 / Flan-T5 and mT5."""

from __future__ import annotations

import functools

import numpy as np

from jaxnlp.models.t5.config import MT5Config, T5Config
from jaxnlp.models.t5.modeling import T5_TASKS, T5Seq2SeqModel
from jaxnlp.models.t5.weights import weight_rules

__all__ = ["T5Config", "MT5Config", "T5Seq2SeqModel", "architecture"]

_CONFIGS = {"t5": T5Config, "mt5": MT5Config}


def example_inputs(config) -> dict:
    ids = np.zeros((1, 8), np.int32)
    return dict(input_ids=ids, attention_mask=np.ones_like(ids), decoder_input_ids=np.zeros_like(ids))


@functools.cache
def architecture(model_type: str = "t5"):
    from jaxnlp.models.registry import Architecture

    def make_module(config, task, dtype, param_dtype):
        return T5Seq2SeqModel(config.options(), task=task, dtype=dtype, param_dtype=param_dtype)

    # T5Model and T5ForConditionalGeneration share one layout (`shared`,
    # `encoder`, `decoder`, [`lm_head`]): there is no backbone prefix.
    return Architecture(
        name=model_type, config_class=_CONFIGS[model_type], tasks=T5_TASKS, make_module=make_module,
        weight_rules=weight_rules, example_inputs=example_inputs, prefix="")
