"""Greedy search, sampling and beam search as `lax.while_loop` programs.

The searches know no model. The caller runs the prefill and hands over:

  step_fn(tokens [rows] int32, cache, step [] int32) -> (logits [rows, vocab], cache)
      one decoding step: `tokens` is the last written token of every row, at
      column `step` of the token buffer; returns the next-token logits.
  first_logits [batch, vocab]: the prefill's logits for the first new token.
  cache: pytree from the prefill; every leaf has batch as its leading axis.
      Beams / returned sequences copy and reorder every leaf except a
      `jaxnlp.nn.cache.SOURCE` subtree (an encoder-decoder's cross-attention
      keys/values: one row per source, read by all its rows); beam search
      with `grouped_kv` keeps attention caches in place and reorders an
      index table instead (`jaxnlp.nn.cache.group_beams`).
  tokens [batch, max_len] int32: the buffer, prompt in columns [0, prompt_len)
      (left-padded for decoder-only models; the decoder start ids for
      encoder-decoders); later columns are overwritten.
  prompt_len: scalar, Python int or traced int32.
  config: static GenerationConfig, lengths absolute (`resolve_lengths`),
      config.max_length <= max_len; params: its dynamic values (`config.split()`).

Outputs follow transformers 5 (`_sample`, `_beam_search`): a row that emitted
eos is padded with pad_token_id (beam search: `config.beam_fill_token_id`), and
`length` says how many columns transformers' `generate` would return; columns
from `length` on hold the fill value.

Scores: greedy / sampling return, per row, the sum over generated tokens (eos
included, padding after it excluded) of log_softmax(processed scores) at the
chosen token — transformers' `compute_transition_scores(normalize_logits=True)`
summed. Beam search returns the length-penalised beam score, transformers'
`sequences_scores`.

`debug=True` runs the same cond_fn / body_fn in a Python loop (for prints and
breakpoints); the result is the same.

Sampling draws among candidates (`draw_tokens`): with top_k, the k best
tokens (`lax.top_k`, then top_p and a Gumbel-max draw over those k); with
top_p alone, the `TOP_P_CANDIDATES` best, when the nucleus lies among them.
The distribution is transformers' (TopK -> TopP warpers, then softmax): where
the candidates cannot show it exactly (a token outside them tied with the k-th,
a nucleus wider than the candidates) the step warps and draws over the whole
vocabulary instead, as before. On CPU this makes sampling with top_k (the
default, 50) cost about what greedy does: top_p sorted the whole vocabulary
every step, and so did top_k as written before (XLA compiles a top_k read at
one column into a sort), each two orders of magnitude slower at GPT-2's 50257
tokens than `lax.top_k` + a draw over k. Which tokens a given key draws
therefore depends on the path; the key still fixes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from jaxnlp.generation.config import DynamicParams, GenerationConfig
from jaxnlp.generation.processors import (NEG_INF, _top_p_with_threshold, process_scores, scale_temperature,
                                         top_k_filter)
from jaxnlp.nn.cache import group_beams, map_per_row, reorder_beams

__all__ = [
    "StepFn",
    "SearchOutput",
    "SamplingState",
    "BeamState",
    "greedy_search",
    "sample",
    "draw_tokens",
    "beam_search",
    "search",
    "add_beam_dim",
    "flatten_beam_dim",
    "unflatten_beam_dim",
    "gather_beams",
]

StepFn = Callable[[jax.Array, Any, jax.Array], tuple[jax.Array, Any]]

# transformers' "very large negative" for dead beams and empty finished slots.
_NEG = -1.0e9


@struct.dataclass(kw_only=True)
class SearchOutput:
    sequences: jax.Array   # [batch * num_return_sequences, max_len] int32, prompt included
    scores: jax.Array      # [batch * num_return_sequences] float32
    length: jax.Array      # [] int32: columns transformers would return (sequences[:, :length])


@struct.dataclass(kw_only=True)
class SamplingState:
    cur_len: jax.Array     # [] int32: columns written (prompt included); the next token goes here
    tokens: jax.Array      # [batch, max_len] int32
    done: jax.Array        # [batch] bool: emitted eos or reached max_length
    scores: jax.Array      # [batch] float32: summed log-probs of the chosen tokens
    cache: Any             # pytree, every leaf [batch, ...]
    rng: jax.Array | None  # PRNG key, split every step (None for greedy)


@struct.dataclass(kw_only=True)
class BeamState:
    cur_len: jax.Array           # [] int32: columns written in every running beam
    running_tokens: jax.Array    # [batch, beams, max_len] int32
    running_scores: jax.Array    # [batch, beams] float32: summed log-probs (-1e9 + x: dead)
    finished_tokens: jax.Array   # [batch, beams, max_len] int32: best finished, best first
    finished_scores: jax.Array   # [batch, beams] float32: length-penalised (-1e9: empty slot)
    finished_lengths: jax.Array  # [batch, beams] int32: columns of each finished sequence
    is_finished: jax.Array       # [batch, beams] bool: slot holds a finished sequence
    improvable: jax.Array        # [batch] bool: running beams may still beat the worst finished
    all_hit: jax.Array           # [] bool: every candidate of the last step hit eos / max_length
    cache: Any                   # pytree, leaves [batch * beams, ...] (attention caches grouped)
    rng: jax.Array | None        # PRNG key (beam sampling), else None


# ---------------------------------------------------------------- beam helpers


def add_beam_dim(x: jax.Array, num_beams: int) -> jax.Array:
    """[batch, ...] -> [batch, beams, ...] (copies)."""
    return jnp.broadcast_to(x[:, None], (x.shape[0], num_beams) + x.shape[1:])


def flatten_beam_dim(x: jax.Array) -> jax.Array:
    """[batch, beams, ...] -> [batch * beams, ...]."""
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def unflatten_beam_dim(x: jax.Array, batch_size: int, num_beams: int) -> jax.Array:
    """[batch * beams, ...] -> [batch, beams, ...]."""
    return x.reshape((batch_size, num_beams) + x.shape[1:])


def gather_beams(tree: Any, beam_indices: jax.Array) -> Any:
    """Every leaf [batch, old_beams, ...] -> [batch, new_beams, ...] picking
    `beam_indices [batch, new_beams]` per batch row."""
    batch_idx = jnp.arange(beam_indices.shape[0])[:, None]
    return jax.tree.map(lambda x: x[batch_idx, beam_indices], tree)


# -------------------------------------------------------------------- common

def first_argmax(x: jax.Array) -> jax.Array:
    """`jnp.argmax(x, axis=-1)` (the first maximum; a NaN counts as the
    maximum) as max, compare, min: XLA's CPU argmax is a (value, index) pair
    reduction that does not vectorise, 3-4x slower over a vocabulary."""
    top = jnp.max(x, axis=-1, keepdims=True)
    hit = (x == top) | jnp.isnan(x)
    iota = lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
    return jnp.min(jnp.where(hit, iota, x.shape[-1]), axis=-1)


def top_k_wide(x: jax.Array, k: int, chunk: int = 128) -> tuple[jax.Array, jax.Array]:
    """`lax.top_k(x, k)` over the last axis of a 2-D `x`, the same values and
    indices (ties: the lower index first), for wide rows such as beam search's
    [batch, beams * vocab]: XLA's CPU TopK over 240k columns costs ~2 ms a step.

    Cut each row into `chunk`-wide blocks (the tail past the last whole one
    kept aside), take the k blocks with the best maxima (ties: lower block) and
    run top_k over those blocks and the tail, in index order. Exact: a block
    holding one of the k best elements has fewer than k blocks ranked above it,
    each of whose best elements outranks that element. ~6x faster at 240k.
    top_k ranks NaN first: blocks rank a NaN as +inf (exact unless k blocks
    holding +inf precede it; log-probabilities never reach +inf)."""
    rows, n = x.shape
    n_blocks = n // chunk
    if n_blocks <= 2 * k:
        return tuple(lax.top_k(x, k))
    main = n_blocks * chunk
    blocks = x[:, :main].reshape(rows, n_blocks, chunk)
    best = jnp.max(jnp.where(jnp.isnan(blocks), jnp.inf, blocks), axis=-1)    # --> [rows, n_blocks]
    which = jnp.sort(lax.top_k(best, k)[1], axis=-1)                          # --> [rows, k], ascending
    picked = jnp.take_along_axis(blocks, which[:, :, None], axis=1).reshape(rows, k * chunk)
    ids = (which[:, :, None] * chunk + jnp.arange(chunk, dtype=which.dtype)).reshape(rows, k * chunk)
    if main < n:
        picked = jnp.concatenate([picked, x[:, main:]], axis=1)
        ids = jnp.concatenate([ids, jnp.broadcast_to(jnp.arange(main, n, dtype=ids.dtype), (rows, n - main))],
                              axis=1)
    values, pos = lax.top_k(picked, k)
    return values, jnp.take_along_axis(ids, pos, axis=-1)


def _run_loop(cond_fn, body_fn, state, debug: bool):
    if debug:
        while True:
            try:
                go_on = bool(cond_fn(state))
            except jax.errors.ConcretizationTypeError:
                raise ValueError("debug=True runs a Python loop over concrete values: call the search "
                                 "outside jax.jit (or with debug=False)") from None
            if not go_on:
                return state
            state = body_fn(state)
    return lax.while_loop(cond_fn, body_fn, state)


def _check_inputs(first_logits, tokens, prompt_len, config: GenerationConfig, params):
    if params is None:
        if config.is_static:
            raise ValueError("config is the static part of a split; pass params=config.dynamic")
        config.validate()
        params = config.dynamic
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be [batch, max_len], got shape {tokens.shape}")
    if first_logits.ndim != 2 or first_logits.shape[0] != tokens.shape[0]:
        raise ValueError(f"first_logits must be [batch={tokens.shape[0]}, vocab], got shape {first_logits.shape}")
    if config.max_length > tokens.shape[1]:
        raise ValueError(f"config.max_length ({config.max_length}) exceeds the token buffer "
                         f"({tokens.shape[1]} columns); call config.resolve_lengths() and size the buffer")
    if isinstance(prompt_len, int) and not 0 < prompt_len < config.max_length:
        raise ValueError(f"prompt_len ({prompt_len}) must be in [1, max_length={config.max_length}): "
                         "there is nothing to generate")
    return params


def _fill_after_prompt(tokens: jax.Array, prompt_len: jax.Array, fill: int) -> jax.Array:
    positions = jnp.arange(tokens.shape[-1])
    return jnp.where(positions >= prompt_len, jnp.asarray(fill, tokens.dtype), tokens)


def _is_eos(token: jax.Array, eos: tuple[int, ...]) -> jax.Array:
    if not eos:
        return jnp.zeros(token.shape, bool)
    return jnp.isin(token, jnp.asarray(eos, token.dtype))


def _write_column(buffer: jax.Array, column: jax.Array, values: jax.Array) -> jax.Array:
    """buffer[..., column] = values, column a scalar (traced)."""
    start = (0,) * (buffer.ndim - 1) + (column,)
    return lax.dynamic_update_slice(buffer, values[..., None].astype(buffer.dtype), start)


def _last_column(buffer: jax.Array, cur_len: jax.Array) -> jax.Array:
    return lax.dynamic_index_in_dim(buffer, cur_len - 1, axis=buffer.ndim - 1, keepdims=False)


# ---------------------------------------------------------- greedy / sampling

# top_p without top_k looks for the nucleus among this many most likely tokens first
TOP_P_CANDIDATES = 1024


def _gumbel_draw(scores: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One token per row from softmax(scores [rows, n]) (jax.random.categorical's Gumbel-max draw,
    with the faster argmax) -> (index [rows] int32, its log-probability [rows])."""
    index = first_argmax(scores + jax.random.gumbel(key, scores.shape, scores.dtype)).astype(jnp.int32)
    log_probs = jax.nn.log_softmax(scores, axis=-1)
    return index, jnp.take_along_axis(log_probs, index[:, None], axis=-1)[:, 0]


