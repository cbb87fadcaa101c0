"""Finding and reading a model directory's weights and config (the Hugging Face layout)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from jaxnlp.checkpoints.safetensors import read_safetensors
from jaxnlp.checkpoints.torch_bin import read_torch_bin
from jaxnlp.errors import CheckpointError

__all__ = ["read_state_dict", "read_config", "find_weights", "WEIGHTS_NAMES"]

# In order of preference: safetensors (no pickle) before torch pickles, single file before shards.
WEIGHTS_NAMES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def find_weights(filenames) -> str | None:
    """The weights file that :func:`read_state_dict` would use among ``filenames`` (None if none)."""
    names = set(filenames)
    for name in WEIGHTS_NAMES:
        if name in names:
            return name
    return None


def _reader(filename: str) -> Callable[[Path], dict[str, np.ndarray]]:
    return read_safetensors if filename.endswith(".safetensors") else read_torch_bin


def _listing(model_dir: Path) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in model_dir.iterdir())
    except OSError:
        names = []
    return ", ".join(names) if names else "nothing"


def read_shard_index(index_path: Path) -> dict[str, str]:
    """The ``weight_map`` (tensor name -> shard file name) of a sharded checkpoint index."""
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read shard index {index_path}: {e}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        raise CheckpointError(f"shard index {index_path} has no valid 'weight_map' (tensor name -> shard file)")
    return weight_map


def _read_sharded(model_dir: Path, index_name: str) -> dict[str, np.ndarray]:
    index_path = model_dir / index_name
    weight_map = read_shard_index(index_path)
    shards: dict[str, list[str]] = {}
    for key, shard in weight_map.items():
        shards.setdefault(shard, []).append(key)
    outside = [s for s in shards if Path(s).is_absolute() or ".." in Path(s).parts]
    if outside:
        raise CheckpointError(f"shard index {index_path} names shards outside {model_dir}: {', '.join(outside)}")
    missing_files = [s for s in shards if not (model_dir / s).is_file()]
    if missing_files:
        raise CheckpointError(
            f"shard index {index_path} names shard file(s) missing from {model_dir}: {', '.join(missing_files)}"
        )
    out: dict[str, np.ndarray] = {}
    for shard, keys in shards.items():
        shard_path = model_dir / shard
        tensors = _reader(shard)(shard_path)
        absent = [k for k in keys if k not in tensors]
        if absent:
            shown = ", ".join(absent[:10]) + (f", ... ({len(absent) - 10} more)" if len(absent) > 10 else "")
            raise CheckpointError(
                f"shard {shard_path} lacks {len(absent)} tensor(s) that {index_name} places in it: {shown}"
            )
        for k in keys:
            out[k] = tensors[k]
    return out


def read_state_dict(model_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a model directory's weights as ``{pytorch name: np.ndarray}``.

    Looks for, in this order: ``model.safetensors``, ``model.safetensors.index.json``
    (sharded), ``pytorch_model.bin``, ``pytorch_model.bin.index.json`` (sharded).
    Raises CheckpointError when none is present (listing what the directory
    has) or a file is corrupt. ``.bin`` files are read without torch and
    without running pickled code.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CheckpointError(f"no such model directory: {model_dir}")
    name = find_weights(p.name for p in model_dir.iterdir() if p.is_file())
    if name is None:
        raise CheckpointError(
            f"no weights file in {model_dir}: looked for {', '.join(WEIGHTS_NAMES)}; "
            f"the directory has {_listing(model_dir)}"
        )
    if name.endswith(".index.json"):
        return _read_sharded(model_dir, name)
    return _reader(name)(model_dir / name)


def read_config(model_dir: str | os.PathLike) -> dict:
    """Read ``config.json`` of a model directory as a dict."""
    path = Path(model_dir) / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        detail = f"; the directory has {_listing(Path(model_dir))}" if Path(model_dir).is_dir() else ""
        raise CheckpointError(f"no config.json: {path} does not exist{detail}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds a JSON {type(config).__name__}, not an object")
    return config
