"""GenerationConfig: transformers' generation options as a frozen, hashable dataclass.

Field names and defaults are transformers 5's (`GenerationConfig`
with `_get_default_generation_params` applied). A config is hashable, so the
search functions take it as a static argument of `jax.jit`. Four options are
values rather than program structure (temperature, top_p, repetition_penalty,
length_penalty): `config.split()` moves them into a `DynamicParams` pytree of
traced scalars, so changing them between calls does not recompile (the one
structural bit kept static: whether top_p is < 1, see `static`).

    static, params = config.split()
    run = jax.jit(greedy_search, static_argnames=("step_fn", "config"))
    run(step_fn, first_logits, cache, tokens, prompt_len, config=static, params=params)
"""

from __future__ import annotations

import dataclasses
import math
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = ["GenerationConfig", "DynamicParams", "FrozenMapping", "DYNAMIC_FIELDS"]

# Options whose value (not presence) is all that changes: traced, not static.
DYNAMIC_FIELDS = ("temperature", "top_p", "repetition_penalty", "length_penalty")

# Bookkeeping keys transformers writes into generation_config.json; not options.
_METADATA_KEYS = frozenset({"_from_model_config", "_commit_hash", "_original_object_hash",
                            "transformers_version"})

# transformers options that change the output but that the searches here do not
# implement, with the values that leave the output unchanged.
_UNSUPPORTED_NEUTRAL = {
    "typical_p": (None, 1.0), "min_p": (None,), "top_h": (None,),
    "epsilon_cutoff": (None, 0.0), "eta_cutoff": (None, 0.0),
    "encoder_repetition_penalty": (None, 1.0), "encoder_no_repeat_ngram_size": (None, 0),
    "renormalize_logits": (None, False), "remove_invalid_values": (None, False),
    "sequence_bias": (None,), "exponential_decay_length_penalty": (None,),
    "guidance_scale": (None, 1.0), "num_beam_groups": (None, 1), "diversity_penalty": (None, 0.0),
    "penalty_alpha": (None,), "constraints": (None,), "force_words_ids": (None,),
    "stop_strings": (None,), "max_time": (None,), "forced_decoder_ids": (None,),
    "watermarking_config": (None,), "prompt_lookup_num_tokens": (None,),
}

# Sub-configs of config.json whose generation fields fill unset ones (transformers'
# `GenerationConfig.from_model_config`).
_DECODER_SUBCONFIGS = ("decoder", "generator", "text_config")


