"""`sentence-embeddings`: sentence-transformers' `SentenceTransformer.encode`.

The model directory is a sentence-transformers one (modules.json) or a plain
Hugging Face one. modules.json's modules run in order:

- Transformer: the jaxnlp "base" model and tokenizer, which `pipeline()`
  loads from the directory root (the Transformer module must sit at the
  root, `path: ""`, as sentence-transformers >= 2 saves it). Inputs are
  truncated to `max_seq_length` (sentence_bert_config.json, else the
  tokenizer's model_max_length), capped at the model's positions;
  `do_lower_case` lowercases the texts.
- Pooling (its config.json, the current `pooling_mode` str/list or the
  legacy `pooling_mode_*_tokens` booleans; none set: mean): cls, max, mean,
  mean_sqrt_len_tokens, weightedmean, lasttoken over the real (unpadded)
  tokens, several modes concatenated. `include_prompt` is ignored (no prompts here).
- Dense: `linear.weight` / `linear.bias` from the subfolder's
  model.safetensors or pytorch_model.bin (read without torch), then the
  activation named in config.json (torch.nn Tanh, Identity, ReLU, Sigmoid,
  GELU, SiLU; missing: Tanh, as sentence-transformers), `use_residual` too.
- Normalize: L2 normalisation.

A plain Hugging Face directory (no modules.json) gets what
sentence-transformers builds for one: mean pooling, no Normalize.

The result: a float32 numpy array [dim] for one text, [n, dim] for a list.
Option `normalize_embeddings` (default False, as encode) L2-normalises the
output after the modules. The empty string is embedded like
sentence-transformers does ([CLS] [SEP] only); long texts are truncated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxnlp.errors import CheckpointError
from jaxnlp.pipelines.base import Pipeline

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
LEGACY_POOLING = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


def _gelu(x):
    from math import erf, sqrt
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)).astype(x.dtype))


ACTIVATIONS = {
    "Tanh": np.tanh,
    "Identity": lambda x: x,
    "ReLU": lambda x: np.maximum(x, 0),
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "GELU": _gelu,
    "SiLU": lambda x: x / (1.0 + np.exp(-x)),
}


def _kind(module_type: str) -> str:
    return module_type.rsplit(".", 1)[-1]


def _read_json(path: Path, expect: type = dict):
    """A module config file ({} / [] when absent); corrupt JSON or the wrong
    top-level type is a CheckpointError naming the file."""
    if not path.is_file():
        return expect()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(value, expect):
        raise CheckpointError(f"{path} must hold a JSON {'object' if expect is dict else 'list'}, "
                              f"got {type(value).__name__}")
    return value


def pooling_modes(config: dict) -> tuple[str, ...]:
    """The pooling modes of a Pooling config.json, in concatenation order."""
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(m for key, m in LEGACY_POOLING.items() if config.get(key)) or ("mean",)
    elif isinstance(mode, str):
        modes = (mode,)
    elif isinstance(mode, list) and mode and all(isinstance(m, str) for m in mode):
        modes = tuple(mode)
    else:    # ([] failed at the first call, 5 as "not iterable")
        raise ValueError(f"pooling_mode must be a mode or a non-empty list of modes, got {mode!r}")
    for m in modes:
        if m not in POOLING_MODES:
            raise ValueError(f"unknown pooling mode {m!r}; supported: {', '.join(POOLING_MODES)}")
    return modes


def pool(hidden: np.ndarray, mask: np.ndarray, modes) -> np.ndarray:
    """Sentence vectors [batch, len(modes) * D] from hidden states [batch, L, D] and mask [batch, L]."""
    hidden = hidden.astype(np.float32)
    m = mask.astype(np.float32)[..., None]
    out = []
    for mode in modes:
        if mode == "cls":     # the first real token (left padding too)
            first = np.argmax(mask, axis=1)
            out.append(hidden[np.arange(len(hidden)), first])
        elif mode == "max":
            out.append(np.where(m > 0, hidden, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (hidden * m).sum(axis=1)
            count = np.clip(m.sum(axis=1), 1e-9, None)
            out.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            weights = np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
            weights = weights - np.argmax(mask, axis=1).astype(np.float32)[:, None, None]
            wm = m * weights
            out.append((hidden * wm).sum(axis=1) / np.clip(wm.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            rev = mask[:, ::-1]
            idx = np.where(rev.max(axis=1) == 0, 0, np.argmax(rev, axis=1))
            last = hidden.shape[1] - 1 - idx
            out.append((hidden * m)[np.arange(len(hidden)), last])
    return np.concatenate(out, axis=-1)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """torch.nn.functional.normalize(x, p=2, dim=-1)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _dense_weights(folder: Path) -> dict[str, np.ndarray]:
    from jaxnlp.checkpoints import read_safetensors, read_torch_bin

    if (folder / "model.safetensors").is_file():
        return read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        return read_torch_bin(folder / "pytorch_model.bin")
    raise FileNotFoundError(f"Dense module {folder} has no model.safetensors or pytorch_model.bin")