def draw_tokens(scores: jax.Array, key: jax.Array, *, top_k: int = 0, top_p_threshold: jax.Array | None = None,
                min_tokens_to_keep: int = 1) -> tuple[jax.Array, jax.Array]:
    """Sample one token per row from softmax(TopP(TopK(scores))), transformers'
    TopKLogitsWarper(top_k) -> TopPLogitsWarper(1 - top_p_threshold) -> multinomial.

    scores [rows, vocab] float32 (temperature already applied); top_k static
    (0: off); top_p_threshold: traced 1 - top_p, or None (off). Returns
    (tokens [rows] int32, log-probabilities [rows] of the warped softmax at them).

    The draw runs over the candidates (see the module docstring); where they
    cannot show the warped distribution exactly for some row (a token outside
    them tied with the k-th, a nucleus wider than them), it warps and draws
    over the whole vocabulary (`lax.cond`: only that branch runs)."""
    rows, vocab = scores.shape
    k = min(max(int(top_k), int(min_tokens_to_keep)), vocab) if top_k else vocab
    use_p = top_p_threshold is not None
    if k == vocab and not use_p:
        return _gumbel_draw(scores, key)
    m = k if k < vocab else min(vocab, TOP_P_CANDIDATES)

    # the m best over the reversed vocabulary: among equal scores the higher id ranks first, so the
    # candidates in reverse are the last m of the stable ascending sort TopPLogitsWarper makes
    values, index = lax.top_k(scores[:, ::-1], m)                                # --> [rows, m], descending
    ids = (vocab - 1 - index).astype(jnp.int32)
    # (the minimum, not values[:, -1:]: see top_k_filter)
    floor = jnp.min(values, axis=-1, keepdims=True)                               # --> [rows, 1]
    if k < vocab:
        # transformers keeps every token tied with the k-th: are they all candidates?
        exact = (jnp.sum(scores >= floor, axis=-1) <= k) | (floor[:, 0] == NEG_INF)
        probs, tail = jax.nn.softmax(values, axis=-1), jnp.zeros((rows, 1), values.dtype)
    else:
        # top_p alone: do the tokens left out hold no more than 1 - top_p (so none is in the nucleus)?
        probs = jnp.exp(values - jax.nn.logsumexp(scores, axis=-1, keepdims=True))
        tail = jnp.maximum(1.0 - jnp.sum(probs, axis=-1, keepdims=True), 0.0)      # --> [rows, 1]
        exact = (m == vocab) | (tail[:, 0] <= top_p_threshold)

    def among_candidates(scores, values, ids, probs, tail):
        if use_p:
            cumulative = tail + jnp.cumsum(probs[:, ::-1], axis=-1)               # ascending order
            remove = (cumulative <= top_p_threshold) & (jnp.arange(m) < m - min_tokens_to_keep)
            values = jnp.where(remove[:, ::-1], NEG_INF, values)
        j, log_prob = _gumbel_draw(values, key)
        return jnp.take_along_axis(ids, j[:, None], axis=-1)[:, 0], log_prob

    def whole_vocabulary(scores, values, ids, probs, tail):
        if k < vocab:
            scores = top_k_filter(scores, k, min_tokens_to_keep)
        if use_p:
            scores = _top_p_with_threshold(scores, top_p_threshold, min_tokens_to_keep)
        return _gumbel_draw(scores, key)

    return lax.cond(jnp.all(exact), among_candidates, whole_vocabulary, scores, values, ids, probs, tail)


