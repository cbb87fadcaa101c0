"""Marian (OPUS-MT): BART without `layernorm_embedding`, with computed
sinusoidal positions and optionally separate source/target vocabularies."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bart import seq2seq_architecture
from jaxnlp.models.bart.config import BartConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class MarianConfig(BartConfig):
    model_type = "marian"
    LAYERNORM_EMBEDDING = False
    POSITION_STYLE = "sinusoidal"
    SHIFT_STYLE = None

    decoder_vocab_size: int | None = None
    share_encoder_decoder_embeddings: bool = True
    pad_token_id: int | None = 58100
    bos_token_id: int | None = None
    eos_token_id: int | tuple | None = 0
    decoder_start_token_id: int | None = 58100
    forced_eos_token_id: int | tuple | None = 0

    @property
    def shared_embeddings(self) -> bool:
        return self.share_encoder_decoder_embeddings and self.tie_word_embeddings

    def options(self, **overrides):
        vocab = None if self.share_encoder_decoder_embeddings else self.decoder_vocab_size
        return super().options(decoder_vocab_size=vocab, **overrides)


@functools.cache
def architecture(model_type: str = "marian"):
    return seq2seq_architecture("marian", MarianConfig)