def load_dense(folder: Path):
    """A numpy function for a sentence-transformers Dense module folder."""
    config = _read_json(folder / "config.json")
    name = config.get("activation_function", "torch.nn.modules.activation.Tanh")
    if name is None:
        name = "Identity"
    act = ACTIVATIONS.get(_kind(name)) if isinstance(name, str) else None
    if act is None:
        raise ValueError(f"Dense activation {name!r} is not supported; supported: {', '.join(ACTIVATIONS)}")
    weights = _dense_weights(folder)
    residual = config.get("use_residual", False)
    needed = ["linear.weight"] + (["linear.bias"] if config.get("bias", True) else [])
    missing = [k for k in needed if k not in weights]
    if missing:
        raise CheckpointError(f"Dense module {folder} lacks {', '.join(missing)}")
    w = np.asarray(weights["linear.weight"], np.float32)
    if w.ndim != 2:
        raise CheckpointError(f"Dense module {folder}: linear.weight has shape {w.shape}, expected 2-D")
    b = np.asarray(weights["linear.bias"], np.float32) if config.get("bias", True) else None
    if residual and w.shape[0] != w.shape[1] and "residual.weight" not in weights:
        raise CheckpointError(f"Dense module {folder} has use_residual with a {w.shape[1]} -> {w.shape[0]} "
                              "projection but no residual.weight")
    r = np.asarray(weights["residual.weight"], np.float32) if residual and w.shape[0] != w.shape[1] else None
    if config.get("in_features", w.shape[1]) != w.shape[1] or config.get("out_features", w.shape[0]) != w.shape[0]:
        raise ValueError(f"Dense {folder}: linear.weight {w.shape} does not match config.json")

    def dense(x):
        y = x @ w.T
        if b is not None:
            y = y + b
        y = act(y)
        if residual:
            y = y + (x if r is None else x @ r.T)
        return y.astype(np.float32)

    dense.in_features, dense.out_features = w.shape[1], w.shape[0]
    return dense