def _sampling_loop(step_fn: StepFn, first_logits, cache, tokens, prompt_len, config: GenerationConfig,
                   params: DynamicParams | None, prompt_start, rng, debug: bool) -> SearchOutput:
    if config.num_beams != 1:
        raise ValueError(f"greedy_search / sample need num_beams == 1 (got {config.num_beams}); use beam_search")
    params = _check_inputs(first_logits, tokens, prompt_len, config, params)
    do_sample = config.do_sample
    if do_sample and rng is None:
        raise ValueError("sampling needs an rng key")
    if not do_sample and config.num_return_sequences != 1:
        raise ValueError(f"num_return_sequences must be 1 for greedy search (got {config.num_return_sequences})")
    eos = config.eos_ids
    pad = config.effective_pad_token_id
    max_length = config.max_length
    prompt_len = jnp.asarray(prompt_len, jnp.int32)

    repeats = config.num_return_sequences if do_sample else 1
    if repeats > 1:
        # transformers' _expand_inputs_for_generation: each row repeated in place
        rep = lambda x: jnp.repeat(x, repeats, axis=0)
        first_logits, tokens, cache = rep(first_logits), rep(tokens), map_per_row(rep, cache)
        prompt_start = None if prompt_start is None else rep(jnp.asarray(prompt_start))
    batch = tokens.shape[0]

    state = SamplingState(
        cur_len=prompt_len,
        tokens=_fill_after_prompt(tokens.astype(jnp.int32), prompt_len, pad if pad is not None else 0),
        done=jnp.zeros((batch,), bool),
        scores=jnp.zeros((batch,), jnp.float32),
        cache=cache,
        rng=rng if do_sample else None,
    )

    def select(state: SamplingState, logits: jax.Array, cache: Any) -> SamplingState:
        """Pick and write the next token of every row, from `logits` [batch, vocab]."""
        scores = process_scores(logits, state.tokens, state.cur_len, config, params,
                                prompt_len=prompt_len, prompt_start=prompt_start, warp=False)
        rng = state.rng
        if do_sample:
            rng, key = jax.random.split(rng)
            next_token, token_log_prob = draw_tokens(
                scale_temperature(scores, params.temperature), key, top_k=config.top_k,
                top_p_threshold=params.top_p_threshold if config.uses_top_p else None)   # --> [batch]
        else:
            next_token = first_argmax(scores).astype(jnp.int32)                 # --> [batch]
            log_probs = jax.nn.log_softmax(scores, axis=-1)
            token_log_prob = jnp.take_along_axis(log_probs, next_token[:, None], axis=-1)[:, 0]
        if eos:  # finished rows only get padding (transformers: only with an eos criterion)
            next_token = jnp.where(state.done, jnp.int32(pad), next_token)
        cur_len = state.cur_len + 1
        return SamplingState(
            cur_len=cur_len,
            tokens=_write_column(state.tokens, state.cur_len, next_token),
            done=state.done | _is_eos(next_token, eos) | (cur_len >= max_length),
            scores=state.scores + jnp.where(state.done, 0.0, token_log_prob),
            cache=cache,
            rng=rng,
        )

    def cond_fn(state: SamplingState) -> jax.Array:
        # Go on while some row has neither emitted eos nor reached max_length.
        return ~jnp.all(state.done)

    def body_fn(state: SamplingState) -> SamplingState:
        last = _last_column(state.tokens, state.cur_len)                         # --> [batch]
        logits, cache = step_fn(last, state.cache, state.cur_len - 1)
        return select(state, logits, cache)

    state = select(state, first_logits, state.cache)
    state = _run_loop(cond_fn, body_fn, state, debug)
    return SearchOutput(sequences=state.tokens, scores=state.scores, length=state.cur_len)


