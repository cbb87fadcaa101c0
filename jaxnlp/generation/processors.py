"""Logits processors as pure jnp functions, one per transformers processor.

Every function maps `scores [batch, vocab] float32` to new scores and matches
the transformers 5 class named in its docstring, element for element
(-inf where it puts -inf). Token history lives in a fixed buffer
`tokens [batch, max_len] int32` of which the first `cur_len` columns are
written: that prefix is transformers' `input_ids` (prompt, left padding
included, then the generated tokens). `cur_len` is a scalar (all rows advance
together) and may be traced; so may `prompt_len`.

`process_scores` chains them in the order of transformers'
`GenerationMixin._get_logits_processor`:

    repetition_penalty -> no_repeat_ngram -> bad_words -> min_length
    -> min_new_tokens -> forced_bos -> forced_eos -> suppress_tokens
    -> begin_suppress_tokens -> [sampling only: temperature -> top_k -> top_p]

Greedy and sampling apply them to the raw logits; beam search to their
log_softmax (as transformers does).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxnlp.generation.config import DynamicParams, GenerationConfig

__all__ = [
    "apply_repetition_penalty",
    "ban_repeated_ngrams",
    "ban_bad_words",
    "enforce_min_length",
    "enforce_min_new_tokens",
    "force_bos",
    "force_eos",
    "suppress",
    "suppress_at_begin",
    "scale_temperature",
    "top_k_filter",
    "top_p_filter",
    "process_scores",
]

NEG_INF = -jnp.inf


def _token_mask(ids: jax.Array, valid: jax.Array, vocab_size: int) -> jax.Array:
    """[batch, n] ids (where valid) -> [batch, vocab] bool, True at every listed id.

    Invalid or out-of-range ids go to a spare column past the vocab that is
    dropped (transformers' trick)."""
    batch = ids.shape[0]
    ids = jnp.where(valid & (ids >= 0) & (ids < vocab_size), ids, vocab_size)
    mask = jnp.zeros((batch, vocab_size + 1), bool)
    mask = mask.at[jnp.arange(batch)[:, None], ids].set(True)
    return mask[:, :vocab_size]                                       # --> [batch, vocab]


def _vocab_mask(token_ids: Sequence[int], vocab_size: int) -> jax.Array:
    """Static ids -> [vocab] bool."""
    return jnp.isin(jnp.arange(vocab_size), jnp.asarray(tuple(token_ids), jnp.int32))


def _column(tokens: jax.Array, index: jax.Array) -> jax.Array:
    """tokens[:, index] for a scalar (possibly traced, possibly out of range) index."""
    index = jnp.clip(index, 0, tokens.shape[1] - 1)
    return lax.dynamic_index_in_dim(tokens, index, axis=1, keepdims=False)   # --> [batch]


# ------------------------------------------------------------------ processors


def apply_repetition_penalty(scores: jax.Array, tokens: jax.Array, cur_len: jax.Array | int,
                             penalty: jax.Array | float,
                             prompt_start: jax.Array | None = None) -> jax.Array:
    """RepetitionPenaltyLogitsProcessor(penalty, prompt_ignore_length=prompt_start).

    Every token id present in `tokens[:, :cur_len]` has its score divided by
    `penalty` (multiplied where negative), once however often it occurs.
    `prompt_start [batch]` is the first non-pad column of a left-padded prompt:
    columns before it are ignored. transformers 5's `generate` passes exactly that
    (`attention_mask.argmax(1)`) for decoder-only models, so left padding is not
    penalised; for encoder-decoders (no decoder mask) it passes nothing: use
    `prompt_start=None`, which penalises every written column (the pad id too,
    if it was written)."""
    batch, max_len = tokens.shape
    vocab = scores.shape[-1]
    rows = max(batch, scores.shape[0])            # a single row on either side broadcasts
    positions = jnp.arange(max_len)[None, :]
    valid = positions < cur_len                                       # [batch | 1, max_len]
    if prompt_start is not None:
        valid = valid & (positions >= jnp.asarray(prompt_start)[:, None])
    valid = jnp.broadcast_to(valid, (rows, max_len))
    tokens = jnp.broadcast_to(tokens, (rows, max_len))
    scores = jnp.broadcast_to(scores, (rows, vocab))
    # only the written ids' scores change: gather them, penalise, write them back
    # (a [rows, vocab] mask and select cost ~1-2% of a CPU beam step at 50k tokens);
    # an id written twice gets the same value twice
    ids = jnp.where(valid & (tokens >= 0) & (tokens < vocab), tokens, vocab)   # vocab: dropped
    got = jnp.take_along_axis(scores, jnp.minimum(ids, vocab - 1), axis=1)    # [rows, max_len]
    penalized = jnp.where(got < 0, got * penalty, got / penalty)
    # (the dtype of scores and penalty together, as `jnp.where` over the whole row gave)
    return scores.astype(penalized.dtype).at[jnp.arange(rows)[:, None], ids].set(penalized, mode="drop")


def ban_repeated_ngrams(scores: jax.Array, tokens: jax.Array, cur_len: jax.Array | int,
                        ngram_size: int) -> jax.Array:
    """NoRepeatNGramLogitsProcessor(ngram_size).

    A window `tokens[:, s:s+n]` (fully written: s + n <= cur_len) whose first n-1
    tokens equal the last n-1 written tokens bans its last token. Vectorised over
    all window starts; the only Python loop is over the n (static) offsets."""
    n = int(ngram_size)
    batch, max_len = tokens.shape
    if n <= 0:
        raise ValueError(f"ngram_size must be > 0, got {n}")
    padded = jnp.pad(tokens, ((0, 0), (0, n)))                       # [batch, max_len + n]
    starts = jnp.arange(max_len)[None, :]                            # window start s
    match = starts + n <= cur_len                                     # [1, max_len]; cur_len < n: none
    for j in range(n - 1):
        prefix_j = _column(tokens, cur_len - (n - 1) + j)            # [batch]
        match = match & (padded[:, j:j + max_len] == prefix_j[:, None])
    last = padded[:, n - 1:n - 1 + max_len]                           # token ending window s
    match = jnp.broadcast_to(match, tokens.shape)
    banned = _token_mask(last, match, scores.shape[-1])
    return jnp.where(banned, NEG_INF, scores)


def ban_bad_words(scores: jax.Array, tokens: jax.Array, cur_len: jax.Array | int,
                  bad_words_ids: Sequence[Sequence[int]],
                  eos_token_id: int | Sequence[int] | None = None) -> jax.Array:
    """NoBadWordsLogitsProcessor(bad_words_ids, eos_token_id).

    One-token entries are always banned; a longer entry bans its last token when
    its prefix equals the last written tokens. Entries that are just an eos id are
    dropped (transformers does the same). Token ids must be < vocab."""
    vocab = scores.shape[-1]
    eos = () if eos_token_id is None else (
        (eos_token_id,) if isinstance(eos_token_id, int) else tuple(eos_token_id))
    words = [tuple(int(t) for t in w) for w in bad_words_ids
             if not (len(w) == 1 and int(w[0]) in eos)]
    too_big = sorted({t for w in words for t in w if t >= vocab})
    if too_big:
        raise ValueError(f"bad_words_ids hold token ids {too_big} outside the vocabulary of size {vocab}")
    single = [w[0] for w in words if len(w) == 1]
    banned = jnp.zeros(scores.shape, bool)
    if single:
        banned = banned | _vocab_mask(single, vocab)[None, :]
    vocab_ids = jnp.arange(vocab)
    for w in words:
        if len(w) == 1:
            continue
        m = len(w) - 1
        match = jnp.asarray(cur_len) >= m                              # prefix longer than context: skip
        for j, t in enumerate(w[:-1]):
            match = match & (_column(tokens, cur_len - m + j) == t)   # --> [batch]
        banned = banned | (match[:, None] & (vocab_ids == w[-1])[None, :])
    return jnp.where(banned, NEG_INF, scores)


def enforce_min_length(scores: jax.Array, cur_len: jax.Array | int, min_length: int,
                       eos_token_id: int | Sequence[int]) -> jax.Array:
    """MinLengthLogitsProcessor(min_length, eos_token_id): eos -inf while cur_len < min_length."""
    eos = _vocab_mask(_as_tuple(eos_token_id), scores.shape[-1])
    return jnp.where(eos[None, :] & (jnp.asarray(cur_len) < min_length), NEG_INF, scores)


def enforce_min_new_tokens(scores: jax.Array, cur_len: jax.Array | int, prompt_len: jax.Array | int,
                           min_new_tokens: int, eos_token_id: int | Sequence[int]) -> jax.Array:
    """MinNewTokensLengthLogitsProcessor(prompt_len, min_new_tokens, eos_token_id)."""
    eos = _vocab_mask(_as_tuple(eos_token_id), scores.shape[-1])
    too_short = jnp.asarray(cur_len) - prompt_len < min_new_tokens
    return jnp.where(eos[None, :] & too_short, NEG_INF, scores)


def force_bos(scores: jax.Array, cur_len: jax.Array | int, bos_token_id: int) -> jax.Array:
    """ForcedBOSTokenLogitsProcessor(bos_token_id): when cur_len == 1 (one decoder start
    token written), only `bos_token_id` is allowed (score 0, the rest -inf)."""
    forced = jnp.where(jnp.arange(scores.shape[-1]) == bos_token_id, 0.0, NEG_INF).astype(scores.dtype)
    return jnp.where(jnp.asarray(cur_len) == 1, forced[None, :], scores)


def force_eos(scores: jax.Array, cur_len: jax.Array | int, max_length: jax.Array | int,
              eos_token_id: int | Sequence[int]) -> jax.Array:
    """ForcedEOSTokenLogitsProcessor(max_length, eos_token_id): when cur_len == max_length - 1
    only the eos ids are allowed (score 0, the rest -inf)."""
    eos = _vocab_mask(_as_tuple(eos_token_id), scores.shape[-1])
    forced = jnp.where(eos, 0.0, NEG_INF).astype(scores.dtype)
    return jnp.where(jnp.asarray(cur_len) == max_length - 1, forced[None, :], scores)


def suppress(scores: jax.Array, token_ids: Sequence[int]) -> jax.Array:
    """SuppressTokensLogitsProcessor(token_ids): always -inf."""
    return jnp.where(_vocab_mask(token_ids, scores.shape[-1])[None, :], NEG_INF, scores)


def suppress_at_begin(scores: jax.Array, cur_len: jax.Array | int, begin_index: jax.Array | int,
                      token_ids: Sequence[int]) -> jax.Array:
    """SuppressTokensAtBeginLogitsProcessor(token_ids, begin_index): -inf when cur_len == begin_index."""
    mask = _vocab_mask(token_ids, scores.shape[-1])[None, :] & (jnp.asarray(cur_len) == begin_index)
    return jnp.where(mask, NEG_INF, scores)


def scale_temperature(scores: jax.Array, temperature: jax.Array | float) -> jax.Array:
    """TemperatureLogitsWarper(temperature)."""
    return scores / temperature


def top_k_filter(scores: jax.Array, top_k: int, min_tokens_to_keep: int = 1) -> jax.Array:
    """TopKLogitsWarper(top_k, min_tokens_to_keep): scores below the k-th largest -> -inf
    (ties with the k-th are kept). `top_k` is static."""
    k = min(max(int(top_k), int(min_tokens_to_keep)), scores.shape[-1])
    # the minimum of the k values, not `[..., -1:]`: XLA's CPU backend turns a top_k whose values are
    # reduced whole into its fast TopK call, a top_k sliced to one column into a full sort (~100x slower)
    kth = jnp.min(lax.top_k(scores, k)[0], axis=-1, keepdims=True)   # --> [batch, 1]
    return jnp.where(scores < kth, NEG_INF, scores)


def top_p_filter(scores: jax.Array, top_p: jax.Array | float, min_tokens_to_keep: int = 1) -> jax.Array:
    """TopPLogitsWarper(top_p, min_tokens_to_keep).

    Sort ascending, cumulative softmax; drop tokens whose cumulative probability is
    <= 1 - top_p, but never the `min_tokens_to_keep` most likely. A Python float
    `top_p` computes `1 - top_p` in float64 like torch; a traced one in float32
    (`process_scores` passes the float64-computed threshold instead)."""
    return _top_p_with_threshold(scores, 1.0 - top_p, min_tokens_to_keep)


def _top_p_with_threshold(scores: jax.Array, threshold: jax.Array | float,
                          min_tokens_to_keep: int) -> jax.Array:
    """TopPLogitsWarper with the threshold 1 - top_p, without sorting the vocabulary.

    The tokens it drops are a prefix of the stable ascending order: every token
    below some probability p*, then the first (lowest-id) tokens tied at p* while
    the cumulative sum stays <= threshold. p* is found by bisection over the bit
    patterns of the (non-negative) float32 probabilities, which order like
    integers: 31 masked sums over the vocabulary (~1 ms at 50257 on CPU, where
    XLA's sort took ~10 ms a row). Where that would keep fewer than
    `min_tokens_to_keep` tokens in some row, the sorting version runs instead
    (`lax.cond`). The sums differ from a sorted cumsum only in float rounding."""
    rows, vocab = scores.shape
    probs = jax.nn.softmax(scores, axis=-1)
    bits = lax.bitcast_convert_type(probs, jnp.int32)
    thr = jnp.broadcast_to(jnp.asarray(threshold, jnp.float32), (rows,))

    def mass_below(b):
        return jnp.sum(jnp.where(bits < b[:, None], probs, 0.0), axis=-1)

    def halve(_, bounds):           # invariant: mass_below(lo) <= thr < mass_below(hi)
        lo, hi = bounds
        mid = lo + (hi - lo) // 2
        ok = mass_below(mid) <= thr
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    # hi: above +inf's bits (a bound no probability reaches); 31 halvings bring hi - lo to 1
    start = (jnp.zeros((rows,), jnp.int32), jnp.full((rows,), 0x7F800002, jnp.int32))
    cut, _ = lax.fori_loop(0, 31, halve, start)
    at_cut = bits == cut[:, None]
    rank = jnp.cumsum(at_cut.astype(jnp.int32), axis=-1).astype(jnp.float32)        # 1-based among ties
    p_cut = lax.bitcast_convert_type(cut, jnp.float32)[:, None]
    remove = (bits < cut[:, None]) | (at_cut & (mass_below(cut)[:, None] + rank * p_cut <= thr[:, None]))
    too_few = jnp.any(jnp.sum(~remove, axis=-1) < min(int(min_tokens_to_keep), vocab))
    return lax.cond(too_few, lambda: _top_p_sorted(scores, threshold, min_tokens_to_keep),
                    lambda: jnp.where(remove, NEG_INF, scores))


def _top_p_sorted(scores: jax.Array, threshold: jax.Array | float, min_tokens_to_keep: int) -> jax.Array:
    """TopPLogitsWarper as transformers computes it: stable ascending sort, cumulative softmax."""
    batch, vocab = scores.shape
    order = jnp.argsort(scores, axis=-1)                              # ascending, stable
    sorted_scores = jnp.take_along_axis(scores, order, axis=-1)
    cumulative = jnp.cumsum(jax.nn.softmax(sorted_scores, axis=-1), axis=-1)
    remove_sorted = cumulative <= threshold                           # [batch, vocab], sorted order
    keep_top = jnp.arange(vocab) >= vocab - min(int(min_tokens_to_keep), vocab)
    remove_sorted = remove_sorted & ~keep_top[None, :]
    remove = jnp.zeros_like(remove_sorted).at[jnp.arange(batch)[:, None], order].set(remove_sorted)
    return jnp.where(remove, NEG_INF, scores)


def _as_tuple(ids: int | Sequence[int]) -> tuple[int, ...]:
    return (int(ids),) if isinstance(ids, int) else tuple(int(i) for i in ids)


# --------------------------------------------------------------------- chain


def process_scores(scores: jax.Array, tokens: jax.Array, cur_len: jax.Array | int,
                   config: GenerationConfig, params: DynamicParams | None = None, *,
                   prompt_len: jax.Array | int, prompt_start: jax.Array | None = None,
                   num_beams: int = 1, warp: bool = True) -> jax.Array:
    """All processors `config` asks for, in transformers' order.

    scores: [rows, vocab] float32 (raw logits for greedy/sampling, log_softmax for
      beam search); tokens: [rows, max_len] int32, first `cur_len` columns written;
    config: static, with `max_length` / `min_length` already absolute
      (`GenerationConfig.resolve_lengths`); params: its dynamic values (default
      `config.dynamic`); prompt_len: transformers' input length (padded prompt or
      decoder start ids); prompt_start: [rows] first non-pad prompt column
      (repetition penalty only); num_beams: > 1 keeps n_eos + 1 tokens in the
      sampling warpers, as transformers does for beam sampling; warp: False leaves
      out the sampling warpers (temperature, top_k, top_p), which
      `jaxnlp.generation.search.draw_tokens` applies among its candidates.

    Temperature and repetition penalty are applied whatever their value (at 1.0
    they are exact identities), so changing them never recompiles; top_p runs
    when `config.uses_top_p` (top_p < 1, as transformers), its value traced.
    """
    if params is None:
        if config.is_static:
            raise ValueError("config is the static part of a split; pass params=config.dynamic")
        params = config.dynamic
    eos = config.eos_ids
    scores = scores.astype(jnp.float32)

    scores = apply_repetition_penalty(scores, tokens, cur_len, params.repetition_penalty, prompt_start)
    if config.no_repeat_ngram_size > 0:
        scores = ban_repeated_ngrams(scores, tokens, cur_len, config.no_repeat_ngram_size)
    if config.bad_words_ids is not None:
        scores = ban_bad_words(scores, tokens, cur_len, config.bad_words_ids, eos or None)
    if eos and config.min_length > 0:
        scores = enforce_min_length(scores, cur_len, config.min_length, eos)
    if eos and config.min_new_tokens is not None and config.min_new_tokens > 0:
        scores = enforce_min_new_tokens(scores, cur_len, prompt_len, config.min_new_tokens, eos)
    if config.forced_bos_token_id is not None:
        scores = force_bos(scores, cur_len, config.forced_bos_token_id)
    if config.forced_eos_token_id is not None:
        scores = force_eos(scores, cur_len, config.max_length, config.forced_eos_token_id)
    if config.suppress_tokens is not None:
        scores = suppress(scores, config.suppress_tokens)
    if config.begin_suppress_tokens is not None:
        # transformers: begin_index = input length, + 1 when that is 1 and a BOS is forced
        begin_index = jnp.asarray(prompt_len)
        if config.forced_bos_token_id is not None:
            begin_index = jnp.where(begin_index > 1, begin_index, begin_index + 1)
        scores = suppress_at_begin(scores, cur_len, begin_index, config.begin_suppress_tokens)

    if config.do_sample and warp:
        min_keep = (len(eos) + 1 if eos else 2) if num_beams > 1 else 1
        scores = scale_temperature(scores, params.temperature)
        if config.top_k != 0:
            scores = top_k_filter(scores, config.top_k, min_keep)
        if config.uses_top_p:
            scores = _top_p_with_threshold(scores, params.top_p_threshold, min_keep)
    return scores
