"""Pegasus: pre-norm BART with final `layer_norm`s, computed sinusoidal
positions and no `layernorm_embedding`."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bart import seq2seq_architecture
from jaxnlp.models.bart.config import BartConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class PegasusConfig(BartConfig):
    model_type = "pegasus"
    PRE_NORM = True
    LAYERNORM_EMBEDDING = False
    POSITION_STYLE = "sinusoidal"
    SHIFT_STYLE = None

    pad_token_id: int | None = 0
    bos_token_id: int | None = None
    eos_token_id: int | tuple | None = 1
    decoder_start_token_id: int | None = 0
    forced_eos_token_id: int | tuple | None = 1


@functools.cache
def architecture(model_type: str = "pegasus"):
    return seq2seq_architecture("pegasus", PegasusConfig)
