"""Tiny random transformers (PyTorch) encoders, saved as HF directories.

Weights are drawn at initializer_range 0.2 (not 0.02) so that outputs vary
enough for a relative comparison to mean something."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import transformers

# model_type -> (config class, {task: model class}, config kwargs)
COMMON = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=37, max_position_embeddings=64, initializer_range=0.2,
              hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)

SPECS = {
    "bert": (transformers.BertConfig, "Bert", dict(COMMON, type_vocab_size=2)),
    "roberta": (transformers.RobertaConfig, "Roberta",
                dict(COMMON, type_vocab_size=1, max_position_embeddings=66, pad_token_id=1)),
    "xlm-roberta": (transformers.XLMRobertaConfig, "XLMRoberta",
                    dict(COMMON, type_vocab_size=1, max_position_embeddings=66, pad_token_id=1)),
    "electra": (transformers.ElectraConfig, "Electra", dict(COMMON, embedding_size=16, type_vocab_size=2)),
    "albert": (transformers.AlbertConfig, "Albert",
               dict(COMMON, embedding_size=16, num_hidden_layers=4, num_hidden_groups=2,
                    hidden_act="gelu_new", type_vocab_size=2, classifier_dropout_prob=0.1)),
    "distilbert": (transformers.DistilBertConfig, "DistilBert",
                   dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                        max_position_embeddings=64, initializer_range=0.2)),
}

TASK_CLASS = {
    "base": "Model",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "masked-lm": "ForMaskedLM",
}


def make_model(model_type: str, task: str, seed: int = 0, **overrides):
    config_class, stem, kwargs = SPECS[model_type]
    kwargs = dict(kwargs, **overrides)
    if task in ("sequence-classification", "token-classification"):
        kwargs.setdefault("num_labels", 3)
    config = config_class(**kwargs)
    torch.manual_seed(seed)
    model = getattr(transformers, stem + TASK_CLASS[task])(config).eval()
    with torch.no_grad():   # biases and LayerNorms start at 0/1: give them values too
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def save_safetensors(model, directory: Path) -> Path:
    model.save_pretrained(directory)
    return Path(directory)


def save_bin(model, directory: Path) -> Path:
    """transformers 5 writes only safetensors: write the .bin by hand."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(directory / "config.json")
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    return directory


def padded_batch(model_type: str, vocab_size: int = 99, seed: int = 0):
    """A padded batch of 3 rows with token types 0/1 (where the model has them)."""
    rng = np.random.default_rng(seed)
    lengths = [11, 7, 4]
    pad = 1 if model_type in ("roberta", "xlm-roberta") else 0
    ids = np.full((3, 11), pad, np.int64)
    mask = np.zeros((3, 11), np.int64)
    types = np.zeros((3, 11), np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(3, vocab_size, n)
        mask[i, :n] = 1
        types[i, n // 2:n] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if SPECS[model_type][2].get("type_vocab_size", 0) > 1:
        out["token_type_ids"] = types
    return out


def torch_outputs(model, task: str, batch: dict):
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    if task == "base":
        return out.last_hidden_state.numpy()
    if task == "question-answering":
        return out.start_logits.numpy(), out.end_logits.numpy()
    return out.logits.numpy()


def rel_error(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def write_json(path: Path, data) -> None:
    Path(path).write_text(json.dumps(data, indent=2))