def greedy_search(step_fn: StepFn, first_logits: jax.Array, cache: Any, tokens: jax.Array,
                  prompt_len: jax.Array | int, config: GenerationConfig,
                  params: DynamicParams | None = None, *, prompt_start: jax.Array | None = None,
                  debug: bool = False) -> SearchOutput:
    """Greedy decoding (transformers `_sample` with do_sample=False).

    Returns SearchOutput(sequences [batch, max_len], scores [batch], length []).
    `prompt_start [batch]`: first non-pad prompt column per row (repetition
    penalty ignores left padding before it, as transformers 5 does)."""
    if config.do_sample:
        raise ValueError("greedy_search got a config with do_sample=True; use sample")
    return _sampling_loop(step_fn, first_logits, cache, tokens, prompt_len, config, params,
                          prompt_start, None, debug)


def sample(step_fn: StepFn, first_logits: jax.Array, cache: Any, tokens: jax.Array,
           prompt_len: jax.Array | int, config: GenerationConfig, rng: jax.Array,
           params: DynamicParams | None = None, *, prompt_start: jax.Array | None = None,
           debug: bool = False) -> SearchOutput:
    """Multinomial sampling (transformers `_sample` with do_sample=True); the key is
    split every step. With num_return_sequences = R > 1 every input row is repeated
    R times in place (row i -> rows i*R .. i*R+R-1) before sampling, so the output
    has batch * R rows."""
    if not config.do_sample:
        raise ValueError("sample got a config with do_sample=False; use greedy_search")
    return _sampling_loop(step_fn, first_logits, cache, tokens, prompt_len, config, params,
                          prompt_start, rng, debug)