class SentenceEmbeddingsPipeline(Pipeline):
    sorts_by_length = True     # an item's result does not depend on its chunk

    def __post_init__(self):
        self._load_modules()
        super().__post_init__()

    def _load_modules(self) -> None:
        root = Path(self.model.model_dir) if self.model.model_dir is not None else None
        self.pooling = ("mean",)
        self.post = []               # numpy functions after pooling
        self.do_lower_case = False
        max_len = None
        listing = _read_json(root / "modules.json", list) if root is not None else []
        if not listing and root is not None and (root / "modules.json").is_file():
            # (was read as a plain Hugging Face directory, as if there were no modules.json)
            raise CheckpointError(f"{root / 'modules.json'} lists no modules")
        for i, entry in enumerate(listing):
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) or not isinstance(
                    entry.get("idx", 0), int) or not isinstance(entry.get("path", ""), str):
                raise CheckpointError(f"{root / 'modules.json'}: entry {i} must be an object with a str \"type\" "
                                      f"(and an int \"idx\", a str \"path\"), got {entry!r:.80}")
        if listing:
            seen_pooling = False
            for entry in sorted(listing, key=lambda e: e.get("idx", 0)):
                kind, folder = _kind(entry["type"]), root / entry.get("path", "")
                if kind in ("Pooling", "Dense") and not (folder / "config.json").is_file():
                    raise CheckpointError(f"{root}: modules.json names a {kind} module in {entry.get('path')!r}, "
                                          f"but {folder / 'config.json'} is missing")
                if kind == "Transformer":
                    if folder.resolve() != root.resolve():
                        raise ValueError(f"{root}: the Transformer module is in {entry['path']!r}; "
                                         "this pipeline reads it from the directory root only")
                    st_config = _read_json(root / "sentence_bert_config.json")
                    max_len = st_config.get("max_seq_length")
                    self.do_lower_case = st_config.get("do_lower_case", False)
                    if (max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                                 or max_len < 1)) or not isinstance(self.do_lower_case, bool):
                        # ("false" was read as True)
                        raise CheckpointError(f"{root / 'sentence_bert_config.json'}: max_seq_length must be a "
                                              "positive int and do_lower_case a bool, got "
                                              f"{max_len!r} and {self.do_lower_case!r}")
                elif kind == "Pooling":
                    self.pooling = pooling_modes(_read_json(folder / "config.json"))
                    seen_pooling = True
                elif kind == "Dense":
                    self.post.append(load_dense(folder))
                elif kind == "Normalize":
                    self.post.append(l2_normalize)
                else:
                    raise ValueError(f"{root}: sentence-transformers module {entry['type']!r} is not supported "
                                     "(Transformer, Pooling, Dense, Normalize)")
            if not seen_pooling:
                raise ValueError(f"{root}: modules.json has no Pooling module")
            hidden = next((self.model.config.get(k) for k in ("hidden_size", "dim", "d_model", "n_embd")
                           if self.model.config.get(k)), None)
            width = len(self.pooling) * hidden if hidden else None
            for dense in (f for f in self.post if hasattr(f, "in_features")):
                if width is not None and dense.in_features != width:   # (was a numpy matmul error at the first call)
                    raise CheckpointError(f"{root}: a Dense module takes {dense.in_features} features but gets "
                                          f"{width} (pooling {'+'.join(self.pooling)} of {hidden})")
                width = dense.out_features
        limits = [x for x in (max_len, getattr(self.tokenizer, "model_max_length", None),
                              self.model.max_positions) if x is not None]
        self.max_seq_length = min(limits) if limits else None

    def _sanitize(self, options: dict) -> dict:
        out = {"normalize_embeddings": options.pop("normalize_embeddings", False)}
        if options:
            raise TypeError(f"{self.task} got unknown option(s) {sorted(options)}; known: normalize_embeddings")
        if not isinstance(out["normalize_embeddings"], (bool, np.bool_)):
            raise TypeError(f"normalize_embeddings must be a bool, got {out['normalize_embeddings']!r}")
        return out

    def preprocess(self, items, options):
        texts = [t.lower() for t in items] if self.do_lower_case else list(items)
        return self.tokenizer(texts, max_length=self.max_seq_length, truncation=True)

    def forward(self, encoded, options):
        arrays, n = self.pad_batch(self.model_inputs(encoded))
        return np.asarray(self.model(**arrays), np.float32)[:n]

    def postprocess(self, items, encoded, hidden, options):
        vectors = pool(hidden, np.asarray(encoded["attention_mask"])[:len(items)], self.pooling)
        for fn in self.post:
            vectors = fn(vectors)
        if options["normalize_embeddings"]:
            vectors = l2_normalize(vectors)
        return list(vectors.astype(np.float32))

    def _shape_output(self, results, single, options, inputs):
        return results[0] if single else np.stack(results)
