"""M2M100: pre-norm BART with final `layer_norm`s, fairseq sinusoidal
positions counted over real tokens (like RoBERTa's), and no final logits bias."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bart import seq2seq_architecture
from jaxnlp.models.bart.config import BartConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class M2M100Config(BartConfig):
    model_type = "m2m_100"
    PRE_NORM = True
    LAYERNORM_EMBEDDING = False
    POSITION_STYLE = "fairseq"
    FINAL_LOGITS_BIAS = False
    SHIFT_STYLE = None

    activation_function: str = "relu"
    attention_dropout: float = 0.1
    scale_embedding: bool = True
    encoder_layerdrop: float = 0.05
    decoder_layerdrop: float = 0.05
    forced_eos_token_id: int | tuple | None = None


@functools.cache
def architecture(model_type: str = "m2m_100"):
    return seq2seq_architecture("m2m_100", M2M100Config)
