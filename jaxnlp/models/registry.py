"""HF `model_type` -> architecture. The only place that lists them.

An architecture package exposes `ARCHITECTURE`, an `Architecture` record;
packages are imported on first use."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

from jaxnlp.errors import UnknownArchitectureError, UnknownTaskError

MODEL_TYPES: dict[str, str] = {
    "bert": "jaxnlp.models.bert",
    "roberta": "jaxnlp.models.roberta",
    "xlm-roberta": "jaxnlp.models.roberta",
    "camembert": "jaxnlp.models.roberta",
    "distilbert": "jaxnlp.models.distilbert",
    "albert": "jaxnlp.models.albert",
    "electra": "jaxnlp.models.electra",
    "gpt2": "jaxnlp.models.gpt2",
    "openai-gpt": "jaxnlp.models.gpt2",
    "bart": "jaxnlp.models.bart",
    "mbart": "jaxnlp.models.mbart",
    "marian": "jaxnlp.models.marian",
    "pegasus": "jaxnlp.models.pegasus",
    "m2m_100": "jaxnlp.models.m2m100",
    "t5": "jaxnlp.models.t5",
    "mt5": "jaxnlp.models.t5",
}


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What load_model needs to know of one architecture.

    make_module(config, task, dtype, param_dtype) -> flax Module
    weight_rules(config, task) -> [(regex, replacement | None), ...]
    example_inputs(config) -> kwargs for `module.init` (shapes only matter)
    """

    name: str
    config_class: type
    tasks: tuple[str, ...]
    make_module: Callable[..., Any]
    weight_rules: Callable[..., list]
    example_inputs: Callable[..., dict]
    prefix: str                      # the backbone's name in checkpoints
    backbone_children: tuple[str, ...] = ()   # its children, to recognise bare backbone checkpoints
    keep_layout: tuple[str, ...] = ()         # regexes of 2-D weights saved [in, out]


def supported_model_types() -> list[str]:
    return sorted(MODEL_TYPES)


def get_architecture(model_type: str | None) -> Architecture:
    if not isinstance(model_type, str) or model_type not in MODEL_TYPES:
        raise UnknownArchitectureError(
            f"unknown model_type {model_type!r}; jaxnlp supports: {', '.join(supported_model_types())}")
    arch = importlib.import_module(MODEL_TYPES[model_type]).architecture(model_type)
    return arch


def check_task(arch: Architecture, task: str) -> None:
    if task not in arch.tasks:
        raise UnknownTaskError(
            f"task {task!r} is not available for {arch.name}; available: {', '.join(arch.tasks)}")
