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
            data["id2label"] = {int(k): v for k, v in dict(data["id2label"]).items()}
        known = {k: _freeze(v) for k, v in data.items() if k in names and k != "extra_json"}
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
