"""`jaxnlp.pipeline(task, model=..., ...)`: ready-to-use NLP tasks.

Task names and results follow transformers' pipelines; each task is a module
here. `pipeline()` resolves aliases, loads the tokenizer and the model with
the task's head, and hands the remaining keyword arguments to the task as
its default options (each call may override them).
"""

from __future__ import annotations

import importlib
import re

from jaxnlp.errors import UnknownTaskError

# task -> (module, class, model head)
TASKS = {
    "text-classification": ("text_classification", "TextClassificationPipeline", "sequence-classification"),
    "token-classification": ("token_classification", "TokenClassificationPipeline", "token-classification"),
    "pos-tagging": ("token_classification", "PosTaggingPipeline", "token-classification"),
    "fill-mask": ("fill_mask", "FillMaskPipeline", "masked-lm"),
    "text-generation": ("text_generation", "TextGenerationPipeline", "causal-lm"),
    "sentence-embeddings": ("sentence_embeddings", "SentenceEmbeddingsPipeline", "base"),
    "zero-shot-classification": ("zero_shot", "ZeroShotClassificationPipeline", "sequence-classification"),
    "question-answering": ("question_answering", "QuestionAnsweringPipeline", "question-answering"),
    "keyword-extraction": ("keyword_extraction", "KeywordExtractionPipeline", "base"),
    "translation": ("text2text", "TranslationPipeline", "seq2seq-lm"),
    "summarization": ("text2text", "SummarizationPipeline", "seq2seq-lm"),
    "conversation": ("conversation", "ConversationPipeline", "causal-lm"),
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification",
           "conversational": "conversation"}
# translation_xx_to_yy: the translation task with src_lang="xx", tgt_lang="yy" as default options
_TRANSLATION_ALIAS = re.compile(r"^translation_([A-Za-z_]+?)_to_([A-Za-z_]+)$")


def supported_tasks() -> list[str]:
    return sorted(TASKS) + sorted(ALIASES) + ["translation_XX_to_YY"]


def resolve_task(task: str) -> str:
    return task_and_options(task)[0]


def task_and_options(task: str) -> tuple[str, dict]:
    """(task name, default options the alias implies): `ner` -> token-classification,
    `translation_en_to_fr` -> translation with src_lang="en", tgt_lang="fr"."""
    if not isinstance(task, str):
        raise TypeError(f"task must be a str, got {type(task).__name__}")
    match = _TRANSLATION_ALIAS.match(task)
    if match:
        if "_to_" in match.group(2) or match.group(1).endswith("_") or match.group(2).startswith("_"):
            raise UnknownTaskError(f"task {task!r} is not of the form translation_XX_to_YY (one source and "
                                   "one target language)")
        return "translation", {"src_lang": match.group(1), "tgt_lang": match.group(2)}
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise UnknownTaskError(f"unknown pipeline task {task!r}; supported: {', '.join(supported_tasks())}")
    return name, {}


def pipeline(task: str, model=None, *, tokenizer=None, batch_size: int = 8, dtype=None, param_dtype=None,
             revision: str | None = None, mesh=None, sort_by_length: bool = True, **task_options):
    """A callable for `task` over `model` (a checkpoint directory, a hub id,
    or a loaded jaxnlp Model; `tokenizer` likewise, by default the model's).
    Without `model`, the task's default checkpoint from the catalogue
    (jaxnlp/catalogue.py, weights/README.md) is fetched from the hub. `mesh` (a jax.sharding.Mesh with axes "data" and "model") shards the
    parameters as `load_model(..., mesh=)` does. `dtype` (default float32) and
    `param_dtype` (default the checkpoint's) are load_model's, for a model
    this call loads; with a loaded Model they are an error. `sort_by_length`
    (the tasks of one forward per item: classification, token
    classification, QA, zero-shot, fill-mask, embeddings, keywords) chunks a
    list longest first, results in input order (False: input order)."""
    name, implied = task_and_options(task)
    task_options = {**implied, **task_options}
    module_name, class_name, head = TASKS[name]
    if model is None:   # the catalogue's default (jaxnlp/catalogue.py), fetched here so hub errors name it
        from jaxnlp.catalogue import resolve_default

        model, task_options = resolve_default(name, task_options, revision=revision, requested=task)
        revision = None   # model is now a local directory
    from jaxnlp.models.auto import Model, load_model
    from jaxnlp.tokenization import Tokenizer, load_tokenizer

    if isinstance(model, Model):
        if dtype is not None or param_dtype is not None:   # (they were ignored, silently)
            raise ValueError("dtype / param_dtype apply when pipeline() loads the model; this Model is already "
                             "loaded: pass them to jaxnlp.load_model instead")
        if model.task != head:
            raise ValueError(f"{task} needs a model loaded with task={head!r}, got task={model.task!r}")
        if mesh is not None:
            from jaxnlp.sharding import shard_model

            model = shard_model(model, mesh)
        loaded = model
    else:
        loaded = load_model(model, task=head, dtype="float32" if dtype is None else dtype, param_dtype=param_dtype,
                            revision=revision, mesh=mesh)
    if tokenizer is None:
        if loaded.model_dir is None:
            raise ValueError("pass tokenizer= (the model was not loaded from a directory)")
        tokenizer = load_tokenizer(loaded.model_dir)
    elif not isinstance(tokenizer, Tokenizer):
        tokenizer = load_tokenizer(tokenizer, revision=revision)
    cls = getattr(importlib.import_module(f"jaxnlp.pipelines.{module_name}"), class_name)
    return cls(model=loaded, tokenizer=tokenizer, batch_size=batch_size, task=name, defaults=task_options,
               sort_by_length=sort_by_length)
