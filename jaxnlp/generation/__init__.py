"""Text generation that knows no model: GenerationConfig, logits processors
(pure jnp functions) and greedy / sampling / beam search as lax.while_loop
programs over a `step_fn(tokens, cache, step) -> (logits, cache)`.
"""

from jaxnlp.generation.config import DYNAMIC_FIELDS, DynamicParams, FrozenMapping, GenerationConfig
from jaxnlp.generation.processors import (
    apply_repetition_penalty,
    ban_bad_words,
    ban_repeated_ngrams,
    enforce_min_length,
    enforce_min_new_tokens,
    force_bos,
    force_eos,
    process_scores,
    scale_temperature,
    suppress,
    suppress_at_begin,
    top_k_filter,
    top_p_filter,
)
from jaxnlp.generation.search import (
    BeamState,
    SamplingState,
    SearchOutput,
    StepFn,
    add_beam_dim,
    beam_search,
    flatten_beam_dim,
    gather_beams,
    greedy_search,
    sample,
    search,
    unflatten_beam_dim,
)

# --- model-level entry point: the decoder protocol + `search`, one jitted program
from jaxnlp.generation.api import enable_compilation_cache, generate, generation_config_for  # noqa: E402

__all__ = [
    "generate",
    "enable_compilation_cache",
    "generation_config_for",
    "GenerationConfig",
    "DynamicParams",
    "FrozenMapping",
    "DYNAMIC_FIELDS",
    # processors
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
    # searches
    "StepFn",
    "SearchOutput",
    "SamplingState",
    "BeamState",
    "greedy_search",
    "sample",
    "beam_search",
    "search",
    "add_beam_dim",
    "flatten_beam_dim",
    "unflatten_beam_dim",
    "gather_beams",
]
