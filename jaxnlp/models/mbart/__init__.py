"""mBART: BART with pre-norm layers and final encoder/decoder `layer_norm`."""

from __future__ import annotations

import dataclasses
import functools

from jaxnlp.models.bart import seq2seq_architecture
from jaxnlp.models.bart.config import BartConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class MBartConfig(BartConfig):
    model_type = "mbart"
    PRE_NORM = True
    SHIFT_STYLE = "mbart"          # default decoder inputs: the language id wraps to the front

    decoder_start_token_id: int | None = None


@functools.cache
def architecture(model_type: str = "mbart"):
    return seq2seq_architecture("mbart", MBartConfig)
