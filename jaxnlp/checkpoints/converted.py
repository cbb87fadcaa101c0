"""jaxnlp's converted format: parameters as an orbax checkpoint beside the
original config and tokenizer files, so `load_model` reads it like any
directory and skips the PyTorch-name conversion.

    DST/jaxnlp.json        {"format": "jaxnlp-orbax", "version": 1, "task": ..., "param_dtypes": [...]}
    DST/params/            orbax checkpoint of {"a/b/kernel": array, ...}
    DST/config.json, tokenizer files, generation_config.json (copied)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np

from jaxnlp.errors import CheckpointError, ConversionError

MARKER = "jaxnlp.json"
FORMAT = "jaxnlp-orbax"
COPIED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
          "sentencepiece.bpe.model", "source.spm", "target.spm", "added_tokens.json",
          "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
          "chat_template.jinja", "chat_template.json")


def is_converted(model_dir: Path) -> bool:
    return (Path(model_dir) / MARKER).is_file()


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        out.update(_flatten(v, key) if isinstance(v, Mapping) else {key: v})
    return out


def check_destination(dst) -> Path:
    """The destination of a conversion: a new or empty directory."""
    dst = Path(dst).absolute()
    if dst.exists() and not dst.is_dir():
        raise CheckpointError(f"{dst} exists and is not a directory")
    if dst.exists() and any(dst.iterdir()):
        raise CheckpointError(f"{dst} exists and is not empty")
    return dst


def write_converted(dst, params: Mapping, source_dir, task: str) -> Path:
    """Write `params` (a nested dict of arrays) and the source's config and
    tokenizer files (and sentence-transformers folders) into `dst`."""
    import orbax.checkpoint as ocp

    dst = check_destination(dst)
    dst.mkdir(parents=True, exist_ok=True)
    flat = {k: np.asarray(v) for k, v in _flatten(params).items()}
    dtypes = sorted({str(v.dtype) for v in flat.values()})
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(dst / "params", flat)
    source_dir = Path(source_dir)
    for name in COPIED:
        if (source_dir / name).is_file():
            shutil.copy2(source_dir / name, dst / name)
    for sub in source_dir.iterdir():   # sentence-transformers module folders (1_Pooling, ...), chat templates
        if sub.is_dir() and (sub.name[:1].isdigit() and "_" in sub.name or sub.name == "additional_chat_templates"):
            shutil.copytree(sub, dst / sub.name)
    (dst / MARKER).write_text(json.dumps(
        {"format": FORMAT, "version": 1, "task": task, "param_dtypes": dtypes}, indent=2))
    return dst


def read_params(model_dir) -> dict[str, np.ndarray]:
    """The flat {'a/b/kernel': array} parameters of a converted directory."""
    import orbax.checkpoint as ocp

    model_dir = Path(model_dir).absolute()
    try:
        meta = json.loads((model_dir / MARKER).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{model_dir / MARKER} is unreadable: {e}") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{model_dir} is not a {FORMAT} directory (format {meta.get('format')!r})")
    try:
        with ocp.StandardCheckpointer() as ckptr:
            flat = ckptr.restore(model_dir / "params")
    except Exception as e:  # orbax raises many kinds
        raise CheckpointError(f"cannot read the converted parameters in {model_dir / 'params'}: {e}") from e
    return {k: np.asarray(v) for k, v in flat.items()}


def to_tree(flat: Mapping[str, np.ndarray], expected_tree: Mapping, source: str = "checkpoint") -> dict:
    """Check a flat parameter dict against the expected tree and nest it."""
    expected = _flatten(expected_tree)
    heads = {k.split("/", 1)[0] for k in expected}
    flat = {k: v for k, v in flat.items() if k.split("/", 1)[0] in heads}  # other tasks' heads
    missing = sorted(set(expected) - set(flat))
    unexpected = sorted(set(flat) - set(expected))
    shapes = [f"{k}: {tuple(flat[k].shape)} vs expected {tuple(expected[k].shape)}"
              for k in sorted(set(flat) & set(expected)) if tuple(flat[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{source} does not match the model's parameters:"]
        if missing:
            parts.append(f"  missing ({len(missing)}): " + ", ".join(missing))
        if unexpected:
            parts.append(f"  unexpected ({len(unexpected)}): " + ", ".join(unexpected))
        if shapes:
            parts.append(f"  wrong shape ({len(shapes)}): " + "; ".join(shapes))
        raise ConversionError("\n".join(parts))
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
