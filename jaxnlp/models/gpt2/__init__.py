"""GPT-2 (DialoGPT, distilgpt2) and OpenAI GPT."""

from __future__ import annotations

import functools

import numpy as np

from jaxnlp.models.gpt2.config import GPT2Config, GPTOptions, OpenAIGPTConfig
from jaxnlp.models.gpt2.modeling import GPT_TASKS, GPTModel
from jaxnlp.models.gpt2.weights import KEEP_LAYOUT, weight_rules

__all__ = ["GPT2Config", "OpenAIGPTConfig", "GPTModel", "GPTOptions", "architecture"]

_CONFIGS = {"gpt2": GPT2Config, "openai-gpt": OpenAIGPTConfig}


def example_inputs(config) -> dict:
    ids = np.zeros((1, 8), np.int32)
    return dict(input_ids=ids, attention_mask=np.ones_like(ids))


@functools.cache
def architecture(model_type: str = "gpt2"):
    from jaxnlp.models.registry import Architecture

    def make_module(config, task, dtype, param_dtype):
        return GPTModel(config.options(), task=task, dtype=dtype, param_dtype=param_dtype)

    return Architecture(
        name=model_type, config_class=_CONFIGS[model_type], tasks=GPT_TASKS, make_module=make_module,
        weight_rules=weight_rules, example_inputs=example_inputs, prefix="transformer",
        backbone_children=("wte", "wpe", "h", "ln_f", "tokens_embed", "positions_embed"),
        keep_layout=KEEP_LAYOUT)
