"""PyTorch state dict -> Flax parameter tree, through a short rename table.

Each model's weights.py gives an ordered list of `(pattern, replacement)`
regex rules. A rule whose replacement is None drops every key it matches
(tied copies, saved buffers), judged on the key as saved; the others rename,
applied in turn (a replacement may be a function of the match, as in re.sub). The renamed dotted key becomes a path in the
parameter tree: a numeric component joins the one before it (`layer.3` ->
`layer_3`), and the leaf is chosen by what the target module holds
(`weight` -> `kernel` (transposed, unless `keep_layout` matches: GPT-2's
Conv1D weights are saved [in, out]), `embedding` or `scale`). The target tree
comes from `jax.eval_shape`, so nothing is allocated to learn the shapes.

Every expected parameter must be found and every key used, else one
ConversionError lists all missing, unexpected and mis-shaped names together.
Keys of heads this task does not have (another task's classifier, a pooler)
are dropped with a log message, as transformers does.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from jaxnlp.errors import ConversionError

log = logging.getLogger(__name__)

Rule = tuple[str, Any]

# Old checkpoints name LayerNorm parameters gamma/beta.
_LEGACY = [(r"\.gamma$", ".weight"), (r"\.beta$", ".bias")]


def _flatten(tree: Mapping, prefix: tuple = ()) -> dict[tuple, Any]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, prefix + (k,)))
        else:
            out[prefix + (k,)] = v
    return out


def _unflatten(flat: Mapping[tuple, Any]) -> dict:
    tree: dict = {}
    for path, v in flat.items():
        node = tree
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = v
    return tree


def _to_path(key: str) -> list[str]:
    path: list[str] = []
    for part in key.split("."):
        if part.isdigit() and path:
            path[-1] = f"{path[-1]}_{part}"
        else:
            path.append(part)
    return path


def _leaf(module_path: tuple, leaf: str, expected: Mapping[tuple, Any]) -> tuple[tuple, bool]:
    """Target path for a torch leaf name, and whether to transpose."""
    if module_path + (leaf,) in expected:           # a bare nn.Parameter
        return module_path + (leaf,), False
    if leaf == "weight":
        for name, transpose in (("kernel", True), ("embedding", False), ("scale", False)):
            if module_path + (name,) in expected:
                return module_path + (name,), transpose
    return module_path + (leaf,), False


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray],
    expected_tree: Mapping,
    rules: Sequence[Rule],
    *,
    prefix: str | None = None,
    backbone_children: Iterable[str] = (),
    keep_layout: Sequence[str] = (),
    source: str = "checkpoint",
) -> dict:
    """Rename, reshape and check `state_dict` against `expected_tree`
    (a tree of arrays or ShapeDtypeStructs); returns a nested dict of numpy
    arrays with exactly the expected paths and shapes."""
    expected = _flatten(expected_tree)
    backbone_children = set(backbone_children)
    compiled = [(re.compile(p), r) for p, r in _LEGACY + list(rules)]
    top_level = {p[0] for p in expected}
    keep = [re.compile(p) for p in keep_layout]   # weights saved [in, out] already (GPT-2's Conv1D)

    found: dict[tuple, np.ndarray] = {}
    origin: dict[tuple, str] = {}
    unexpected, foreign, mis_shaped = [], [], []
    for key, value in state_dict.items():
        new = key
        if prefix and key.split(".", 1)[0] in backbone_children:
            new = f"{prefix}.{new}"             # a bare backbone checkpoint
        if any(repl is None and pattern.search(new) for pattern, repl in compiled):
            continue
        for pattern, repl in compiled:
            if repl is not None:
                new = pattern.sub(repl, new)
        path = _to_path(new)
        target, transpose = _leaf(tuple(path[:-1]), path[-1], expected)
        if target not in expected:
            (unexpected if path[0] in top_level else foreign).append(key)
            continue
        array = np.asarray(value)
        want = tuple(expected[target].shape)
        if transpose and array.ndim == 2 and not any(p.search(key) for p in keep):
            array, want_saved = array.T, want[::-1]   # name both shapes in the checkpoint's layout
        else:
            want_saved = want
        if array.shape != want:
            mis_shaped.append(f"{key}: checkpoint {tuple(np.shape(value))} vs expected {want_saved} "
                              f"({'/'.join(target)})")
            continue
        if target in found:
            unexpected.append(f"{key} (duplicate of {origin[target]})")
            continue
        found[target] = array
        origin[target] = key

    missing = ["/".join(p) for p in expected if p not in found]
    if missing or unexpected or mis_shaped:
        parts = [f"{source} does not match the model's parameters:"]
        if missing:
            parts.append(f"  missing ({len(missing)}): " + ", ".join(sorted(missing)))
        if unexpected:
            parts.append(f"  unexpected ({len(unexpected)}): " + ", ".join(sorted(unexpected)))
        if mis_shaped:
            parts.append(f"  wrong shape ({len(mis_shaped)}): " + "; ".join(mis_shaped))
        raise ConversionError("\n".join(parts))
    if foreign:
        log.info("%s: %d weights of other heads not used: %s", source, len(foreign),
                 ", ".join(sorted(foreign)[:10]) + (" ..." if len(foreign) > 10 else ""))
    return _unflatten(found)


def flatten_params(tree: Mapping) -> dict[str, Any]:
    """'/'-joined paths -> leaves (for comparisons and the converted format)."""
    return {"/".join(k): v for k, v in _flatten(tree).items()}
