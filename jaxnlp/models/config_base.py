"""Frozen, hashable config dataclasses read from Hugging Face config.json.

Field names are transformers'. Unknown fields are kept (`extra`), missing
required ones raise with the field's name. Values are made hashable (lists
become tuples, dicts tuples of items) so a config can be a static argument.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

from jaxnlp.errors import CheckpointError


# sizes a model is built from: a 0, a negative or a string here failed deep in
# flax / jax (ZeroDivisionError, "Shapes must be 1D sequences", an empty take)
_POSITIVE = frozenset({
    "vocab_size", "hidden_size", "num_attention_heads", "intermediate_size", "max_position_embeddings",
    "type_vocab_size", "n_embd", "n_head", "n_inner", "n_positions", "d_model", "d_ff", "d_kv", "num_heads",
    "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_positions",
    "relative_attention_num_buckets", "relative_attention_max_distance", "embedding_size", "num_hidden_groups",
    "inner_group_num", "dim", "hidden_dim", "n_heads"})
_NON_NEGATIVE = frozenset({
    "num_hidden_layers", "n_layer", "num_layers", "encoder_layers", "decoder_layers", "num_decoder_layers",
    "n_layers", "layer_norm_eps", "layer_norm_epsilon"})


def _check_field(cls_name: str, name: str, annotation: str, value: Any) -> Any:
    """A size, layer count or norm epsilon from config.json checked against
    its field's type (an integral float such as 512.0 becomes 512) and range
    (sizes >= 1, counts and epsilons >= 0); every other field is kept as it
    is (transformers checks none). Raises CheckpointError naming the field."""
    kinds = {k.strip() for k in str(annotation).split("|")}
    if name not in _POSITIVE | _NON_NEGATIVE or not kinds & {"int", "float"} or (
            value is None and "None" in kinds):
        return value
    if isinstance(value, float) and "int" in kinds and "float" not in kinds and value.is_integer():
        value = int(value)
    wanted = int if "float" not in kinds else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted) or (
            isinstance(value, float) and value != value or value in (float("inf"), float("-inf"))):
        raise CheckpointError(f"config.json field {name} = {value!r} is not {'an int' if wanted is int else 'a number'}"
                              f" ({cls_name})")
    if name in _POSITIVE and value < 1:
        raise CheckpointError(f"config.json field {name} = {value!r} must be at least 1 ({cls_name})")
    if name in _NON_NEGATIVE and value < 0:
        raise CheckpointError(f"config.json field {name} = {value!r} must not be negative ({cls_name})")
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Fields every architecture shares. Subclasses add their own."""

    model_type: ClassVar[str] = ""

    id2label: tuple | None = None            # ((id, label), ...)
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | tuple | None = None
    tie_word_embeddings: bool = True
    problem_type: str | None = None
    extra_json: str = "{}"                   # fields this class does not name

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in data]
        if missing:
            raise CheckpointError(
                f"config.json for model_type {cls.model_type!r} lacks required field(s): {', '.join(missing)}")
        data = dict(data)
        if "id2label" not in data and "num_labels" in data:
            data["id2label"] = {str(i): f"LABEL_{i}" for i in range(int(data["num_labels"]))}
        if data.get("id2label") is not None:
            try:
                data["id2label"] = {int(k): v for k, v in dict(data["id2label"]).items()}
            except (TypeError, ValueError):
                raise CheckpointError(f"config.json id2label must map class ids to labels, got "
                                      f"{data['id2label']!r}") from None

        types = {f.name: f.type for f in dataclasses.fields(cls)}
        known = {k: _freeze(_check_field(cls.__name__, k, types[k], v)) for k, v in data.items()
                 if k in names and k != "extra_json"}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra_json=json.dumps(extra, sort_keys=True, default=str))

    @property
    def extra(self) -> dict:
        return json.loads(self.extra_json)

    def get(self, name: str, default: Any = None) -> Any:
        """A field by its HF name, known or kept in `extra`."""
        if name in {f.name for f in dataclasses.fields(self)}:
            return getattr(self, name)
        return self.extra.get(name, default)

    @property
    def labels(self) -> dict[int, str]:
        if self.id2label is None:
            return {0: "LABEL_0", 1: "LABEL_1"}
        return dict(self.id2label)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        out = {"model_type": self.model_type, **self.extra}
        for f in dataclasses.fields(self):
            if f.name == "extra_json":
                continue
            value = getattr(self, f.name)
            if f.name == "id2label" and value is not None:
                value = {str(k): v for k, v in value}
            out[f.name] = value
        return out