def _freeze(value: Any) -> Any:
    """JSON value -> hashable value: lists become tuples, dicts FrozenMappings."""
    if isinstance(value, Mapping):
        return FrozenMapping({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class FrozenMapping(Mapping):
    """An immutable, hashable dict (the `extra` options of a GenerationConfig)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | None = None):
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items(), key=lambda kv: kv[0])))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._data) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"


@struct.dataclass(kw_only=True)
class DynamicParams:
    """The traced option values; a pytree of float32 scalars."""

    temperature: jax.Array          # [] float32
    top_p: jax.Array                # [] float32
    top_p_threshold: jax.Array      # [] float32: float32(1 - top_p) computed in float64, as torch does
    repetition_penalty: jax.Array   # [] float32
    length_penalty: jax.Array       # [] float32


def _is_token_id(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    """transformers' generation options (same names, same defaults).

    Lengths follow transformers: `max_length` counts the prompt (decoder-only)
    or the decoder start token (encoder-decoder); `resolve_lengths` folds
    `max_new_tokens` / `min_new_tokens` in. Token lists are tuples.
    `set_fields` records which options were given explicitly (transformers
    treats an unset `max_length` as "20 new tokens").
    """

    # lengths
    max_length: int = 20
    max_new_tokens: int | None = None
    min_length: int = 0
    min_new_tokens: int | None = None
    early_stopping: bool | str = False          # True, False or "never"
    # strategy
    do_sample: bool = False
    num_beams: int = 1
    use_cache: bool = True
    # logits processing
    temperature: float | None = 1.0
    top_k: int = 50
    top_p: float | None = 1.0
    repetition_penalty: float | None = 1.0
    no_repeat_ngram_size: int = 0
    length_penalty: float | None = 1.0
    bad_words_ids: tuple[tuple[int, ...], ...] | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | tuple[int, ...] | None = None
    suppress_tokens: tuple[int, ...] | None = None
    begin_suppress_tokens: tuple[int, ...] | None = None
    # output
    num_return_sequences: int = 1
    # special tokens
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    decoder_start_token_id: int | tuple[int, ...] | None = None
    # bookkeeping
    extra: FrozenMapping = dataclasses.field(default_factory=FrozenMapping)
    set_fields: frozenset[str] = frozenset()

    def __post_init__(self):
        # lists (from JSON or a caller) become tuples so the config stays hashable
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                if not isinstance(value, FrozenMapping):
                    object.__setattr__(self, "extra", _freeze(value or {}))
            elif f.name == "set_fields":
                object.__setattr__(self, "set_fields", frozenset(value))
            elif isinstance(value, (list, tuple, Mapping)):
                object.__setattr__(self, f.name, _freeze(value))

    # ------------------------------------------------------------------ build

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "set_fields"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GenerationConfig":
        """Known options by name (None means default); other keys go to `extra`.

        Metadata keys transformers writes (`transformers_version`, ...) are dropped.
        """
        names = set(cls.option_names())
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                if value is not None:
                    known[key] = _freeze(value)
            elif key not in _METADATA_KEYS and key not in ("extra", "set_fields"):
                extra[key] = _freeze(value)
        return cls(**known, extra=FrozenMapping(extra), set_fields=frozenset(known))

    @classmethod
    def from_model_config(cls, model_config: Mapping[str, Any]) -> "GenerationConfig":
        """From a config.json dict, like transformers' `GenerationConfig.from_model_config`:
        only generation options are taken (architecture fields are not kept), and
        options still unset are filled from a decoder sub-config if there is one."""
        names = set(cls.option_names())
        data = {k: v for k, v in model_config.items() if k in names and v is not None}
        for sub_name in _DECODER_SUBCONFIGS:
            sub = model_config.get(sub_name)
            if isinstance(sub, Mapping) and sub:
                for k, v in sub.items():
                    if k in names and v is not None and k not in data:
                        data[k] = v
                break
        return cls.from_dict(data)

    @classmethod
    def from_model_dir(cls, path: str | os.PathLike) -> "GenerationConfig":
        """generation_config.json of a checkpoint folder when it has one, else the
        generation options of its config.json (transformers does the same)."""
        path = os.fspath(path)
        gen_path = os.path.join(path, "generation_config.json")
        if os.path.isfile(gen_path):
            return cls.from_dict(_read_json(gen_path))
        cfg_path = os.path.join(path, "config.json")
        if os.path.isfile(cfg_path):
            return cls.from_model_config(_read_json(cfg_path))
        raise FileNotFoundError(f"{path!r} has neither generation_config.json nor config.json")

    def replace(self, **overrides: Any) -> "GenerationConfig":
        """A copy with options replaced. Unknown names raise ValueError. A value of
        None resets an option whose default is not None (as passing None to
        transformers' `generate` leaves it unset)."""
        names = self.option_names()
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(
                f"unknown generation option(s) {', '.join(map(repr, unknown))}; "
                f"known options: {', '.join(names)}")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        set_fields = set(self.set_fields)
        for key, value in overrides.items():
            if value is None and defaults[key] is not None:
                changes[key] = defaults[key]
                set_fields.discard(key)
            else:
                changes[key] = _freeze(value)
                set_fields.add(key)
        return dataclasses.replace(self, **changes, set_fields=frozenset(set_fields))

    def to_dict(self) -> dict[str, Any]:
        """Options and extras as a JSON-able dict (tuples become lists)."""
        def thaw(v):
            if isinstance(v, Mapping):
                return {k: thaw(x) for k, x in v.items()}
            if isinstance(v, tuple):
                return [thaw(x) for x in v]
            return v
        out = {name: thaw(getattr(self, name)) for name in self.option_names()}
        out.update(thaw(self.extra))
        return out

    # ------------------------------------------------------------ validation

    def validate(self) -> "GenerationConfig":
        """Raise ValueError naming the offending option; return self when fine."""
        if self.is_static:
            raise ValueError("validate() the full GenerationConfig before split(); this one is a static part")

        def fail(name: str, why: str):
            raise ValueError(f"generation option `{name}` {why} (got {getattr(self, name)!r})")

        def check_int(name: str, low: int, allow_none: bool = False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                fail(name, f"must be an integer >= {low}")

        check_int("max_length", 1)
        check_int("max_new_tokens", 1, allow_none=True)
        check_int("min_length", 0)
        check_int("min_new_tokens", 0, allow_none=True)
        check_int("num_beams", 1)
        check_int("top_k", 0)
        check_int("no_repeat_ngram_size", 0)
        check_int("num_return_sequences", 1)
        if self.early_stopping not in (True, False, "never"):
            fail("early_stopping", 'must be True, False or "never"')
        for name in ("temperature", "top_p", "repetition_penalty", "length_penalty"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool):
                fail(name, "must be a number")
            if not math.isfinite(v):
                fail(name, "must be finite")
        if self.do_sample and not self.temperature > 0:
            fail("temperature", "must be > 0 when sampling (use do_sample=False for greedy)")
        if not 0 < self.top_p <= 1:
            fail("top_p", "must be in (0, 1]")
        if not self.repetition_penalty > 0:
            fail("repetition_penalty", "must be > 0")
        if self.num_beams == 1 and not self.do_sample and self.num_return_sequences > 1:
            fail("num_return_sequences", "must be 1 for greedy search (set num_beams > 1 or do_sample=True)")
        if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
            fail("num_return_sequences", f"must be <= num_beams ({self.num_beams}) for beam search")
        for name in ("eos_token_id", "forced_eos_token_id", "decoder_start_token_id"):
            v = getattr(self, name)
            ids = v if isinstance(v, tuple) else (v,)
            if v is not None and (not ids or not all(_is_token_id(i) for i in ids)):
                fail(name, "must be a token id >= 0 or a non-empty tuple of them")
        for name in ("pad_token_id", "bos_token_id", "forced_bos_token_id"):
            v = getattr(self, name)
            if v is not None and not _is_token_id(v):
                fail(name, "must be a token id >= 0")
        for name in ("suppress_tokens", "begin_suppress_tokens"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, tuple) and all(_is_token_id(i) for i in v)):
                fail(name, "must be a tuple of token ids >= 0")
        if self.bad_words_ids is not None:
            ok = (isinstance(self.bad_words_ids, tuple) and len(self.bad_words_ids) > 0
                  and all(isinstance(w, tuple) and len(w) > 0 and all(_is_token_id(i) for i in w)
                          for w in self.bad_words_ids))
            if not ok:
                fail("bad_words_ids", "must be a non-empty tuple of non-empty tuples of token ids >= 0")
        return self

    def check_supported(self) -> "GenerationConfig":
        """Raise ValueError naming any transformers option kept in `extra` that is
        set to a value that would change the output, since the searches here do not
        implement it (rather than silently ignore it). Return self when fine."""
        active = [name for name, neutral in _UNSUPPORTED_NEUTRAL.items()
                  if name in self.extra and self.extra[name] not in neutral]
        if active:
            raise ValueError(
                "generation option(s) not supported by jaxnlp: "
                + ", ".join(f"`{n}`={self.extra[n]!r}" for n in active))
        return self

    # ------------------------------------------------------- derived values

    @property
    def eos_ids(self) -> tuple[int, ...]:
        """eos_token_id as a tuple (empty when unset)."""
        if self.eos_token_id is None:
            return ()
        return tuple(self.eos_token_id) if isinstance(self.eos_token_id, tuple) else (self.eos_token_id,)

    @property
    def effective_pad_token_id(self) -> int | None:
        """pad_token_id, else the first eos id (transformers' `_prepare_special_tokens`)."""
        if self.pad_token_id is not None:
            return self.pad_token_id
        return self.eos_ids[0] if self.eos_ids else None

    @property
    def beam_fill_token_id(self) -> int:
        """What transformers' beam search writes after a finished beam:
        `pad_token_id or eos_token_id[0] if eos_token_id is not None else -1`.
        Note the `or`: a pad id of 0 (T5, ...) is falsy, so such models get the
        first eos id instead; we copy that for identical outputs."""
        if not self.eos_ids:
            return -1
        pad = self.effective_pad_token_id
        return pad if pad else self.eos_ids[0]

    def resolve_lengths(self, input_length: int, *, max_position_embeddings: int | None = None
                        ) -> "GenerationConfig":
        """Absolute max_length / min_length for a prompt of `input_length` tokens
        (decoder-only: the padded prompt; encoder-decoder: the decoder start ids),
        as transformers' `_prepare_generated_length`: max_new_tokens wins; an unset
        max_length means 20 new tokens (capped at max_position_embeddings);
        min_new_tokens wins over min_length. Idempotent."""
        max_length, min_length = self.max_length, self.min_length
        if self.max_new_tokens is not None:
            max_length = self.max_new_tokens + input_length
        elif "max_length" not in self.set_fields:
            max_length = self.max_length + input_length
            if max_position_embeddings is not None:
                max_length = min(max_length, max_position_embeddings)
        if self.min_new_tokens is not None:
            min_length = self.min_new_tokens + input_length
        return dataclasses.replace(self, max_length=max_length, min_length=min_length, max_new_tokens=None,
                                   set_fields=self.set_fields | {"max_length"})

    # ------------------------------------------------- static / dynamic split

    @property
    def is_static(self) -> bool:
        """True for the static part returned by `split()` (dynamic values removed)."""
        return self.temperature is None

    @property
    def static(self) -> "GenerationConfig":
        """This config without the dynamic option values (hashable; what the
        program depends on). Search functions then need `params=config.dynamic`.

        The dynamic fields become None, except `top_p` when it is 1.0: transformers
        then skips the top-p warper altogether (with 1.0 it would still turn
        probability-0 tokens into -inf, which matters for beam sampling), so
        "top-p on or off" is part of the program and only its value is traced.
        Temperature and repetition penalty are always applied: at 1.0 they are
        exact identities."""
        changes = {name: None for name in DYNAMIC_FIELDS}
        if self.top_p is not None and self.top_p >= 1.0:
            changes["top_p"] = 1.0
        return dataclasses.replace(self, **changes, set_fields=frozenset())

    @property
    def uses_top_p(self) -> bool:
        """Whether the top-p warper runs (when sampling): top_p < 1, or unknown (static)."""
        return self.top_p is None or self.top_p < 1.0

    @property
    def dynamic(self) -> DynamicParams:
        """The dynamic option values as traced-friendly float32 scalars."""
        if self.is_static:
            raise ValueError("this GenerationConfig is a static part; it holds no dynamic values")
        f32 = lambda x: jnp.asarray(np.float32(x))
        return DynamicParams(
            temperature=f32(self.temperature),
            top_p=f32(self.top_p),
            top_p_threshold=f32(1.0 - float(self.top_p)),
            repetition_penalty=f32(self.repetition_penalty),
            length_penalty=f32(self.length_penalty),
        )

    def split(self) -> tuple["GenerationConfig", DynamicParams]:
        """(static part, dynamic params); validates first."""
        self.validate()
        return self.static, self.dynamic


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data