# --------------------------------------------------------------- beam search


def beam_search(step_fn: StepFn, first_logits: jax.Array, cache: Any, tokens: jax.Array,
                prompt_len: jax.Array | int, config: GenerationConfig,
                params: DynamicParams | None = None, *, prompt_start: jax.Array | None = None,
                rng: jax.Array | None = None, debug: bool = False, grouped_kv: bool = False,
                shared_prefix: int = 0) -> SearchOutput:
    """Beam search (transformers 5 `_beam_search`; beam sampling when do_sample).

    Inputs are per batch row (first_logits [batch, vocab], cache leaves
    [batch, ...], tokens [batch, max_len]); they are copied to every beam here,
    and step_fn then sees rows = batch * beams (beam-major inside a batch row:
    row b * beams + k). Cache leaves are copied per beam and reordered every
    step with `x[beam_index]` on that flat axis, except a `SOURCE` part and,
    with `grouped_kv` (step_fn decodes with jaxnlp's MultiHeadAttention, as
    every jaxnlp model does), attention caches: `jaxnlp.nn.cache.group_beams`
    keeps those in place and the reorder moves a small index table instead;
    `shared_prefix` > 0 (a decoder-only prompt: cache slots no step writes)
    keeps those slots once per batch row (`group_beams(..., shared)`).

    Each step keeps the top 2k candidates (k = beams; (n_eos + 1) * k with
    several eos ids), so candidates that end in eos never starve the live beams.
    Finished candidates among the top k enter the finished set with score
    sum_log_probs / generated_length ** length_penalty, where generated_length
    counts the new tokens, eos included (cur_len + 1 - prompt_len). early_stopping
    True stops once every batch row holds `beams` finished sequences; False
    stops a row when its best running beam, at its current length, cannot beat
    its worst finished one; "never" does the same with max_length when
    length_penalty > 0. Returns the best num_return_sequences per row, best first:
    SearchOutput(sequences [batch * R, max_len], scores [batch * R], length []).
    """
    params = _check_inputs(first_logits, tokens, prompt_len, config, params)
    do_sample = config.do_sample
    if do_sample and rng is None:
        raise ValueError("beam sampling needs an rng key")
    num_beams = config.num_beams
    num_return = config.num_return_sequences
    if num_return > num_beams:
        raise ValueError(f"num_return_sequences ({num_return}) must be <= num_beams ({num_beams})")
    eos = config.eos_ids
    fill = config.beam_fill_token_id
    max_length = config.max_length
    early_stopping = config.early_stopping
    length_penalty = params.length_penalty
    prompt_len = jnp.asarray(prompt_len, jnp.int32)
    batch, max_len = tokens.shape
    vocab = first_logits.shape[-1]
    beams_to_keep = max(2, 1 + len(eos)) * num_beams
    if prompt_start is not None:
        prompt_start = flatten_beam_dim(add_beam_dim(jnp.asarray(prompt_start), num_beams))

    tokens = _fill_after_prompt(tokens.astype(jnp.int32), prompt_len, fill)
    running_tokens = add_beam_dim(tokens, num_beams)                             # --> [batch, beams, max_len]
    state = BeamState(
        cur_len=prompt_len,
        running_tokens=running_tokens,
        # only the first beam is live at first, so the k copies do not pick the same tokens
        running_scores=jnp.tile(jnp.where(jnp.arange(num_beams) == 0, 0.0, _NEG), (batch, 1)),
        finished_tokens=running_tokens,
        finished_scores=jnp.full((batch, num_beams), _NEG, jnp.float32),
        finished_lengths=jnp.full((batch, num_beams), prompt_len, jnp.int32),
        is_finished=jnp.zeros((batch, num_beams), bool),
        improvable=jnp.ones((batch,), bool),
        all_hit=jnp.zeros((), bool),
        cache=(group_beams(cache, num_beams, shared_prefix) if grouped_kv
               else map_per_row(lambda x: flatten_beam_dim(add_beam_dim(x, num_beams)), cache)),
        rng=rng if do_sample else None,
    )
    first_logits = flatten_beam_dim(add_beam_dim(first_logits, num_beams))      # --> [batch*beams, vocab]
    is_top_k = jnp.arange(beams_to_keep) < num_beams                             # [2k]: may finish this step

    def lp_pow(length: jax.Array) -> jax.Array:
        return length.astype(jnp.float32) ** length_penalty

    def select(state: BeamState, logits: jax.Array, cache: Any) -> BeamState:
        """One beam step from `logits` [batch*beams, vocab] of the running beams."""
        cur_len = state.cur_len
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        log_probs = process_scores(log_probs, flatten_beam_dim(state.running_tokens), cur_len, config,
                                   params, prompt_len=prompt_len, prompt_start=prompt_start,
                                   num_beams=num_beams)                          # --> [batch*beams, vocab]
        log_probs = unflatten_beam_dim(log_probs, batch, num_beams) + state.running_scores[:, :, None]
        flat = log_probs.reshape(batch, num_beams * vocab)                       # --> [batch, beams*vocab]

        # c. top 2k continuations over all beams (or 2k sampled without replacement)
        rng = state.rng
        if do_sample:
            rng, key = jax.random.split(rng)
            perturbed = flat + jax.random.gumbel(key, flat.shape)             # Gumbel-top-k sampling
            cand_idx = top_k_wide(perturbed, beams_to_keep)[1]
            cand_scores = jnp.take_along_axis(flat, cand_idx, axis=-1)
            order = jnp.argsort(-cand_scores, axis=-1, stable=True)
            cand_idx = jnp.take_along_axis(cand_idx, order, axis=-1)
            cand_scores = jnp.take_along_axis(cand_scores, order, axis=-1)
        else:
            cand_scores, cand_idx = top_k_wide(flat, beams_to_keep)            # --> [batch, 2k]
        cand_beam = cand_idx // vocab                                            # --> [batch, 2k]
        cand_token = (cand_idx % vocab).astype(jnp.int32)                        # --> [batch, 2k]
        cand_tokens = _write_column(gather_beams(state.running_tokens, cand_beam), cur_len, cand_token)
        # --> [batch, 2k, max_len]

        # d. which candidates end here
        hits = _is_eos(cand_token, eos) | (cur_len + 1 >= max_length)          # --> [batch, 2k]

        # e. best k candidates that go on
        run_scores_all = cand_scores + hits.astype(jnp.float32) * _NEG
        running_scores, keep = lax.top_k(run_scores_all, num_beams)             # --> [batch, beams]
        running_tokens = gather_beams(cand_tokens, keep)                        # --> [batch, beams, max_len]
        source = jnp.take_along_axis(cand_beam, keep, axis=-1)                  # --> [batch, beams]
        flat_source = (source + jnp.arange(batch)[:, None] * num_beams).reshape(-1)
        cache = reorder_beams(cache, flat_source)

        # f. finished candidates among the top k join the finished set if good enough
        just_finished = hits & is_top_k[None, :]                                # --> [batch, 2k]
        penalised = cand_scores / lp_pow(cur_len + 1 - prompt_len)
        if early_stopping is True:
            full = jnp.all(state.is_finished, axis=-1, keepdims=True)
            penalised = penalised + full.astype(jnp.float32) * _NEG
        penalised = penalised + (~state.improvable[:, None]).astype(jnp.float32) * _NEG
        penalised = penalised + (~just_finished).astype(jnp.float32) * _NEG
        merged_scores = jnp.concatenate([state.finished_scores, penalised], axis=1)   # --> [batch, 3k]
        finished_scores, best = lax.top_k(merged_scores, num_beams)                     # --> [batch, beams]
        merged = (
            jnp.concatenate([state.finished_tokens, cand_tokens], axis=1),
            jnp.concatenate([state.finished_lengths,
                             jnp.broadcast_to(cur_len + 1, cand_token.shape).astype(jnp.int32)], axis=1),
            jnp.concatenate([state.is_finished, just_finished], axis=1),
        )
        finished_tokens, finished_lengths, is_finished = gather_beams(merged, best)

        # g. can the running beams still improve on the finished ones?
        cur_len = cur_len + 1
        if early_stopping == "never":
            best_length = jnp.where(length_penalty > 0, max_length - prompt_len, cur_len - prompt_len)
        else:
            best_length = cur_len - prompt_len
        best_running = running_scores[:, :1] / lp_pow(best_length)              # --> [batch, 1]
        worst_finished = jnp.where(is_finished, jnp.min(finished_scores, axis=1, keepdims=True), _NEG)
        improvable = state.improvable & jnp.any(best_running > worst_finished, axis=-1)

        return BeamState(
            cur_len=cur_len,
            running_tokens=running_tokens,
            running_scores=running_scores,
            finished_tokens=finished_tokens,
            finished_scores=finished_scores,
            finished_lengths=finished_lengths,
            is_finished=is_finished,
            improvable=improvable,
            all_hit=jnp.all(hits),
            cache=cache,
            rng=rng,
        )

    def cond_fn(state: BeamState) -> jax.Array:
        # Stop when no batch row can improve its finished beams, or (early_stopping
        # True) every row holds `beams` finished ones, or every candidate of the
        # last step ended (eos / max_length), so no beam can go on.
        improvement_possible = jnp.any(state.improvable)
        exists_open_beam = ~(jnp.all(state.is_finished) & (early_stopping is True))
        return improvement_possible & exists_open_beam & ~state.all_hit

    def body_fn(state: BeamState) -> BeamState:
        last = flatten_beam_dim(_last_column(state.running_tokens, state.cur_len))   # --> [batch*beams]
        logits, cache = step_fn(last, state.cache, state.cur_len - 1)
        return select(state, logits, cache)

    state = select(state, first_logits, state.cache)
    state = _run_loop(cond_fn, body_fn, state, debug)

    sequences = flatten_beam_dim(state.finished_tokens[:, :num_return])           # --> [batch*R, max_len]
    scores = flatten_beam_dim(state.finished_scores[:, :num_return])              # --> [batch*R]
    length = jnp.max(state.finished_lengths[:, :num_return])
    return SearchOutput(sequences=sequences, scores=scores, length=length)


def search(step_fn: StepFn, first_logits: jax.Array, cache: Any, tokens: jax.Array,
           prompt_len: jax.Array | int, config: GenerationConfig,
           params: DynamicParams | None = None, *, rng: jax.Array | None = None,
           prompt_start: jax.Array | None = None, debug: bool = False,
           grouped_kv: bool = False, shared_prefix: int = 0) -> SearchOutput:
    """The search `config` asks for: beam search when num_beams > 1, else sampling
    when do_sample, else greedy. `rng` is needed only when sampling;
    `grouped_kv` and `shared_prefix` only for beam search (see `beam_search`)."""
    if config.num_beams > 1:
        return beam_search(step_fn, first_logits, cache, tokens, prompt_len, config, params,
                           prompt_start=prompt_start, rng=rng, debug=debug, grouped_kv=grouped_kv,
                           shared_prefix=shared_prefix)
    if config.do_sample:
        return sample(step_fn, first_logits, cache, tokens, prompt_len, config, rng, params,
                      prompt_start=prompt_start, debug=debug)
    return greedy_search(step_fn, first_logits, cache, tokens, prompt_len, config, params,
                         prompt_start=prompt_start, debug=debug)
