"""Which transformers semantics the installed reference has.

The expected values in these tests are transformers 5.24's. Two processors
changed within 5.x, and an older 5.x (5.17 was seen) gives other answers:
- RepetitionPenaltyLogitsProcessor gained `prompt_ignore_length` (a tensor of
  left-padding lengths, which `generate` passes), so left padding is no longer
  penalised;
- NoBadWordsLogitsProcessor checks a multi-token word once its *prefix* fits in
  the context (before: once the whole word did).
Tests that depend on these are skipped against an older reference.
"""

import inspect

import pytest
import torch
from transformers.generation import logits_process as hf


def _ignores_left_padding() -> bool:
    if "prompt_ignore_length" not in inspect.signature(hf.RepetitionPenaltyLogitsProcessor.__init__).parameters:
        return False
    try:
        hf.RepetitionPenaltyLogitsProcessor(1.5, prompt_ignore_length=torch.tensor([1]))
    except (TypeError, ValueError):
        return False
    return True


def _bad_words_prefix_fits() -> bool:
    scores = hf.NoBadWordsLogitsProcessor([[0, 2]])(torch.tensor([[0]]), torch.zeros((1, 3)))
    return bool(torch.isinf(scores[0, 2]))


HF_IGNORES_LEFT_PADDING = _ignores_left_padding()
HF_BAD_WORDS_PREFIX_FITS = _bad_words_prefix_fits()

needs_padding_aware_repetition_penalty = pytest.mark.skipif(
    not HF_IGNORES_LEFT_PADDING, reason="reference transformers penalises left padding (older 5.x)")
needs_prefix_bad_words = pytest.mark.skipif(
    not HF_BAD_WORDS_PREFIX_FITS, reason="reference transformers matches bad words differently (older 5.x)")
